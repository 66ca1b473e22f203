package multi_test

import (
	"fmt"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/stretchr/testify/require"
)

func runChecks(t *testing.T, opts check.Options, seeds int) {
	t.Helper()
	fails := 0
	for seed := 1; seed <= seeds; seed++ {
		opts.Seed = uint64(seed)
		res, err := check.Run(opts)
		require.NoError(t, err)
		if !res.OK() {
			fails++
			t.Errorf("seed %d (n=%d): %v (completed %d/%d)", seed, opts.Replicas, res.Failures, res.Completed, res.Ops)
		}
	}
	require.Zero(t, fails)
}

func TestCheckMulti(t *testing.T) {
	seeds := 20
	if !longtest.Enabled() {
		seeds = 5
	}
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			t.Parallel()
			for _, il := range []paxos.NodeID{0, -1} {
				runChecks(t, check.Options{Protocol: "multi", Replicas: n, Faults: check.AllFaults, Replica: paxos.Config{InitialLeader: il}}, seeds)
			}
		})
	}
}
