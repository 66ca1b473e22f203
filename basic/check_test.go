package basic

import (
	"fmt"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// brokenNew builds replicas whose acceptors ignore their promises: the
// planted bug basic/ignore-promises.
func brokenNew(cfg paxos.Config) (paxos.Replica, error) {
	m, err := paxos.LookupMutant("basic/ignore-promises")
	if err != nil {
		return nil, err
	}
	return m.New(cfg)
}

// TestCheckerPasses runs the randomized checker with every fault over a
// range of seeds at N = 3 and 5: Basic Paxos must show no violation.
func TestCheckerPasses(t *testing.T) {
	seeds := 30
	if !longtest.Enabled() {
		seeds = 8
	}
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			t.Parallel()
			for seed := uint64(1); seed <= uint64(seeds); seed++ {
				res, err := check.Run(check.Options{Protocol: "basic", Replicas: n, Seed: seed, Faults: check.AllFaults})
				require.NoError(t, err)
				assert.Empty(t, res.Failures, "n=%d seed=%d", n, seed)
				assert.Positive(t, res.Completed, "n=%d seed=%d: no operation completed", n, seed)
			}
		})
	}
}

// TestCheckerCatchesBrokenAcceptors is the checker's negative test: with
// acceptors that ignore their promises, some seed within a bounded number
// must be reported as failing.
func TestCheckerCatchesBrokenAcceptors(t *testing.T) {
	const limit = 200
	for _, n := range []int{3, 5} {
		caught := uint64(0)
		for seed := uint64(1); seed <= limit && caught == 0; seed++ {
			res, err := check.Run(check.Options{New: brokenNew, Replicas: n, Seed: seed, Faults: check.AllFaults, Conflict: 0.5})
			require.NoError(t, err)
			if !res.OK() {
				caught = seed
				t.Logf("n=%d: broken acceptors caught at seed %d: %s", n, seed, fmt.Sprint(res.Failures[0]))
			}
		}
		assert.NotZero(t, caught, "n=%d: the checker missed acceptors that ignore promises in %d seeds", n, limit)
	}
}

// TestCheckerPassesWithSnapshots: snapshots every 10 slots at N = 3, 5
// and 7 under every fault. The runs take, send and install snapshots, and
// no seed fails.
func TestCheckerPassesWithSnapshots(t *testing.T) {
	seeds := uint64(15)
	if testing.Short() {
		seeds = 4
	}
	for _, n := range []int{3, 5, 7} {
		total := paxos.Coverage{}
		opts := check.Options{Protocol: "basic", Replicas: n, Faults: check.AllFaults, Replica: paxos.Config{SnapshotEvery: 10}}
		for opts.Seed = 1; opts.Seed <= seeds; opts.Seed++ {
			res, err := check.Run(opts)
			require.NoError(t, err)
			require.Empty(t, res.Failures, "n=%d seed=%d", n, opts.Seed)
			total.Add(res.Coverage)
		}
		t.Logf("n=%d: %d snapshots taken, %d sent, %d installed", n, total["snapshots"], total["snapshots-sent"], total["snapshot-installs"])
		assert.Positive(t, min(total["snapshots"], total["snapshots-sent"], total["snapshot-installs"]), "n=%d: %v", n, total)
	}
}

// A snapshot that leaves out the dedup sessions is caught within a few
// seeds at N = 3 and 5.
func TestCheckerCatchesSnapshotWithoutDedup(t *testing.T) {
	m, err := paxos.LookupMutant("basic/snapshot-drops-dedup")
	require.NoError(t, err)
	for _, n := range []int{3, 5} {
		caught := false
		for seed := uint64(1); seed <= 40 && !caught; seed++ {
			res, err := check.Run(check.Options{Protocol: "basic", New: m.New, Replicas: n, Seed: seed, Faults: check.AllFaults,
				Replica: paxos.Config{SnapshotEvery: 10}})
			require.NoError(t, err)
			caught = !res.OK()
		}
		assert.True(t, caught, "basic/snapshot-drops-dedup n=%d survived 40 seeds", n)
	}
}
