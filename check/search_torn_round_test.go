package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The torn rounds, alone (as they run), keep the correct protocols correct
// (and live once they heal), and do act: they crash or cut off replicas in
// some run of every protocol (EPaxos at N = 3 commits on its fast path
// without a second round in most runs, so there it acts at N = 7).
func TestTornRoundsKeepCorrectProtocolsCorrect(t *testing.T) {
	withInjectors(t, []injector{{FaultRecovery, injectTornRounds}}, func() {
		for _, proto := range []string{"basic", "multi", "flexible", "epaxos", "fastpaxos", "raft"} {
			acted := 0
			for _, n := range []int{3, 7} {
				for seed := uint64(1); seed <= 3; seed++ {
					res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultRecovery},
						Replica: paxos.Config{InitialLeader: -1}})
					require.NoError(t, err)
					assert.True(t, res.OK(), "%s n=%d seed %d: %v", proto, n, seed, res.Failures)
					if res.Partitions > 0 || res.Crashes > 0 {
						acted++
					}
				}
			}
			assert.Positive(t, acted, "%s: the fault never acted", proto)
		}
	})
}

// Alone, the torn rounds catch a Basic Paxos proposer that adopts the
// first value reported in the promises instead of the highest ballot's
// (about a quarter of runs at N = 3, 5 and 7; seed 4 at N = 3 is the
// first): the torn proposer, back, goes over the slot a filler decided as
// a Nop without it, and its own promise, reporting its old value, is the
// first it counts.
func TestTornRoundsCatchAdoptFirstValue(t *testing.T) {
	m, err := paxos.LookupMutant("basic/adopt-first-value")
	require.NoError(t, err)
	withInjectors(t, []injector{{FaultRecovery, injectTornRounds}}, func() {
		first := 0
		for seed := 1; seed <= 10 && first == 0; seed++ {
			res, err := Run(Options{New: m.New, Replicas: 3, Seed: uint64(seed), Faults: []string{FaultRecovery}})
			require.NoError(t, err)
			if !res.OK() {
				first = seed
				assert.Contains(t, res.Failures[0], "decided twice", "seed %d", seed)
			}
		}
		assert.Positive(t, first, "survived 10 seeds")
		t.Logf("caught at seed %d", first)
	})
}
