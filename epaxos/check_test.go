package epaxos_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/epaxos"
	"github.com/paxos-lab/paxos/internal/longtest"
)

// Randomized checking in the simulator: linearizability, agreement on every
// instance, the same order of conflicting commands everywhere, and the
// dependency invariant, with crashes, partitions, loss, duplication and
// reordering, thrifty or not. (`paxos check --protocol epaxos` runs many
// more seeds.)
func TestCheckRandomized(t *testing.T) {
	faults, err := check.ParseFaults("all")
	require.NoError(t, err)
	seeds := 12
	if !longtest.Enabled() {
		seeds = 3
	}
	for _, n := range []int{3, 5} {
		for _, thrifty := range []bool{false, true} {
			for _, conflict := range []float64{0, 0.5} {
				for seed := uint64(1); seed <= uint64(seeds); seed++ {
					// Odd seeds also take frequent snapshots, so restarts
					// restore from a snapshot plus records.
					snap := 0
					if seed%2 == 1 {
						snap = 10
					}
					res, err := check.Run(check.Options{Protocol: "epaxos", New: epaxos.New, Replicas: n, Seed: seed,
						Faults: faults, Conflict: conflict, Replica: paxos.Config{Thrifty: thrifty, SnapshotEvery: snap}})
					require.NoError(t, err)
					require.Empty(t, res.Failures, "n=%d thrifty=%v conflict=%v seed=%d", n, thrifty, conflict, seed)
					assert.Equal(t, res.Ops, res.Completed, "n=%d thrifty=%v conflict=%v seed=%d: every operation completes once faults heal", n, thrifty, conflict, seed)
				}
			}
		}
	}
}

// Test 8: a deliberately unsafe EPaxos (a fast quorum of 3 at N=7, below a
// majority, so two conflicting commands can both take the fast path
// without seeing each other) is caught by the checker within 10 seeds.
func TestCheckCatchesUnsafeFastQuorum(t *testing.T) {
	m, err := paxos.LookupMutant("epaxos/minority-fast-quorum")
	require.NoError(t, err)
	unsafe := m.New
	faults, err := check.ParseFaults("all")
	require.NoError(t, err)
	caught := 0
	for seed := uint64(1); seed <= 10; seed++ {
		res, err := check.Run(check.Options{Protocol: "epaxos-unsafe", New: unsafe, Replicas: 7, Seed: seed, Faults: faults, Conflict: 0.5})
		require.NoError(t, err)
		if !res.OK() {
			caught++
		}
	}
	assert.Positive(t, caught, "the checker must catch the unsafe fast quorum")
	t.Logf("unsafe EPaxos caught in %d of 10 seeds", caught)
}

// Recovery under crashes of up to F replicas at once, 100% conflicts: the
// checker finds no violation, and recoveries do reach the TryPreAccept
// step (so the test exercises it).
func TestCheckRecoveryWithTryPreAccept(t *testing.T) {
	faults, err := check.ParseFaults("crash,drop,partition")
	require.NoError(t, err)
	var reps []*epaxos.Replica
	build := func(cfg paxos.Config) (paxos.Replica, error) {
		r, err := epaxos.NewReplica(cfg)
		reps = append(reps, r)
		return r, err
	}
	seeds := 30
	if !longtest.Enabled() {
		seeds = 10
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		res, err := check.Run(check.Options{Protocol: "epaxos", New: build, Replicas: 5, Seed: seed, Faults: faults, Conflict: 1, Clients: 8, Ops: 300})
		require.NoError(t, err)
		require.Empty(t, res.Failures, "seed %d", seed)
		require.Equal(t, res.Ops, res.Completed, "seed %d", seed)
	}
	var rec, tpa uint64
	for _, r := range reps {
		rec += r.Stats().Recoveries
		tpa += r.Stats().TryPreAccepts
	}
	t.Logf("%d recoveries, %d with TryPreAccept", rec, tpa)
	assert.Positive(t, tpa, "some recovery should have needed TryPreAccept")
}

// The three-replica shortcut is safe only when the PreAccept went to one
// replica: a leader that commits after one changed reply although its
// PreAccept went to both other replicas is caught by the checker (a
// recovery finds two different answers and may pick the other one).
func TestCheckCatchesShortcutWithPreAcceptToAll(t *testing.T) {
	m, err := paxos.LookupMutant("epaxos/shortcut-to-all")
	require.NoError(t, err)
	unsafe := m.New
	faults, err := check.ParseFaults("all")
	require.NoError(t, err)
	caught := 0
	// The default search catches it at seed 234 (paxos mutants); the
	// bound leaves room for changes to the search.
	for seed := uint64(1); seed <= 300 && caught == 0; seed++ {
		res, err := check.Run(check.Options{Protocol: "epaxos-unsafe", New: unsafe, Replicas: 3, Seed: seed, Faults: faults})
		require.NoError(t, err)
		if !res.OK() {
			caught++
			t.Logf("caught at seed %d: %s", seed, res.Failures[0])
		}
	}
	assert.Positive(t, caught, "the checker must catch the shortcut with PreAccept to both replicas within 300 seeds")
}
