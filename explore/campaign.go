package explore

import (
	"math/rand/v2"
	"slices"

	"github.com/paxos-lab/paxos"
)

// Campaign walks: at N >= 5, half of the walks from scratch begin with a
// fixed composition of macro moves (macro.go), the shape of the randomized
// checker's recovery campaigns, with every target and variation drawn at
// random:
//
//  1. a replica L is proposed a command and its broadcast is torn: one
//     addressee K alone gets it; L crashes losing the rest, and restarts;
//  2. K is cut off for the rest of the walk (it keeps a copy nobody else
//     has), in most walks;
//  3. L's clock fires; what it sends reaches one peer alone, and L goes
//     down again (in some walks, it does not);
//  4. one or two survivors' clocks fire and the running replicas run on
//     their own (they act on what L left behind, without L and K);
//  5. L restarts and runs with them, and is rebooted the moment it learns
//     a decision (in most walks);
//  6. another replica G is proposed a command and runs with L and part of
//     the others, and crashes the moment it decides, losing what it sent;
//  7. L crashes (in most walks);
//  8. K is let back in; its clock fires and the running replicas run
//     with it, its clock ahead, half the time about one instance only.
//
// A step that does not apply (no command left, a replica that cannot
// crash) is skipped; the walk then goes on with random episodes. The
// steps are episodes of the walk, so the archive keeps the states they
// reach like any other. Nothing here names a protocol, a message type or
// a bug: it composes faults on the network, the clocks and the replicas.

// campaignP is the chance that a walk from scratch is a campaign walk
// (at N >= 5 only: a campaign takes two replicas down at once, which a
// smaller cluster does not allow, as the checker runs its campaigns at
// N = 5).
const campaignP = 0.5

// campaign is a campaign walk's state.
type campaign struct {
	rng     *rand.Rand
	step    int
	l, k, g paxos.NodeID
	isolate bool // step 2 happens
	down3   bool // L goes down in step 3
	bounce  bool // step 5 reboots L when it decides
	crashL  bool // step 7 happens
}

const campaignSteps = 8

func newCampaign(seed uint64) *campaign {
	r := rand.New(rand.NewPCG(seed, 0x63616d70))
	return &campaign{rng: r, l: -1, k: -1, g: -1,
		isolate: r.IntN(8) != 0, down3: r.IntN(4) != 0, bounce: r.IntN(8) != 0, crashL: r.IntN(8) != 0}
}

// nextCampaign carries out the campaign's next step; it reports false
// when the walk must stop.
func (e *episodes) nextCampaign(w *world, do func(Action) bool) bool {
	c := e.camp
	rng := c.rng
	c.step++
	if c.step > campaignSteps {
		e.camp = nil
		return true
	}
	ups, _, open := w.choices()
	running := func(not ...paxos.NodeID) []paxos.NodeID {
		return slices.DeleteFunc(slices.Clone(ups), func(id paxos.NodeID) bool {
			return slices.Contains(not, id) || !e.inScope(id)
		})
	}
	switch c.step {
	case 1:
		if len(open) == 0 || len(ups) < 2 {
			e.camp = nil
			return true
		}
		c.l = ups[rng.IntN(len(ups))]
		before := outgoing(w, c.l)
		if !do(Action{Kind: Propose, Replica: c.l, Command: open[rng.IntN(len(open))]}) {
			return false
		}
		sent := batch(w, c.l, before)
		if len(sent) == 0 {
			e.camp = nil
			return true
		}
		c.k = sent[rng.IntN(len(sent))].m.To
		for _, p := range sent {
			if p.m.To == c.k && w.findKey(p.key) >= 0 && !do(Action{Kind: Deliver, Msg: p.m, key: p.key}) {
				return false
			}
		}
		return do(Action{Kind: Crash, Replica: c.l, Outbox: true}) && do(Action{Kind: Restart, Replica: c.l})
	case 2:
		if c.isolate {
			e.cutOff(int(c.k))
		}
	case 3:
		if w.reps[c.l] == nil {
			return true
		}
		sent, ok := fire(w, c.l, 24, do)
		if !ok {
			return false
		}
		var to []paxos.NodeID
		for _, p := range sent {
			if p.m.To != c.k && !slices.Contains(to, p.m.To) {
				to = append(to, p.m.To)
			}
		}
		if len(to) > 0 {
			x := to[rng.IntN(len(to))]
			for _, p := range sent {
				if p.m.To == x && w.findKey(p.key) >= 0 && !do(Action{Kind: Deliver, Msg: p.m, key: p.key}) {
					return false
				}
			}
		}
		if c.down3 {
			return do(Action{Kind: Crash, Replica: c.l, Outbox: true})
		}
	case 4:
		rs := running(c.l, c.k)
		if len(rs) == 0 {
			return true
		}
		for range 1 + rng.IntN(2) {
			if _, ok := fire(w, rs[rng.IntN(len(rs))], 24, do); !ok {
				return false
			}
		}
		r := e.together(w, rs)
		r.in[c.l] = false
		return e.runWith(w, r, do)
	case 5:
		if w.reps[c.l] == nil && !do(Action{Kind: Restart, Replica: c.l}) {
			return false
		}
		if w.reps[c.l] == nil {
			return true
		}
		rs := running(c.k)
		if len(rs) == 0 {
			return true
		}
		r := e.together(w, rs)
		r.in[c.l] = true
		if c.bounce {
			r.watch, r.reboot = int(c.l)+1, true
		}
		return e.runWith(w, r, do)
	case 6:
		gs := running(c.l, c.k)
		if len(gs) == 0 || len(open) == 0 || w.reps[c.l] == nil {
			return true
		}
		c.g = gs[rng.IntN(len(gs))]
		if !do(Action{Kind: Propose, Replica: c.g, Command: open[rng.IntN(len(open))]}) {
			return false
		}
		r := e.plan(w, gs)
		for i := range r.in {
			r.in[i] = false
		}
		r.in[c.g], r.in[c.l] = true, true
		for _, id := range gs {
			if rng.IntN(2) == 0 {
				r.in[id] = true
			}
		}
		r.steps, r.ticks = episodeCap, 8
		r.watch, r.reboot = int(c.g)+1, false
		return e.runWith(w, r, do)
	case 7:
		if c.crashL && w.reps[c.l] != nil {
			return do(Action{Kind: Crash, Replica: c.l, Outbox: rng.IntN(2) == 0})
		}
	case 8:
		if e.scope != nil && int(c.k) < len(e.scope) {
			e.scope[c.k] = true
		}
		if w.reps[c.k] == nil {
			return true
		}
		if _, ok := fire(w, c.k, 24, do); !ok {
			return false
		}
		rs := running()
		if len(rs) == 0 {
			return true
		}
		r := e.together(w, rs)
		r.in[c.k] = true
		r.fast = int(c.k)
		if len(e.topics) > 0 && rng.IntN(2) == 0 {
			r.focus, r.focused = e.topics[rng.IntN(len(e.topics))], true
		}
		return e.runWith(w, r, do)
	}
	return true
}

// together plans a run of every replica in rs (not empty), for up to 16
// tick actions and not cut short.
func (e *episodes) together(w *world, rs []paxos.NodeID) runPlan {
	r := e.plan(w, rs)
	for _, id := range rs {
		r.in[id] = true
	}
	r.steps, r.ticks = episodeCap, 16
	return r
}
