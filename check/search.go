package check

import (
	"math/rand/v2"
	"time"

	"github.com/paxos-lab/paxos"
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
// already down, rebuilding replicas counted).
func injectBounces(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x626f756e6365))
	if n < 3 || rng.IntN(4) == 0 {
		return // a quarter of the runs keep the ordinary crashes only
	}
	for t := time.Duration(20+rng.IntN(200)) * time.Millisecond; t < window; t += time.Duration(20+rng.IntN(200)) * time.Millisecond {
		id := rng.IntN(n)
		back := t + time.Duration(1+rng.IntN(15))*time.Millisecond
		s.At(t, func() {
			if e.crash(id) {
				s.At(back, func() { e.restart(id) })
			}
		})
	}
}

// varyClients returns the number of closed-loop clients of a run: the
// configured number, or, when it is 0, 3 to 8 drawn per seed. How many
// commands contend for a slot, an instance or a key at once is decided by
// the number of clients; a fixed small number leaves the interleavings of
// many concurrent proposals (dueling leaders with work in flight, equal
// EPaxos sequence numbers in one component) unexplored.
func varyClients(configured int, rng *rand.Rand) int {
	if configured != 0 {
		return configured
	}
	return 3 + rng.IntN(6)
}

// injectLeaderPartitions adds, when partitions are among the faults, cuts
// aimed at a leader: every 100 to 600 ms of the fault window a replica that
// says it leads (a replica with an IsLeader method; for leaderless
// protocols, or when none leads, a random replica) is cut off together
// with at most a minority-minus-one of the others for 50 to 500 ms; its
// clients, at its own site, still reach it. Half of these cuts leave one
// replica, a bridge, connected to both sides, so that each side with the
// bridge is a majority: two leaders can then make progress at once, and
// the bridge hears both, the classic setting of split-brain bugs. Random partitions leave the
// leader with the majority most of the time once N grows (a minority of
// replicas is isolated, and the leader is one replica of N), so leader
// changes with an old leader still serving its clients, the situation
// behind stale ballots and competing phase-1 rounds, become rarer exactly
// at the sizes where quorums overlap less. In a quarter of the runs there
// are none.
func injectLeaderPartitions(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x6c6561646572))
	if n < 3 || rng.IntN(4) == 0 {
		return
	}
	for t := time.Duration(100+rng.IntN(500)) * time.Millisecond; t < window; t += time.Duration(100+rng.IntN(500)) * time.Millisecond {
		perm := rng.Perm(n)
		k := 1 + rng.IntN(max(1, (n-1)/2))
		heal := t + time.Duration(50+rng.IntN(450))*time.Millisecond
		bridge := rng.IntN(2) == 0
		if heal > window {
			heal = window
		}
		var cuts []link
		s.At(t, func() {
			lead := perm[0]
			for i := 0; i < n; i++ {
				if l, ok := s.Replica(paxos.NodeID(i)).(interface{ IsLeader() bool }); ok && s.Alive(paxos.NodeID(i)) && l.IsLeader() {
					lead = i
					break
				}
			}
			side := []int{lead}
			for _, p := range perm {
				if len(side) == k {
					break
				}
				if p != lead {
					side = append(side, p)
				}
			}
			rest := make([]int, 0, n-k)
			for _, i := range perm {
				in := false
				for _, p := range side {
					in = in || p == i
				}
				if !in {
					rest = append(rest, i)
				}
			}
			if bridge && len(rest) >= 2 {
				// A bridge: the first of the rest stays connected to
				// everyone, the others lose the leader's side both ways.
				// The leader's side plus the bridge, and the rest, are
				// both majorities that share one replica.
				cuts = e.cut(between(side, rest[1:]))
			} else {
				cuts = e.cut(between(side, rest))
			}
			e.counts.partitions++
		})
		s.At(heal, func() { e.heal(cuts) })
	}
}
