package explore

import (
	"math/rand/v2"
	"slices"

	"github.com/paxos-lab/paxos"
)

// Macro moves: episodes composed of the primitive actions in the shapes
// that fault scenarios take, so that a walk makes in one draw a move that
// would otherwise need several unlikely draws in a row. Each is stated by
// what it does to the network, the clocks and the replicas, never by a
// message type or a protocol:
//
//   - tear a broadcast: a replica's next outgoing batch (what it sends when
//     proposed a command, or when its clock fires) reaches one of its
//     addressees only; the replica then often crashes losing the rest
//     (perhaps restarting at once), or the rest is lost, or stays late;
//   - isolate a replica for the rest of the walk: every message to or from
//     it stays in flight, late (often the replica whose copy of some
//     instance the fewest others share: a lone or stale copy stays so);
//   - run a group and crash a member right after it reports a decision,
//     losing what it sent (nobody else hears of it), or crash and restart
//     it at once (it restarts right after it persisted what it learned);
//   - reboot again the replica that restarted last;
//   - hurry a replica: tick it alone until it sends something of its own
//     (a timeout fired: it starts a retry or a recovery), then run a
//     group with it, its clock ahead, half the time about one instance
//     only (the other instances' messages stay late).
//
// Half of the walks draw no macro move at all (their episodes are drawn
// exactly as without them); the others draw a weight per macro kind, from
// a random source of their own.

// The macro episode kinds, after the primitive ones.
const (
	epTear    = numEps + iota // tear a broadcast
	epIsolate                 // isolate one replica for the rest of the walk
	epWatch                   // run a group; crash (or reboot) a member when it decides
	epAgain                   // reboot the replica that restarted last
	epHurry                   // fire one replica's timeout, then run a group with it
	numKindsAll
)

// macroP is the chance that a walk draws macro moves at all; isoWalkP the
// chance that such a walk isolates a replica from its first episode.
const macroP, isoWalkP = 0.5, 0.3

// macros is one walk's macro weights and state.
type macros struct {
	on     bool
	kind   [numKindsAll - numEps]float64
	isoNow bool // isolate a replica at the walk's first episode
	isoSet bool // a replica was isolated in this walk
}

func newMacros(seed uint64) macros {
	r := rand.New(rand.NewPCG(seed, 0x6d616372))
	var m macros
	if r.Float64() >= macroP {
		return m
	}
	m.on = true
	pick := func(xs ...float64) float64 { return xs[r.IntN(len(xs))] }
	m.kind[epTear-numEps] = pick(0, 0.5, 1, 2)
	m.kind[epIsolate-numEps] = pick(0, 0.25, 0.5)
	m.kind[epWatch-numEps] = pick(0, 0.5, 1, 2)
	m.kind[epAgain-numEps] = pick(0, 0.25, 0.5, 1)
	m.kind[epHurry-numEps] = pick(0, 0.5, 1, 2)
	m.isoNow = r.Float64() < isoWalkP
	return m
}

// macroWeights adds the weights of the macro kinds that apply in w.
func (e *episodes) macroWeights(w *world, wt []float64, active, ups []paxos.NodeID, open []int) {
	m := &e.mac
	if !m.on {
		return
	}
	c := w.cfg
	canCrash := w.down < c.MaxDown && w.crashes < c.MaxCrashes
	if len(active) > 0 {
		wt[epTear] = m.kind[epTear-numEps]
		if wt[epTear] > 0 && len(open) > 0 && sumProposed(w) == 0 {
			wt[epTear] += 4 // a walk's first command, torn
		}
		wt[epWatch] = m.kind[epWatch-numEps]
		wt[epHurry] = m.kind[epHurry-numEps]
	}
	if !m.isoSet && len(w.reps) > 2 {
		wt[epIsolate] = m.kind[epIsolate-numEps]
	}
	if canCrash && w.lastRestart >= 0 && w.reps[w.lastRestart] != nil {
		wt[epAgain] = m.kind[epAgain-numEps]
	}
}

// macro carries out macro episode kind k.
func (e *episodes) macro(k int, w *world, active, ups []paxos.NodeID, open []int, do func(Action) bool) bool {
	switch k {
	case epTear:
		return e.tear(w, active, open, do)
	case epIsolate:
		e.isolate(w)
		return true
	case epWatch:
		return e.watch(w, active, open, do)
	case epAgain:
		id := paxos.NodeID(w.lastRestart)
		return do(Action{Kind: Crash, Replica: id, Outbox: e.rng.Float64() < e.outbox}) && do(Action{Kind: Restart, Replica: id})
	case epHurry:
		return e.hurry(w, active, do)
	}
	return true
}

// outgoing returns the keys of the messages from replica id in flight.
func outgoing(w *world, id paxos.NodeID) map[string]bool {
	out := map[string]bool{}
	for _, p := range w.pending {
		if p.m.From == id {
			out[p.key] = true
		}
	}
	return out
}

// batch returns the messages from id in flight that are not in before:
// what id sent since.
func batch(w *world, id paxos.NodeID, before map[string]bool) []inflight {
	var out []inflight
	for _, p := range w.pending {
		if p.m.From == id && !before[p.key] {
			out = append(out, p)
		}
	}
	return out
}

// fire ticks replica id alone, one tick action at a time, until it sends
// something new (a timeout fired), at most limit tick actions. It returns
// what it sent and whether the walk may go on.
func fire(w *world, id paxos.NodeID, limit int, do func(Action) bool) ([]inflight, bool) {
	before := outgoing(w, id)
	for k := 0; k < limit; k++ {
		if w.reps[id] == nil {
			return nil, true
		}
		if !do(Action{Kind: Tick, Replica: id}) {
			return nil, false
		}
		if b := batch(w, id, before); len(b) > 0 {
			return b, true
		}
	}
	return nil, true
}

// tear sends one replica's next batch (a proposal's, or its clock's) to
// one of its addressees only.
func (e *episodes) tear(w *world, active []paxos.NodeID, open []int, do func(Action) bool) bool {
	rng := e.rng
	s := active[rng.IntN(len(active))]
	before := outgoing(w, s)
	var sent []inflight
	if len(open) > 0 && (sumProposed(w) == 0 || rng.IntN(3) != 0) {
		if !do(Action{Kind: Propose, Replica: s, Command: open[rng.IntN(len(open))]}) {
			return false
		}
		sent = batch(w, s, before)
	} else {
		var ok bool
		if sent, ok = fire(w, s, 16, do); !ok {
			return false
		}
	}
	var to []paxos.NodeID
	for _, p := range sent {
		if e.inScope(p.m.To) && !slices.Contains(to, p.m.To) {
			to = append(to, p.m.To)
		}
	}
	if len(to) == 0 {
		return true
	}
	k := to[rng.IntN(len(to))]
	for _, p := range sent {
		if p.m.To == k && w.findKey(p.key) >= 0 {
			if !do(Action{Kind: Deliver, Msg: p.m, key: p.key}) {
				return false
			}
		}
	}
	switch rng.IntN(4) {
	case 0, 1: // the sender crashes, losing the rest; half the time it restarts at once
		if !do(Action{Kind: Crash, Replica: s, Outbox: true}) {
			return false
		}
		if rng.IntN(2) == 0 {
			return do(Action{Kind: Restart, Replica: s})
		}
	case 2: // the rest is lost
		for _, p := range sent {
			if p.m.To != k && w.findKey(p.key) >= 0 && w.drops < w.cfg.MaxDrops {
				if !do(Action{Kind: Drop, Msg: p.m, key: p.key}) {
					return false
				}
			}
		}
	}
	return true // else the rest stays late
}

// isolate cuts one replica off for the rest of the walk: runs, partial
// deliveries, tears and proposals leave it out. Three times in four it is
// a replica whose copy of some instance it does not lead the fewest
// replicas share (a lone copy, or a stale one), else one at random.
func (e *episodes) isolate(w *world) {
	n := len(w.reps)
	x := -1
	if e.rng.IntN(4) != 0 {
		if c := loneHolders(w); len(c) > 0 {
			x = c[e.rng.IntN(len(c))]
		}
	}
	if x < 0 {
		x = e.rng.IntN(n)
	}
	e.cutOff(x)
}

// cutOff takes replica x out of the walk's scope, if at least two
// replicas stay in it.
func (e *episodes) cutOff(x int) {
	e.mac.isoSet = true
	if e.scope == nil {
		e.scope = make([]bool, e.n)
		for i := range e.scope {
			e.scope[i] = true
		}
	}
	left := 0
	for i, in := range e.scope {
		if in && i != x {
			left++
		}
	}
	if left >= 2 {
		e.scope[x] = false
	}
}

// loneHolders lists the replicas holding a copy of an instance they do not
// lead that the fewest replicas share (counting the holder: how many hold
// a record with the same commands' kinds).
func loneHolders(w *world) []int {
	if w.recs == nil {
		return nil
	}
	best, out := 1<<30, []int(nil)
	for k, ks := range w.recs {
		if ks == "" || int(k.in.Replica) == k.replica {
			continue
		}
		agree := 0
		for r := range w.reps {
			if w.recs[recKey{r, k.in}] == ks {
				agree++
			}
		}
		switch {
		case agree < best:
			best, out = agree, []int{k.replica}
		case agree == best && !slices.Contains(out, k.replica):
			out = append(out, k.replica)
		}
	}
	slices.Sort(out)
	return out
}

// watch runs a group holding a chosen member and, the moment that member
// reports a decision, crashes it: losing what it sent (nobody hears of
// the decision from it), or rebooting it at once (it restarts right after
// it persisted what it learned).
func (e *episodes) watch(w *world, active []paxos.NodeID, open []int, do func(Action) bool) bool {
	rng := e.rng
	t := active[rng.IntN(len(active))]
	if len(open) > 0 && rng.IntN(2) == 0 {
		// Proposed a command first: it decides what it proposed.
		if !do(Action{Kind: Propose, Replica: t, Command: open[rng.IntN(len(open))]}) {
			return false
		}
	}
	r := e.plan(w, active)
	r.in[t] = true
	r.watch = int(t) + 1
	r.reboot = rng.IntN(2) == 0
	r.steps = episodeCap
	return e.runWith(w, r, do)
}

// hurry fires one replica's timeout (it ticks alone until it sends
// something of its own), then runs a group holding it with its clock
// ahead.
func (e *episodes) hurry(w *world, active []paxos.NodeID, do func(Action) bool) bool {
	rng := e.rng
	t := active[rng.IntN(len(active))]
	if _, ok := fire(w, t, 24, do); !ok {
		return false
	}
	if w.reps[t] == nil {
		return true
	}
	r := e.plan(w, active)
	r.in[t] = true
	r.fast = int(t)
	r.steps = episodeCap
	if len(e.topics) > 0 && rng.IntN(2) == 0 {
		// One instance at a time: the others' messages stay late.
		r.focus, r.focused = e.topics[rng.IntN(len(e.topics))], true
	}
	return e.runWith(w, r, do)
}
