package check_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
)

// runSeeds runs seeds 1..k of opts and returns the summed coverage and the
// failures, one line per failing seed.
func runSeeds(t *testing.T, opts check.Options, k int) (paxos.Coverage, []string) {
	t.Helper()
	cov := paxos.Coverage{}
	var failed []string
	for seed := uint64(1); seed <= uint64(k); seed++ {
		opts.Seed = seed
		res, err := check.Run(opts)
		require.NoError(t, err)
		cov.Add(res.Coverage)
		if !res.OK() {
			failed = append(failed, res.Failures[0])
		}
	}
	return cov, failed
}

// TestRecoveryFaultsKeepCorrectProtocolsCorrect: the leader-based
// protocols pass under the recovery faults alone and under every fault,
// and every operation completes once the faults heal; the faults do drive
// them through leader changes and hole filling.
func TestRecoveryFaultsKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, proto := range []string{"basic", "multi", "flexible"} {
		for _, n := range []int{3, 5} {
			opts := check.Options{Protocol: proto, Replicas: n, Faults: []string{check.FaultRecovery},
				Replica: paxos.Config{InitialLeader: -1}}
			cov, failed := runSeeds(t, opts, 10)
			assert.Empty(t, failed, "%s n=%d", proto, n)
			if proto == "basic" {
				assert.Positive(t, cov["phase1-rounds"], "%s n=%d: %v", proto, n, cov)
				assert.Positive(t, cov["nop-fills"]+cov["adopted-values"], "%s n=%d: %v", proto, n, cov)
			} else {
				assert.Greater(t, cov["elections"], uint64(n), "%s n=%d: %v", proto, n, cov)
				assert.Positive(t, cov["nop-fills"]+cov["phase1-adopted"], "%s n=%d: %v", proto, n, cov)
			}
			opts.Faults = check.AllFaults
			_, failed = runSeeds(t, opts, 5)
			assert.Empty(t, failed, "%s n=%d, all faults", proto, n)
		}
	}
}

// TestRecoveryFaultsAreDeterministic: the recovery faults react to what
// replicas report, from the run's seed alone.
func TestRecoveryFaultsAreDeterministic(t *testing.T) {
	opts := check.Options{Protocol: "epaxos", Replicas: 5, Seed: 9, Faults: check.AllFaults}
	a, err := check.Run(opts)
	require.NoError(t, err)
	b, err := check.Run(opts)
	require.NoError(t, err)
	assert.Equal(t, a.History, b.History)
	assert.Equal(t, a.Events, b.Events)
	assert.Equal(t, a.Crashes, b.Crashes)
	assert.Positive(t, a.Crashes)
}

// TestRecoveryFaultsAloneInjectFaults: the recovery faults crash and cut
// replicas by themselves, and EPaxos passes the seeds below under them.
func TestRecoveryFaultsAloneInjectFaults(t *testing.T) {
	crashes, partitions := 0, 0
	for seed := uint64(1); seed <= 10; seed++ {
		res, err := check.Run(check.Options{Protocol: "epaxos", Replicas: 5, Seed: seed, Faults: []string{check.FaultRecovery}})
		require.NoError(t, err)
		assert.True(t, res.OK(), "seed %d: %v", seed, res.Failures)
		crashes += res.Crashes
		partitions += res.Partitions
	}
	assert.Positive(t, crashes)
	assert.Positive(t, partitions)
}
