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
// recoveries together with the roles drawn (the command leader, the lower
// recoverer and the higher one), the phase reached and the virtual time.
var splitTrace func(o sim.Output, l, lo, hi, phase int, now time.Duration)

// injectSplitRecoveries composes two recoveries of one instance from the
// two sides of a split, with the instance's command leader L as the only
// bridge, around a quiet key (puts on a key of its own that no client
// touches), and bounces L right after it answered the higher side. Three
// replicas are drawn and given roles by ballot order (ballots of one round
// are ordered by replica): L the lowest, the lower recoverer lo, the higher
// recoverer hi; the others join lo's or hi's side. Each step waits for what
// the replicas do, not for a clock:
//
//  1. the stall: the two sides are cut off from each other both ways for
//     1.5 to 2.5 s, and every link into L is held (sim.Hold: L sends, but
//     what is sent to it waits, nothing lost); lo is proposed a command on
//     the key, then L is proposed one, γ;
//  2. two rounds against L: when lo or hi first handles what L sent when
//     proposed γ (L's first request, or its resend to a peer it had not
//     asked yet), its clock runs ahead until a timeout fires (fireTimeout),
//     hi's one to four times: each opens a round of its own over what L
//     left uncommitted, their requests to L waiting at the held links;
//  3. the refusal first: when hi handles L's request again after that (L
//     resends, hearing nothing), hi's link to L is released, hi's answer
//     leaving at once and its backlog 1 to 10 ms later, so that L hears
//     hi's answer before the request hi opened its last round with;
//  4. the forgetful bridge: when L answers that request alone, L is bounced
//     (crash, restart 0 to 3 ms later) in that instant, hi's side's links
//     to L are held again, hi is proposed a command on the key (it goes
//     into its next round), and lo's side's links to L are released: lo's
//     request reaches the restarted L, and lo's round goes on through L
//     while hi's side waits;
//  5. the unheard decision: when lo announces a decision holding γ, lo is
//     cut off from every peer for 50 to 300 ms and hi's side's links to L
//     are released (every held link is released 300 ms after step 4 in
//     any case, and 400 ms after step 1 or 100 ms after step 3 if step 4
//     never came).
//
// A replica that made durable every promise it gave refuses lo after its
// restart; one that held the promise it gave hi in memory only lets both
// sides decide γ, each with the key's command of its own side in γ's
// dependencies. Nothing here names a message type: a step is judged by who
// takes it, whom it answers and whether it is a request sent before (by
// value), and by what it reports decided. It proposes only in runs of the
// key-value workload, needs clocks that may jump (no leader leases), runs
// alone (see splitsAlone) and draws from its own random stream.
func injectSplitRecoveries(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x73706c6974726563))
	if n < 3 || !e.clockJumps {
		return
	}
	ms := time.Millisecond
	start := dur(rng, 10*ms, 300*ms)
	backlog := dur(rng, 1*ms, 10*ms)
	splitFor := dur(rng, 1500*ms, 2500*ms)
	bounce := upTo(rng, 3*ms)
	unheard := dur(rng, 50*ms, 300*ms)
	rounds := 1 + rng.IntN(4)
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
	hold := func(side []int) {
		for _, q := range side {
			_ = s.Hold(paxos.NodeID(q), paxos.NodeID(l))
		}
	}
	release := func(side []int, after time.Duration) {
		for _, q := range side {
			_ = s.Release(paxos.NodeID(q), paxos.NodeID(l), after)
		}
	}
	key := "split-recovery"
	next := uint64(0)
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

	const (
		idle      = iota // waiting for the start and a client's get or put
		spreading        // γ proposed at L: hi and lo open rounds of their own
		refusing         // release hi's link when hi handles L's request again
		granting         // bounce L once it answers hi's request alone
		lower            // lo's round through the restarted L
		done
	)
	phase := idle
	started := false
	var gammaID uint64
	var lReq, hiReq []any // what L sent when proposed γ, what hi opened its own round with
	fired := make([]bool, n)
	sentAny := func(reqs []any, body any) bool {
		return slices.ContainsFunc(reqs, func(b any) bool { return reflect.DeepEqual(b, body) })
	}
	finish := func() {
		phase = done
		release(sideLo, 0)
		release(sideHi, 0)
	}
	s.At(start, func() { started = true })
	e.watchJumps()
	e.observers = append(e.observers, func(o sim.Output) {
		if splitTrace != nil {
			splitTrace(o, l, lo, hi, phase, s.Now())
		}
		id := int(o.Replica)
		rd := o.Ready
		fromL := o.Input != nil && int(o.Input.From) == l && sentAny(lReq, o.Input.Body)
		switch phase {
		case idle:
			if o.Proposed != nil && o.Proposed.Op != paxos.OpGet && o.Proposed.Op != paxos.OpPut {
				phase = done
				return
			}
			if !started || o.Proposed == nil || s.Now() >= window {
				return
			}
			phase = spreading
			s.At(s.Now(), func() {
				split := e.cut(between(sideLo, sideHi))
				e.counts.partitions++
				s.At(s.Now()+splitFor, func() {
					e.heal(split)
					if phase != done {
						finish()
					}
				})
				hold(sideLo)
				hold(sideHi)
				propose(lo)
				if gammaID = propose(l); gammaID == 0 {
					finish()
					return
				}
				s.At(s.Now()+400*ms, func() {
					if phase == spreading || phase == refusing {
						finish()
					}
				})
			})
		case spreading, refusing:
			if id == l && o.Proposed != nil && o.Proposed.Client == gammaID {
				for i := range rd.Messages {
					lReq = append(lReq, rd.Messages[i].Body)
				}
				return
			}
			if (id == lo || id == hi) && fromL && !fired[id] {
				// It holds L's request now: it opens a round of its own.
				fired[id] = true
				s.At(s.Now()+upTo(rng, 2*ms), func() {
					e.fireTimeout(id)
					for k := 1; id == hi && k < rounds; k++ {
						e.fireTimeout(id)
					}
					if id == hi && len(hiReq) > 0 && phase == spreading {
						phase = refusing
					}
				})
				return
			}
			if id == hi && fired[hi] && firesTimeout(o) && phase == spreading {
				var opened []any // the round hi opened last
				for i := range rd.Messages {
					if int(rd.Messages[i].To) == l {
						opened = append(opened, rd.Messages[i].Body)
					}
				}
				if len(opened) > 0 {
					hiReq = opened
				}
				return
			}
			if id == hi && fromL && phase == refusing {
				// L asks again after hi's round began: hi's answer reaches
				// L first, then what hi sent L before.
				phase = granting
				_ = s.Release(paxos.NodeID(hi), paxos.NodeID(l), backlog)
				s.At(s.Now()+backlog+100*ms, func() {
					if phase == granting {
						finish()
					}
				})
			}
		case granting:
			if id != l || !answersAlone(o) || int(o.Input.From) != hi || !sentAny(hiReq, o.Input.Body) {
				return
			}
			phase = lower
			s.At(s.Now(), func() {
				if !e.crash(l) {
					finish()
					return
				}
				hold(sideHi)
				propose(hi)
				s.At(s.Now()+bounce, func() {
					e.restart(l)
					release(sideLo, 0)
				})
				s.At(s.Now()+300*ms, func() {
					if phase == lower {
						finish()
					}
				})
			})
		case lower:
			if id == lo && announces(rd) && decides(rd, gammaID) {
				var all []link
				for q := 0; q < n; q++ {
					if q != lo {
						all = append(all, link{lo, q})
					}
				}
				all = e.cut(all)
				s.At(s.Now()+unheard, func() { e.heal(all) })
				finish()
			}
		}
	})
}

// splitsAlone replaces, in one run in splitsShare without leader leases
// whose faults include crashes, partitions or the recovery faults, the
// run's injectors with the split recoveries alone (see
// injectSplitRecoveries), whose chain of steps any other crash or cut would
// break. It runs last among the draws that make runs quiet and draws from
// its own random stream, so the other runs of a seed stay what they were.
func splitsAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	if !moreQuietRuns || leaseTicks > 0 || n < 3 || !has[FaultRecovery] && !has[FaultCrash] && !has[FaultPartition] || len(on) == 0 {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x73706c6974616c6e)).IntN(splitsShare) != 0 {
		return on
	}
	return []injector{{FaultRecovery, injectSplitRecoveries}}
}

// splitsShare: splitsAlone takes one run in this many.
const splitsShare = 8
