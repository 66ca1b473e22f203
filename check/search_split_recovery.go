package check

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// splitTrace, when set (by a test), sees every output of a run with split
// recoveries together with the roles drawn: the command leader, the lower
// recoverer and the higher one.
var splitTrace func(o sim.Output, l, lo, hi, phase int)

// injectSplitRecoveries composes two recoveries of one instance from the
// two sides of a split, with the instance's command leader L as the only
// bridge, around a quiet key (puts on a key of its own that no client
// touches). Three replicas are drawn and given roles by ballot order
// (ballots of one round are ordered by replica): L the lowest, the lower
// recoverer lo, the higher recoverer hi; the others join lo's or hi's
// side. Timings are drawn per run:
//
//  1. the split: the two sides are cut off from each other both ways for
//     2 to 2.5 s; L hears both;
//  2. the stalled command: L is proposed a command γ and crashes right
//     after that step, for 20 to 150 ms; meanwhile each side is proposed a
//     command on the same key, and hi, then lo (in either order), have
//     their clocks run ahead until a timeout fires (fireTimeout), so that
//     both recover what L left behind; what hi's side sends L meanwhile is
//     held back by up to L's downtime plus 30 to 200 ms, what lo's side
//     sends by that plus 100 to 800 ms (most of it arrives after L is
//     back, hi's before lo's);
//  3. the leader's own round: L comes back, its messages reaching hi's
//     side only, and its clock runs ahead at once: its round meets hi's
//     side, which has moved to a higher ballot;
//  4. the restart: L is bounced (crash, restart 0 to 3 ms later) right
//     after it answers alone, persisting nothing, a message hi sent when
//     a timeout of its own fired (compared by value); then L's messages
//     reach lo's side again, lo's side is no longer held back, hi's side
//     is held back by up to 100 to 800 ms for that long, and in half the
//     runs lo's clock runs ahead once more;
//  5. the unheard decision: when lo announces a decision holding γ, that
//     step is heard by nobody.
//
// Nothing here names a message type: a step is judged by who takes it,
// whom it answers, what it persists and what it reports decided. It
// proposes only in runs of the key-value workload and needs clocks that
// may jump (no leader leases). It draws from its own random stream.
//
// It is not in the injectors' table: alone it catches
// epaxos/volatile-promise at N = 3 in about 2 of 500 seeds and at N = 5
// in about 1 of 1,000 (see TestDevSplitChain for where the chain stops),
// too rarely to survive sharing the runs with the other injectors.
func injectSplitRecoveries(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x73706c6974726563))
	if n < 3 || !e.clockJumps {
		return
	}
	ms := time.Millisecond
	start := dur(rng, 10*ms, 200*ms)
	down1 := dur(rng, 20*ms, 150*ms)
	hold1 := dur(rng, 30*ms, 200*ms)
	hold2 := dur(rng, 100*ms, 800*ms)
	splitFor := dur(rng, 2000*ms, 2500*ms)
	// Three replicas, by ballot order (ballots of one round are ordered
	// by replica): L the lowest, then lo, then hi. The rest join the two
	// sides.
	perm := rng.Perm(n)
	three := slices.Clone(perm[:3])
	slices.Sort(three)
	l, lo, hi := three[0], three[1], three[2]
	sideLo, sideHi := []int{lo}, []int{hi}
	for _, q := range perm[3:] {
		if len(sideLo) <= len(sideHi) {
			sideLo = append(sideLo, q)
		} else {
			sideHi = append(sideHi, q)
		}
	}
	fireLo := rng.IntN(2) == 0
	var hiToL, loToL []link
	for _, q := range sideHi {
		hiToL = append(hiToL, link{q, l})
	}
	for _, q := range sideLo {
		loToL = append(loToL, link{q, l})
	}
	between2 := func(from int, to []int) []link {
		var ls []link
		for _, q := range to {
			ls = append(ls, link{from, q})
		}
		return ls
	}
	between := func(a, b []int) []link {
		var ls []link
		for _, x := range a {
			for _, y := range b {
				ls = append(ls, link{x, y}, link{y, x})
			}
		}
		return ls
	}
	key := "split-recovery"
	next := uint64(0)
	var gammaID uint64
	propose := func(at int) uint64 {
		if e.down[at] || !s.Alive(paxos.NodeID(at)) || s.Now() >= window {
			return 0
		}
		next++
		cmd := paxos.Command{Client: 1<<61 + e.seed<<8 + next, Seq: 1, Op: paxos.OpPut, Key: key, Value: fmt.Sprintf("s%d", next)}
		if s.Propose(paxos.NodeID(at), cmd) != nil {
			return 0
		}
		return cmd.Client
	}
	hold := func(links []link, d time.Duration) {
		setLinks(s, links, sim.Faults{Reorder: 1, ReorderDelay: d})
	}
	release := func(links []link) { setLinks(s, links, sim.Faults{}) }

	const (
		idle      = iota // waiting for the start and a client's get or put
		stalling         // γ proposed at L: crash L after its step
		answering        // L bounces once it answers hi alone
		lower            // lo recovers after L's restart
		done
	)
	phase := idle
	started := false
	var split, lOut []link
	var opened []any // what hi sent L in steps that started a round of its own
	s.At(start, func() { started = true })
	e.watchJumps()
	e.observers = append(e.observers, func(o sim.Output) {
		if splitTrace != nil {
			splitTrace(o, l, lo, hi, phase)
		}
		id := int(o.Replica)
		rd := o.Ready
		if id == hi && phase == answering && firesTimeout(o) {
			for i := range rd.Messages {
				if int(rd.Messages[i].To) == l {
					opened = append(opened, rd.Messages[i].Body)
				}
			}
		}
		switch phase {
		case idle:
			if o.Proposed != nil && o.Proposed.Op != paxos.OpGet && o.Proposed.Op != paxos.OpPut {
				phase = done
				return
			}
			if !started || o.Proposed == nil || s.Now() >= window {
				return
			}
			phase = stalling
			s.At(s.Now(), func() {
				split = e.cut(between(sideLo, sideHi))
				s.At(s.Now()+splitFor, func() { e.heal(split) })
				if gammaID = propose(l); gammaID == 0 {
					phase = done
				}
			})
		case stalling:
			if id != l || o.Proposed == nil || o.Proposed.Client != gammaID {
				return
			}
			phase = answering
			s.At(s.Now(), func() {
				if !e.crash(l) {
					phase = done
					return
				}
				// What either side sends L while it is down arrives, mostly,
				// after it is back: the higher side's soon, the lower
				// side's later.
				hold(hiToL, down1+hold1)
				hold(loToL, down1+hold1+hold2)
				s.At(s.Now()+upTo(rng, 5*ms), func() {
					propose(lo)
					propose(hi)
				})
				// Both sides recover what L left behind, against each
				// other, while L is down.
				s.At(s.Now()+down1/4+upTo(rng, down1/2), func() { e.fireTimeout(hi) })
				s.At(s.Now()+down1/4+upTo(rng, down1/2), func() { e.fireTimeout(lo) })
				s.At(s.Now()+down1, func() {
					// L's own round reaches the higher side only.
					lOut = e.cut(between2(l, sideLo))
					e.restart(l)
					s.At(s.Now()+upTo(rng, 3*ms), func() { e.fireTimeout(l) })
				})
			})
		case answering:
			if id != l || o.Input == nil || int(o.Input.From) != hi || !answersAlone(o) || len(rd.Persist) > 0 ||
				!slices.ContainsFunc(opened, func(b any) bool { return reflect.DeepEqual(b, o.Input.Body) }) {
				return
			}
			phase = lower
			s.At(s.Now(), func() {
				if !e.crash(l) {
					phase = done
					return
				}
				s.At(s.Now()+upTo(rng, 3*ms), func() {
					e.restart(l)
					e.heal(lOut)
					release(loToL)
					hold(hiToL, hold2)
					s.At(s.Now()+hold2, func() { release(hiToL) })
					if fireLo {
						s.At(s.Now()+upTo(rng, 10*ms), func() { e.fireTimeout(lo) })
					}
				})
			})
		case lower:
			if id == lo && announces(rd) && decides(rd, gammaID) {
				phase = done
				var all []link
				for q := 0; q < n; q++ {
					if q != lo {
						all = append(all, link{lo, q})
					}
				}
				all = e.cut(all)
				s.At(s.Now(), func() { e.heal(all) })
			}
		}
	})
}
