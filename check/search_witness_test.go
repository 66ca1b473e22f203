package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// alone runs fn with the injector table holding only in, so a run with
// the recovery faults alone injects nothing else (no message faults, no
// swarm choice to make).
func alone(in injector, fn func()) {
	saved, savedLate := injectors, lateInjectors
	injectors, lateInjectors = []injector{in}, nil
	defer func() { injectors, lateInjectors = saved, savedLate }()
	fn()
}

// Each new fault alone keeps the correct protocols correct (and live once
// it heals), and does act: it cuts links in most runs.
func TestWitnessFaultsKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, in := range []injector{{FaultRecovery, injectLoneWitnesses}, {FaultRecovery, injectStrandedProposals}} {
		alone(in, func() {
			for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
				for _, n := range []int{3, 5} {
					acted := 0
					for seed := uint64(1); seed <= 8; seed++ {
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
// of the default search at N = 5: a new Multi-Paxos leader that leaves
// empty the slots no promise reported (multi/skip-holes); it needs a slot
// accepted by no replica of the new leader's phase-1 quorum.
func TestStrandedProposalsCatchSkipHolesAtFive(t *testing.T) {
	m, err := paxos.LookupMutant("multi/skip-holes")
	require.NoError(t, err)
	alone(injector{FaultRecovery, injectStrandedProposals}, func() {
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
