package check

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos/sim"
)

// injectLostSteps loses one step out of the middle of a replica's run of
// rounds, then deposes the replica. A step qualifies when it handles a
// message or a proposal (not the clock), persists something, decides
// nothing and sends to two peers or more: the replica starts something
// (a slot, an instance, a round) that it now holds and others must vote
// on. With probability 0.3 to 1 such a step is lost whole: none of its
// messages leaves. The replica does not know; its next step within 5 to
// 150 ms that handles a message or a proposal and sends to two peers or
// more goes through, and 0 to 20 ms after it the replica is
// deposed: crashed (in half the events, when a minority stays up) or cut
// off both ways, for 100 to 800 ms. What the lost step started is then
// held by nobody but the deposed replica, below or beside what the next
// step started and the others hold: whoever takes over finds a gap under
// work that went through and must close it (fill it, recover it) rather
// than wait for it. The random message losses seldom lose a whole step,
// the torn broadcasts keep one addressee and act on decisions, and the
// stranded proposals act only on a replica that was proposed a command
// itself (seldom the leader) and run only at N = 5. One to four times per
// run, at least 300 ms apart. It needs a quiet cluster, so it runs alone
// (see lostStepsAlone), and draws from its own random stream.
func injectLostSteps(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x6c6f73747374))
	if n < 3 {
		return
	}
	ms := time.Millisecond
	budget := 1 + rng.IntN(4)
	p := 0.3 + 0.7*rng.Float64()
	within := dur(rng, 5*ms, 150*ms)
	after := upTo(rng, 20*ms)
	until := make([]time.Duration, n) // a lost step's sender waits for its next broadcast until then
	busyUntil := time.Duration(0)
	e.observers = append(e.observers, func(o sim.Output) {
		id, now := int(o.Replica), s.Now()
		if e.down[id] || (o.Input == nil && o.Proposed == nil) {
			return
		}
		to := peersSentTo(o)
		if len(to) < 2 {
			return
		}
		if until[id] > 0 {
			due := until[id]
			until[id] = 0
			if now > due {
				return
			}
			// This step goes through; then the sender is deposed.
			hold := dur(rng, 100*ms, 800*ms)
			crash := rng.IntN(2) == 0
			s.At(now+after, func() {
				if e.down[id] {
					return
				}
				if crash && e.crash(id) {
					s.At(min(s.Now()+hold, window), func() { e.restart(id) })
					return
				}
				var ls []link
				for q := 0; q < n; q++ {
					ls = append(ls, link{id, q}, link{q, id})
				}
				cut := e.cut(ls)
				e.counts.partitions++
				s.At(min(s.Now()+hold, window), func() { e.heal(cut) })
			})
			return
		}
		if len(o.Ready.Decided) > 0 || len(o.Ready.Persist) == 0 || budget == 0 || now < busyUntil || rng.Float64() >= p {
			return
		}
		budget--
		busyUntil = now + 300*ms
		var lost []link
		for _, q := range to {
			lost = append(lost, link{id, q})
		}
		e.cut(lost)
		s.At(now, func() { e.heal(lost) })
		until[id] = now + within
	})
}

// lostStepsAlone replaces, in one run in lostStepsShare without leader
// leases whose faults include crashes, partitions or the recovery faults,
// the run's injectors with the lost steps alone (see injectLostSteps),
// whose schedule the other faults' crashes and cuts would blur. As the only
// injector, over 200 seeds, the lost steps catch a new Multi-Paxos leader
// that leaves unreported slots empty (multi/skip-holes) in 15% of runs at
// N = 3 and 6% at N = 5; in one run in 16 they took it from 1 to 9
// failing seeds of 500 at N = 3 and from 5 to 23 at N = 5. It runs last
// among the draws that make runs quiet and draws from its own random
// stream, so the other runs of a seed stay what they were.
func lostStepsAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	if !moreQuietRuns || leaseTicks > 0 || n < 3 || !has[FaultRecovery] && !has[FaultCrash] && !has[FaultPartition] || len(on) == 0 {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x6c6f7374616c6f6e)).IntN(lostStepsShare) != 0 {
		return on
	}
	return []injector{{FaultRecovery, injectLostSteps}}
}

// lostStepsShare: lostStepsAlone takes one run in this many.
const lostStepsShare = 16

// peersSentTo lists the replicas other than o's own that o's step sends
// messages to, each once, in the order of its messages.
func peersSentTo(o sim.Output) []int {
	var to []int
	for i := range o.Ready.Messages {
		if q := int(o.Ready.Messages[i].To); q != int(o.Replica) && !slices.Contains(to, q) {
			to = append(to, q)
		}
	}
	return to
}
