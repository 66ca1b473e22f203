package check

import (
	"math/rand/v2"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Search variations that widen what one seed explores. They draw from a
// random stream of their own (searchRand), so a seed's network, faults and
// workload stay what they were without them.

// searchRand is the random source of the search variations of a seed.
func searchRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x7365617263680a)) }

// varySnapshots returns the snapshot interval of a run. A configured
// interval is kept. Otherwise half the seeds snapshot every 5 to 34
// executed slots: the protocols' own defaults (thousands of slots) are
// never reached by a run of a few hundred operations, which would leave
// snapshots, compaction, snapshot catch-up and restarts from a snapshot
// unexercised. The other half keep the default (no snapshot in the run).
func varySnapshots(configured int, rng *rand.Rand) int {
	if configured != 0 || rng.IntN(2) == 0 {
		return configured
	}
	return 5 + rng.IntN(30)
}

// injectBounces adds, when crashes are among the faults, short crashes
// during the fault window: a replica stops and restarts from its durable
// state 1 to 15 ms later. The ordinary crashes keep a replica down for tens
// to hundreds of milliseconds, long enough that its peers time out and move
// on; a bounce is shorter than a round trip, so the messages its peers send
// it right after the restart were prompted by what it said before the
// crash. That is when state it failed to persist (a promise, a vote, a
// deduplication entry) matters. A bounce never takes down more than a
// minority with the other crashes (it is skipped when (n-1)/2 replicas are
// already down). It returns how many bounces took effect, through count.
func injectBounces(s *sim.Sim, rng *rand.Rand, n int, faults []string, window time.Duration, count *int) {
	crash := false
	for _, f := range faults {
		crash = crash || f == FaultCrash
	}
	if !crash || n < 2 || rng.IntN(4) == 0 {
		return // a quarter of the runs keep the ordinary crashes only
	}
	maxDown := max(1, (n-1)/2)
	for t := time.Duration(20+rng.IntN(200)) * time.Millisecond; t < window; t += time.Duration(20+rng.IntN(200)) * time.Millisecond {
		id := paxos.NodeID(rng.IntN(n))
		back := t + time.Duration(1+rng.IntN(15))*time.Millisecond
		s.At(t, func() {
			down := 0
			for i := 0; i < n; i++ {
				if !s.Alive(paxos.NodeID(i)) {
					down++
				}
			}
			if !s.Alive(id) || down >= maxDown {
				return
			}
			if s.Crash(id) == nil {
				*count++
				s.At(back, func() {
					if !s.Alive(id) {
						_ = s.Restart(id)
					}
				})
			}
		})
	}
}
