package check

import (
	"math/rand/v2"
	"time"

	"github.com/paxos-lab/paxos"
)

// injectSlowBridges adds, when partitions are among the faults, split
// brains whose bridge answers one side late. One to four times per run, at
// random times of the fault window, a random replica becomes the bridge and
// the others split into two halves that lose each other both ways for 200
// ms to 1.5 s, so each half is a majority only with the bridge; meanwhile
// everything the bridge sends to one of the halves (the slow side) takes
// 50 to 300 ms longer than its link's delay (a congested or rerouted
// path), in order. The slow side's rounds through the bridge get their
// answers only after they timed out and started their next round, while
// the other side leads and decides through the bridge at full speed: an
// answer to a round that was given up arrives when its receiver runs a
// later one, and the bridge's refusals and decisions reach the slow side
// after it acted without them. The other splits lose messages or delay
// them by at most a round trip. It draws from its own random stream.
func injectSlowBridges(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x736c6f77627267))
	if n < 3 || rng.IntN(4) == 0 {
		return
	}
	ms := time.Millisecond
	t := time.Duration(0)
	for k := 1 + rng.IntN(4); k > 0; k-- {
		t += dur(rng, 20*ms, window/2)
		if t >= window {
			return
		}
		hold := dur(rng, 200*ms, 1500*ms)
		end := min(t+hold, window)
		extra := dur(rng, 50*ms, 300*ms)
		perm := rng.Perm(n)
		flip := rng.IntN(2) == 0
		s.At(t, func() {
			// The replica that says it leads, if any, is on the fast
			// side, so the slow side is the one that campaigns.
			for i, id := range perm {
				if leads(s, id) {
					perm[i], perm[n-1] = perm[n-1], perm[i]
					break
				}
			}
			bridge, rest := perm[0], perm[1:]
			half := len(rest) / 2
			slow, fast := rest[:half], rest[half:]
			if flip && len(rest)%2 == 0 && !leads(s, perm[n-1]) {
				slow, fast = fast, slow
			}
			cuts := e.cut(between(slow, fast))
			usual := make([]time.Duration, len(slow))
			for i, q := range slow {
				usual[i] = s.Delay(paxos.NodeID(bridge), paxos.NodeID(q))
				_ = s.SetDelay(paxos.NodeID(bridge), paxos.NodeID(q), usual[i]+extra)
			}
			s.At(end, func() {
				e.heal(cuts)
				for i, q := range slow {
					_ = s.SetDelay(paxos.NodeID(bridge), paxos.NodeID(q), usual[i])
				}
			})
		})
		t = end
	}
}

// slowBridgesAlone replaces, in one run in slowBridgesShare without leader
// leases whose faults include partitions, the run's injectors with the
// slow bridges alone (see injectSlowBridges): among the other faults'
// crashes and cuts their schedule rarely holds. As the only injector they
// catch a Multi-Paxos candidate that counts a promise given to its earlier
// ballot (multi/promise-any-ballot) in 6 of the first 100 seeds at N = 3
// and at N = 5; in the swarm over every injector they caught it in none of
// 500 at N = 3. It runs last among the draws that make runs quiet and
// draws from its own random stream, so the other runs of a seed stay what
// they were.
func slowBridgesAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	if !moreQuietRuns || leaseTicks > 0 || n < 3 || !has[FaultPartition] || len(on) == 0 {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x736c6f77616c6f6e)).IntN(slowBridgesShare) != 0 {
		return on
	}
	return []injector{{FaultPartition, injectSlowBridges}}
}

// slowBridgesShare: slowBridgesAlone takes one run in this many.
const slowBridgesShare = 12
