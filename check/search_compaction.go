package check

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos/sim"
)

// Compaction amnesia: a replica restarts right after it compacted its
// durable state, while a rival that missed the latest round reaches it
// first. A snapshot replaces the records before it, so whatever the
// snapshot leaves out is gone after the next restart (a promise, a vote
// not yet decided), and nothing the random crashes do aims at the moment
// after a snapshot. The restarted replica is then asked by a replica that
// never heard the round it answered last: one whose ballot may be below
// the forgotten one. These faults watch only who starts a round and which
// step carries a snapshot, never message types.

// injectCompactionAmnesia adds 2 to 12 amnesia rounds per run (from N = 7
// 1 to 6, with the older timings noted where they are drawn), one at a
// time:
//
//  1. When a replica P that does not say it leads starts a round of its
//     own (see startsRound), with probability 0.1 to 1 per such step, a
//     rival side Q of (n-1)/2 other replicas is cut off both ways from
//     every other replica at once (so this step's messages to Q are
//     lost), for 300 ms to 2 s.
//  2. The first time within 5 to 400 ms that a replica R outside Q, P
//     excluded, takes a snapshot (its step's Ready carries one), R
//     crashes right after that step and restarts 0 to 3 ms later; the
//     links between Q and R heal (Q stays cut off from the others), and 0
//     to 10 ms later a member of Q has its clock run ahead until a
//     timeout fires (fireTimeout), so that its round reaches R, and no
//     other replica of P's side, first. Q and R make a quorum, and so do
//     P's side with R.
//  3. The cuts heal when the hold ends, or when those 5 to 400 ms end
//     without such a snapshot (so that the next round can start sooner).
//
// Besides the rounds P starts on its own, a replica that does not lead
// times out every 100 to 500 ms while no round is under way.
//
// A replica that made everything it answered durable refuses the rival
// when the rival's ballot is below what it promised, or tells it what it
// voted; one whose snapshot left a promise or a vote out answers as if the
// round it answered never happened.
func injectCompactionAmnesia(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x636f6d70616374))
	if n < 3 {
		return
	}
	e.watchJumps()
	ms := time.Millisecond
	// From N = 7 the rounds keep the profile they had before the amnesia
	// took more runs at N = 3 and 5 (1 to 6 rounds, a snapshot within 5 to
	// 150 ms, no early end, timeouts 200 to 900 ms apart): the wider one
	// lost the one N = 7 kill of multi/snapshot-drops-promise in 500 seeds.
	large := n >= 7
	var budget int
	snapBy, gapLo, gapHi := 400*ms, 100*ms, 500*ms
	if large {
		budget, snapBy, gapLo, gapHi = 1+rng.IntN(6), 150*ms, 200*ms, 900*ms
	} else {
		budget = 2 + rng.IntN(11)
	}
	pStart := 0.1 + 0.9*rng.Float64()
	type round struct {
		p     int
		q     []int
		until time.Duration // while Q is cut off
		by    time.Duration // R must compact by then
		cuts  []link
		hit   bool
	}
	var cur *round
	// open cuts a rival side Q off and makes P start a round.
	open := func(p int) {
		if budget == 0 || cur != nil || e.down[p] || s.Now() >= window {
			return
		}
		others := make([]int, 0, n-1)
		for _, q := range rng.Perm(n) {
			if q != p && !e.down[q] {
				others = append(others, q)
			}
		}
		k := (n - 1) / 2
		if len(others) < k+1 {
			return
		}
		budget--
		r := &round{p: p, q: others[:k], until: min(s.Now()+dur(rng, 300*ms, 2000*ms), window), by: s.Now() + dur(rng, 5*ms, snapBy)}
		var rest []int
		for x := 0; x < n; x++ {
			if !slices.Contains(r.q, x) {
				rest = append(rest, x)
			}
		}
		r.cuts = e.cut(between(r.q, rest))
		e.counts.partitions++
		cur = r
		end := func() {
			e.heal(r.cuts)
			r.cuts = nil
			if cur == r {
				cur = nil
			}
		}
		// A round whose R did not compact in time ends then, so that
		// the next can start.
		if !large {
			s.At(r.by+time.Nanosecond, func() {
				if !r.hit {
					end()
				}
			})
		}
		s.At(r.until, end)
	}
	// Rounds of its own: a replica that does not lead times out now.
	for t := dur(rng, 50*ms, 400*ms); t < window; t += dur(rng, gapLo, gapHi) {
		s.At(t, func() {
			if cur != nil {
				return
			}
			var cand []int
			for x := 0; x < n; x++ {
				if !e.down[x] && !leads(s, x) {
					cand = append(cand, x)
				}
			}
			if len(cand) == 0 {
				return
			}
			p := cand[rng.IntN(len(cand))]
			open(p)
			if cur != nil && cur.p == p {
				e.fireTimeout(p)
			}
		})
	}
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if e.down[id] || s.Now() >= window || id == e.jumping {
			return
		}
		if r := cur; r != nil {
			if r.hit || s.Now() > r.by || o.Ready.Snapshot == nil || id == r.p || slices.Contains(r.q, id) {
				return
			}
			// R compacted: it restarts right after this step, hears Q
			// first, and a member of Q starts a round.
			r.hit = true
			rival := r.q[rng.IntN(len(r.q))]
			back := upTo(rng, 3*ms)
			delay := upTo(rng, 10*ms)
			deafFor := dur(rng, 20*ms, 300*ms)
			s.At(s.Now(), func() {
				if !e.crash(id) {
					return
				}
				s.At(s.Now()+back, func() {
					e.restart(id)
					e.heal(between(r.q, []int{id}))
					var side []link
					for x := 0; x < n; x++ {
						if x != id && !slices.Contains(r.q, x) {
							side = append(side, link{x, id})
						}
					}
					deaf := e.cut(side)
					s.At(s.Now()+deafFor, func() { e.heal(deaf) })
					s.At(s.Now()+delay, func() { e.fireTimeout(rival) })
				})
			})
			return
		}
		if startsRound(o) && !leads(s, id) && rng.Float64() < pStart {
			open(id)
		}
	})
}

// compactionAlone replaces, in one run in compactionShare without leader
// leases whose faults include crashes or partitions (see compactionShare
// from N = 7), the run's injectors
// with the compaction amnesia alone (see injectCompactionAmnesia), which
// the other faults' crashes and cuts would interrupt. It draws from its
// own random stream, so the other runs of a seed stay what they were.
func compactionAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	share, kinds := compactionShare, has[FaultCrash] || has[FaultPartition]
	if n >= 7 {
		share, kinds = compactionShareLarge, has[FaultCrash] && has[FaultPartition]
	}
	if !moreQuietRuns || leaseTicks > 0 || n < 3 || !kinds || len(on) == 0 {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x636f6d70616c6e)).IntN(share) != 0 {
		return on
	}
	return []injector{{FaultCrash, injectCompactionAmnesia}}
}

// compactionShare: compactionAlone takes one run in this many up to N = 5.
// From N = 7 it takes one in compactionShareLarge whose faults include
// crashes and partitions both, as it did before it took more runs at N = 3
// and 5: there a swarm run it would take instead, seed 357, is the one
// kill of multi/stale-snapshot-install in 500 seeds
// (TestDefaultSearchCatchesStaleSnapshotInstallAtSeven), which survived
// 500 seeds when the amnesia took one run in 5 at N = 7 too.
const (
	compactionShare      = 5
	compactionShareLarge = 8
)
