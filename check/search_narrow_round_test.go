package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The narrow rounds, alone, keep correct protocols correct at N = 5 and
// 7, and do nothing at N = 3 (no quorum there leaves a pair out).
func TestNarrowRoundsKeepCorrectProtocolsCorrect(t *testing.T) {
	withInjectors(t, []injector{{FaultPartition, injectNarrowRounds}}, func() {
		for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
			for _, n := range []int{5, 7} {
				for seed := uint64(1); seed <= uint64(9-n); seed++ { // 4 at N = 5, 2 at N = 7
					res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultPartition},
						Replica: paxos.Config{InitialLeader: -1}})
					require.NoError(t, err)
					assert.Empty(t, res.Failures, "%s n=%d seed=%d", proto, n, seed)
				}
			}
		}
	})
}

// The narrow rounds alone catch a Multi-Paxos leader that counts an
// acknowledgement of its earlier ballot (at N = 5 and 7) and a Basic
// Paxos acceptor whose accepting leaves its promise where it was (N = 5),
// each within a few dozen seeds; the search survived 500 seeds of each
// without them.
func TestNarrowRoundsCatchVotesOfAnotherBallot(t *testing.T) {
	for _, c := range []struct {
		bug string
		n   int
	}{{"multi/accepted-any-ballot", 5}, {"multi/accepted-any-ballot", 7}, {"basic/accept-keeps-promise", 5}} {
		m, err := paxos.LookupMutant(c.bug)
		require.NoError(t, err)
		withInjectors(t, []injector{{FaultPartition, injectNarrowRounds}}, func() {
			first := 0
			for seed := 1; seed <= 60 && first == 0; seed++ {
				res, err := Run(Options{New: m.New, Replicas: c.n, Seed: uint64(seed), Faults: []string{FaultPartition},
					Replica: paxos.Config{InitialLeader: -1}})
				require.NoError(t, err)
				if !res.OK() {
					first = seed
					assert.Contains(t, res.Failures[0], "decided twice", "%s n=%d seed %d", c.bug, c.n, seed)
				}
			}
			assert.Positive(t, first, "%s n=%d survived 60 seeds", c.bug, c.n)
			t.Logf("%s n=%d caught at seed %d", c.bug, c.n, first)
		})
	}
}

// narrowAlone takes about one run in narrowShare among runs without
// leases at N = 5 or more that inject partitions, and leaves every other
// run as it was.
func TestNarrowAloneTakesAShareOfPartitionRuns(t *testing.T) {
	on := []injector{{FaultCrash, injectCrashes}, {FaultPartition, injectPartitions}}
	has := map[string]bool{FaultCrash: true, FaultPartition: true}
	taken := 0
	for seed := uint64(1); seed <= 800; seed++ {
		out := narrowAlone(on, has, seed, 5, 0)
		if len(out) == 1 && out[0].is(injectNarrowRounds) {
			taken++
		} else {
			assert.Len(t, out, 2)
		}
		assert.Len(t, narrowAlone(on, has, seed, 3, 0), 2, "runs at N = 3 keep their faults")
		assert.Len(t, narrowAlone(on, has, seed, 5, 6), 2, "runs with leases keep their faults")
		assert.Len(t, narrowAlone(on, map[string]bool{FaultCrash: true}, seed, 5, 0), 2, "runs without partitions keep theirs")
	}
	assert.InDelta(t, 800/narrowShare, taken, 40)
}
