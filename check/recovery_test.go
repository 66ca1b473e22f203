package check_test

import (
	"os"
	"strconv"
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
	crashes := 0
	for seed := uint64(9); seed < 13; seed++ { // some seeds draw a subset of the kinds (swarm)
		opts := check.Options{Protocol: "epaxos", Replicas: 5, Seed: seed, Faults: check.AllFaults}
		a, err := check.Run(opts)
		require.NoError(t, err)
		b, err := check.Run(opts)
		require.NoError(t, err)
		assert.Equal(t, a.History, b.History)
		assert.Equal(t, a.Events, b.Events)
		assert.Equal(t, a.Crashes, b.Crashes)
		crashes += a.Crashes
	}
	assert.Positive(t, crashes)
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

// TestRecoveryFaultsHuntRule4aAfterRestart hunts, with the recovery faults
// and nothing else scripted, the EPaxos bug of issue 10: rule 4a of
// recovery trusts a per-key index that a restart shrinks, so an instance
// can be decided twice. It runs PAXOS_HUNT_SEEDS seeds (skipped when
// unset: it has not found the bug yet, see below) and asserts that some
// seed fails.
//
// The buggy replica is the mutant "epaxos/rule4a-after-restart" when it
// is registered (once the fix is merged) and plain EPaxos otherwise (the
// fix not merged yet); the lead simplifies this at merge.
//
// Status: 6,000 seeds at N = 5 and 1,500 at N = 7 with every fault found
// no violation. The schedule needs a replica holding the stale original
// copy to take part in the recovery of the re-decided instance before any
// peer resends it the commit of the Nop, and EPaxos resends that commit as
// soon as the replica's execution watermark reaches a peer (catch-up), so
// the window is one watermark exchange wide.
func TestRecoveryFaultsHuntRule4aAfterRestart(t *testing.T) {
	seeds := os.Getenv("PAXOS_HUNT_SEEDS")
	if seeds == "" {
		t.Skip("set PAXOS_HUNT_SEEDS=K to hunt the rule-4a-after-restart bug over K seeds")
	}
	k, err := strconv.Atoi(seeds)
	require.NoError(t, err, "PAXOS_HUNT_SEEDS")
	opts := check.Options{Protocol: "epaxos", Replicas: 5, Faults: check.AllFaults}
	if m, err := paxos.LookupMutant("epaxos/rule4a-after-restart"); err == nil {
		opts.New = m.New
	}
	_, failed := runSeeds(t, opts, k)
	require.NotEmpty(t, failed, "no violation in %d seeds", k)
	t.Logf("%d of %d seeds failed; first: %s", len(failed), k, failed[0])
}

// TestSnapshotTruncationIsDeterministic: a run of one seed is the same run
// every time, also when a snapshot installed over a replica's own proposals
// sends their commands back to its queue. Basic Paxos and Fast Paxos once
// requeued them in a map's order, and seed 17 at N = 3 then carried
// different commands in later slots from one run to the next (about half
// the time, so each protocol runs it four times).
func TestSnapshotTruncationIsDeterministic(t *testing.T) {
	for _, protocol := range []string{"basic", "fastpaxos"} {
		opts := check.Options{Protocol: protocol, Replicas: 3, Seed: 17, Faults: check.AllFaults}
		first, err := check.Run(opts)
		require.NoError(t, err)
		for range 3 {
			again, err := check.Run(opts)
			require.NoError(t, err)
			assert.Equal(t, first.History, again.History, protocol)
			assert.Equal(t, first.Events, again.Events, protocol)
		}
	}
}
