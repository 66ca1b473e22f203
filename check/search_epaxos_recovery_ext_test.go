package check_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
)

// The default search (every fault, no other flag) catches a planted EPaxos
// recovery bug that survived 500 seeds at both sizes before the recovery
// chains (search_epaxos_recovery.go): recovery adopting the first accepted
// reply instead of the one of the highest ballot, at N = 5. It must stay
// within the 500-seed budget of CI's planted-bug stage; today the first
// seed that catches it is 48, as `paxos mutants` reports.
func TestDefaultSearchCatchesRecoveryFirstAcceptedAtFive(t *testing.T) {
	m, err := paxos.LookupMutant("epaxos/recovery-first-accepted")
	require.NoError(t, err)
	opts := check.Options{New: m.New, Replicas: 5, Faults: check.AllFaults,
		Replica: paxos.Config{InitialLeader: -1}}
	first := 0
	for seed := 1; seed <= 500 && first == 0; seed++ {
		opts.Seed = uint64(seed)
		res, err := check.Run(opts)
		require.NoError(t, err)
		if !res.OK() {
			first = seed
			assert.Contains(t, res.Failures[0], "decided twice", "seed %d", seed)
		}
	}
	require.Positive(t, first, "epaxos/recovery-first-accepted at N = 5 survived 500 seeds")
	t.Logf("caught at seed %d", first)
}
