package check_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
)

// firstKill runs the planted bug name through the default search (every
// fault, no other flag) at n replicas, seed by seed from 1 up to CI's
// planted-bug budget of 500, and returns the first seed that catches it
// (0 if none does); the violation must be an instance decided twice.
func firstKill(t *testing.T, name string, n int) int {
	t.Helper()
	m, err := paxos.LookupMutant(name)
	require.NoError(t, err)
	opts := check.Options{New: m.New, Replicas: n, Faults: check.AllFaults,
		Replica: paxos.Config{InitialLeader: -1}}
	for seed := 1; seed <= 500; seed++ {
		opts.Seed = uint64(seed)
		res, err := check.Run(opts)
		require.NoError(t, err)
		if !res.OK() {
			assert.Contains(t, res.Failures[0], "decided twice", "seed %d", seed)
			return seed
		}
	}
	return 0
}

// The default search catches a planted EPaxos recovery bug that survived
// 500 seeds at both sizes before the recovery chains
// (search_epaxos_recovery.go): recovery adopting the first accepted reply
// instead of the one of the highest ballot, at N = 5. It must stay within
// the 500-seed budget of CI's planted-bug stage; today the first seed that
// catches it is 48, as `paxos mutants` reports.
func TestDefaultSearchCatchesRecoveryFirstAcceptedAtFive(t *testing.T) {
	first := firstKill(t, "epaxos/recovery-first-accepted", 5)
	require.Positive(t, first, "epaxos/recovery-first-accepted at N = 5 survived 500 seeds")
	t.Logf("caught at seed %d", first)
}

// The default search catches a Multi-Paxos leader that leaves empty the
// slots no promise reported (multi/skip-holes) at N = 5, a survivor of 500
// seeds there before the stranded proposals ran alone in some of the quiet
// runs (search_witness.go): a proposal held by a minority cut off while the
// next one reaches the majority, so the new leader's phase-1 quorum holds
// none of the slot. The hole shows as a log that stops executing, so the
// liveness check reports it. The first seed that catches it is 62 (101
// before the lost steps), as `paxos mutants` reports; this checks that
// seed (the runs before it take seconds) and that the seed before it
// passes. (Seed 101 now runs the slow bridges alone, search_slow_bridge.go.)
func TestDefaultSearchCatchesSkipHolesAtFive(t *testing.T) {
	m, err := paxos.LookupMutant("multi/skip-holes")
	require.NoError(t, err)
	opts := check.Options{New: m.New, Replicas: 5, Faults: check.AllFaults,
		Replica: paxos.Config{InitialLeader: -1}}
	opts.Seed = 62
	res, err := check.Run(opts)
	require.NoError(t, err)
	require.False(t, res.OK(), "multi/skip-holes at N = 5 not caught at seed 62")
	assert.Contains(t, res.Failures[0], "liveness")
	opts.Seed = 61
	res, err = check.Run(opts)
	require.NoError(t, err)
	assert.True(t, res.OK(), "seed 61: %v", res.Failures)
}
