package epaxos_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/epaxos"
)

// runCheck runs the randomized checker over seeds and fails on any violation.
func runCheck(t *testing.T, n int, faults []string, thrifty bool, conflict float64, seeds int) {
	t.Helper()
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		res, err := check.Run(check.Options{Protocol: "epaxos", New: epaxos.New, Replicas: n, Seed: seed, Ops: 150,
			Faults: faults, Conflict: conflict, Replica: paxos.Config{Thrifty: thrifty}})
		require.NoError(t, err)
		require.Empty(t, res.Failures, "seed %d n=%d faults=%v thrifty=%v", seed, n, faults, thrifty)
		require.Equal(t, res.Ops, res.Completed, "seed %d: every operation should complete", seed)
	}
}

func TestCheckNoFaults(t *testing.T) {
	for _, n := range []int{3, 5} {
		runCheck(t, n, nil, false, 0, 5)
		runCheck(t, n, nil, true, 0.5, 5)
	}
}
