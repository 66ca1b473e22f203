package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The lost decisions and the lost proposers, each alone (as they run),
// keep the correct protocols correct (and live once they heal) at N = 7,
// the size whose quiet runs draw them, and do act: they cut links or wipe
// replicas in most runs.
func TestLostFaultsKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, in := range []injector{{FaultRecovery, injectLostDecisions}, {FaultWipe, injectLostProposers}} {
		withInjectors(t, []injector{in}, func() {
			for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
				acted := 0
				for seed := uint64(1); seed <= 3; seed++ {
					res, err := Run(Options{Protocol: proto, Replicas: 7, Seed: seed, Faults: []string{in.kind},
						Replica: paxos.Config{InitialLeader: -1}})
					require.NoError(t, err)
					assert.True(t, res.OK(), "%s seed %d: %v", proto, seed, res.Failures)
					if res.Partitions > 0 || res.Crashes > 0 {
						acted++
					}
				}
				assert.Positive(t, acted, "%s: the fault never acted", proto)
			}
		})
	}
}

// Alone, the lost decisions catch an EPaxos fast path that commits on a
// plain majority while recovery still assumes the larger fast quorum, at
// N = 7, where the two differ (10 of the first 40 seeds; seed 1 is one):
// the recovery's quorum holds one voter of the decision, too few for a
// fast commit by its count, so it decides the instance again with other
// dependencies.
func TestLostDecisionsCatchFastPathMajority(t *testing.T) {
	m, err := paxos.LookupMutant("epaxos/fast-path-majority")
	require.NoError(t, err)
	withInjectors(t, []injector{{FaultRecovery, injectLostDecisions}}, func() {
		first := 0
		for seed := 1; seed <= 10 && first == 0; seed++ {
			res, err := Run(Options{New: m.New, Replicas: 7, Seed: uint64(seed), Faults: []string{FaultRecovery}})
			require.NoError(t, err)
			if !res.OK() {
				first = seed
				assert.Contains(t, res.Failures[0], "decided twice", "seed %d", seed)
			}
		}
		assert.Positive(t, first, "survived 10 seeds")
	})
}

// Alone, the lost proposers catch an EPaxos fast quorum reduced to a plain
// majority (fast path and recovery alike) at N = 7, by the liveness check
// (16 of 200 seeds; seed 12 is the first): two interfering rounds, each
// held by two replicas, whose proposers lost their disks, and a third
// replica rebuilding: each recovery finds its instance possibly fast
// committed by the smaller quorum's count and defers to the other for
// good, and the rebuilding replicas wait on both.
func TestLostProposersCatchMajorityFastQuorum(t *testing.T) {
	m, err := paxos.LookupMutant("epaxos/majority-fast-quorum")
	require.NoError(t, err)
	withInjectors(t, []injector{{FaultWipe, injectLostProposers}}, func() {
		res, err := Run(Options{New: m.New, Replicas: 7, Seed: 12, Faults: []string{FaultWipe}})
		require.NoError(t, err)
		require.False(t, res.OK(), "seed 12 no longer catches it")
		assert.Contains(t, res.Failures[0], "liveness")
	})
}
