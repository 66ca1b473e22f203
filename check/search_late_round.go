package check

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// injectLateRounds makes a proposer's next phase arrive late, after a
// rival took over with a quorum that left the proposer out, up to 3 to 22
// times per run (with probability 0.2 to 0.8 per step that qualifies, one
// at a time, 10 to 60 ms apart):
//
//  1. A replica A that moves a round on (see advances: it gathered a
//     quorum and starts its next phase) has every link out of it held
//     (sim.Hold: what it sends waits at the link, nothing is lost) and, in
//     three events of four, hears nobody (what its peers send it is lost);
//     in half of them the peer whose answer completed A's quorum and a
//     replica B are cut off from each other; B has its clock run ahead
//     until a timeout fires (fireTimeout), so that B opens a round of its
//     own over a quorum without A.
//  2. When F peers (a quorum with B) answered what B sent in that step,
//     persisting something (a promise), A's backlog leaves 0 to 3 ms later
//     and A hears its peers again: A's older round reaches replicas that
//     promised B's, racing B's next phase.
//  3. When A then announces a decision (within 50 to 300 ms), nobody hears
//     that step and A is cut off both ways for 50 to 300 ms, so that B's
//     round goes on without learning it.
//
// Everything held is released, and A hears again, 100 to 400 ms after
// step 1 if step 2 never came. A replica that checks an old round against
// the last round it voted in, instead of the last it promised, takes A's
// late phase and lets both A and B decide. Nothing here names a message
// type: the steps are judged by who moves a round on, whose timeout fires,
// who answers it and who announces a decision. It needs clocks that may
// jump (no leader leases), runs alone (see lateAlone) and draws from its
// own random stream.
func injectLateRounds(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x6c617465726f756e))
	if n < 3 || !e.clockJumps {
		return
	}
	ms := time.Millisecond
	p := 0.2 + 0.6*rng.Float64()
	budget := 3 + rng.IntN(20)
	f := (n - 1) / 2
	type event struct {
		a, b     int
		deaf     []link
		done     bool
		req      []any // what B sent when its timeout fired
		answered []bool
		need     int
		firing   bool // B's clock runs ahead
	}
	var cur *event
	var quietUntil time.Duration
	mute, muteUntil := -1, time.Duration(0)
	e.watchJumps()
	finish := func(ev *event, after time.Duration) {
		if ev.done {
			return
		}
		ev.done = true
		if cur == ev {
			cur = nil
			quietUntil = s.Now() + dur(rng, 10*ms, 60*ms)
		}
		for q := 0; q < n; q++ {
			_ = s.Release(paxos.NodeID(ev.a), paxos.NodeID(q), after)
		}
		deaf := ev.deaf
		s.At(s.Now()+after, func() { e.heal(deaf) })
		mute, muteUntil = ev.a, s.Now()+dur(rng, 50*ms, 300*ms)
	}
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if e.down[id] {
			return
		}
		if id == mute && s.Now() < muteUntil && announces(o.Ready) {
			// (3) A decided: nobody hears it, and A is cut off a while.
			mute = -1
			var all []link
			for q := 0; q < n; q++ {
				all = append(all, link{id, q})
			}
			lost := e.cut(all)
			s.At(s.Now(), func() {
				e.heal(lost)
				var both []link
				for q := 0; q < n; q++ {
					both = append(both, link{id, q}, link{q, id})
				}
				off := e.cut(both)
				s.At(min(window, s.Now()+dur(rng, 50*ms, 300*ms)), func() { e.heal(off) })
			})
		}
		if ev := cur; ev != nil {
			switch {
			case id == ev.b && ev.firing && firesTimeout(o):
				for i := range o.Ready.Messages {
					ev.req = append(ev.req, o.Ready.Messages[i].Body)
				}
			case id != ev.b && ev.req != nil && !ev.answered[id] && answersAlone(o) && len(o.Ready.Persist) > 0 && int(o.Input.From) == ev.b && sentAny(ev.req, o.Input.Body):
				// (2) B's quorum answered B's round: A's older round
				// leaves now.
				ev.answered[id] = true
				if ev.need--; ev.need == 0 {
					finish(ev, upTo(rng, 3*ms))
				}
			}
			return
		}
		if budget == 0 || s.Now() >= window || s.Now() < quietUntil || !advances(o) || rng.Float64() >= p {
			return
		}
		// (1) A's next phase waits at its links; B takes over without A.
		var bs []int
		for _, q := range rng.Perm(n) {
			if q != id && !e.down[q] {
				bs = append(bs, q)
			}
		}
		if len(bs) == 0 {
			return
		}
		budget--
		ev := &event{a: id, b: bs[0], answered: make([]bool, n), need: f}
		cur = ev
		e.counts.partitions++
		for q := 0; q < n; q++ {
			_ = s.Hold(paxos.NodeID(id), paxos.NodeID(q))
		}
		if rng.IntN(4) != 0 {
			var in []link
			for q := 0; q < n; q++ {
				in = append(in, link{q, id})
			}
			ev.deaf = e.cut(in)
		}
		if z := int(o.Input.From); z != ev.b && rng.IntN(2) == 0 {
			// The peer whose answer moved A's round on stays out of B's
			// quorum: B's round meets only what the others hold.
			ev.deaf = append(ev.deaf, e.cut([]link{{z, ev.b}, {ev.b, z}})...)
		}
		s.At(s.Now()+upTo(rng, 5*ms), func() {
			ev.firing = true
			e.fireTimeout(ev.b)
			ev.firing = false
		})
		s.At(min(window, s.Now()+dur(rng, 100*ms, 400*ms)), func() { finish(ev, 0) })
	})
}

// sentAny reports whether body is one of reqs (by value).
func sentAny(reqs []any, body any) bool {
	return slices.ContainsFunc(reqs, func(b any) bool { return reflect.DeepEqual(b, body) })
}

// lateAlone replaces, in one run in lateShare without leader leases whose
// faults include the recovery faults, the run's injectors with the late
// rounds alone (see injectLateRounds), whose two steps the other faults'
// crashes and cuts would break. It draws from its own random stream, so
// the other runs of a seed stay what they were.
func lateAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	if !moreQuietRuns || leaseTicks > 0 || n < 3 || !has[FaultRecovery] || len(on) == 0 {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x6c617465616c6e)).IntN(lateShare) != 0 {
		return on
	}
	return []injector{{FaultRecovery, injectLateRounds}}
}

// lateShare: lateAlone takes one run in this many.
const lateShare = 8
