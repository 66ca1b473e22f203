package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The lone witnesses and the stranded proposals, each alone, keep the
// correct protocols correct (and live once they heal), and do act: they
// cut links in most runs.
func TestWitnessFaultsKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, in := range []injector{{FaultRecovery, injectLoneWitnesses}, {FaultRecovery, injectStrandedProposals}} {
		withInjectors(t, []injector{in}, func() {
			for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
				for _, n := range []int{3, 5} {
					acted := 0
					for seed := uint64(1); seed <= 6; seed++ {
						res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultRecovery},
							Replica: paxos.Config{InitialLeader: -1}})
						require.NoError(t, err)
						assert.True(t, res.OK(), "%s n=%d seed %d: %v", proto, n, seed, res.Failures)
						if res.Partitions > 0 {
							acted++
						}
					}
					assert.Positive(t, acted, "%s n=%d: the fault never acted", proto, n)
				}
			}
		})
	}
}

// Stranded proposals alone catch a planted bug that survived 500 seeds
// of the default search at N = 5 before they joined it: a new
// Multi-Paxos leader that leaves empty the slots no promise reported
// (multi/skip-holes); it needs a slot accepted by no replica of the new
// leader's phase-1 quorum.
func TestStrandedProposalsCatchSkipHolesAtFive(t *testing.T) {
	m, err := paxos.LookupMutant("multi/skip-holes")
	require.NoError(t, err)
	withInjectors(t, []injector{{FaultRecovery, injectStrandedProposals}}, func() {
		caught := 0
		for seed := uint64(1); seed <= 20; seed++ {
			res, err := Run(Options{New: m.New, Replicas: 5, Seed: seed, Faults: []string{FaultRecovery},
				Replica: paxos.Config{InitialLeader: -1}})
			require.NoError(t, err)
			if !res.OK() {
				caught++
			}
		}
		assert.GreaterOrEqual(t, caught, 2, "multi/skip-holes at N = 5 in 20 seeds of stranded proposals")
		t.Logf("caught in %d of 20 seeds", caught)
	})
}
