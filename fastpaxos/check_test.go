package fastpaxos_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	_ "github.com/paxos-lab/paxos/fastpaxos"
)

// Every fault, at N = 3, 5 and 7, with and without an initial leader: the
// checker finds nothing, and the runs did collide (fast rounds recovered by
// the leader, with rule O4 keeping a possibly chosen value) and recover,
// and replicas that lost their disk rebuilt.
func TestCheckFastPaxos(t *testing.T) {
	seeds := 15
	if testing.Short() {
		seeds = 4
	}
	for _, n := range []int{3, 5, 7} {
		for _, il := range []paxos.NodeID{0, -1} {
			cov := paxos.Coverage{}
			for seed := 1; seed <= seeds; seed++ {
				res, err := check.Run(check.Options{Protocol: "fastpaxos", Replicas: n, Seed: uint64(seed),
					Faults: check.AllFaults, Replica: paxos.Config{InitialLeader: il}})
				require.NoError(t, err)
				assert.True(t, res.OK(), "n=%d leader=%d seed %d: %v (completed %d/%d)", n, il, seed, res.Failures, res.Completed, res.Ops)
				cov.Add(res.Coverage)
			}
			keys := []string{"fast-chosen", "classic-chosen", "coordinated-recoveries", "o4-forced", "recoveries", "elections", "uncoordinated-votes", "uncoordinated-chosen"}
			if !testing.Short() {
				// Four seeds at N = 7 may draw no lost disk.
				keys = append(keys, "rebuilds", "rebuilds-done")
			}
			for _, k := range keys {
				assert.Positive(t, cov[k], "n=%d leader=%d: no %s in %d seeds", n, il, k, seeds)
			}
		}
	}
}

// With Config.Thrifty (coordinated recovery only: votes go to the leader
// and the proposer), every fault at N = 3, 5 and 7: the checker finds
// nothing, the leader recovers collisions at (term, 1), and no acceptor
// recovers by itself.
func TestCheckFastPaxosCoordinatedOnly(t *testing.T) {
	// Ten seeds even with -short: fewer draw no wipe at some size, and the
	// rebuild coverage below would fail for want of one (they take well
	// under a second).
	seeds := 10
	for _, n := range []int{3, 5, 7} {
		cov := paxos.Coverage{}
		for seed := 1; seed <= seeds; seed++ {
			res, err := check.Run(check.Options{Protocol: "fastpaxos", Replicas: n, Seed: uint64(seed),
				Faults: check.AllFaults, Replica: paxos.Config{Thrifty: true}})
			require.NoError(t, err)
			assert.True(t, res.OK(), "n=%d seed %d: %v (completed %d/%d)", n, seed, res.Failures, res.Completed, res.Ops)
			cov.Add(res.Coverage)
		}
		for _, k := range []string{"coordinated-recoveries", "o4-forced", "rebuilds-done"} {
			assert.Positive(t, cov[k], "n=%d: no %s in %d seeds", n, k, seeds)
		}
		assert.Zero(t, cov["uncoordinated-votes"], "n=%d", n)
	}
}

// With a snapshot every 10 slots, every fault at N = 3, 5 and 7: replicas
// snapshot, compact and catch up by snapshot, and the checker finds nothing.
func TestCheckFastPaxosSnapshots(t *testing.T) {
	seeds := 15
	if testing.Short() {
		seeds = 4
	}
	for _, n := range []int{3, 5, 7} {
		cov := paxos.Coverage{}
		for seed := 1; seed <= seeds; seed++ {
			res, err := check.Run(check.Options{Protocol: "fastpaxos", Replicas: n, Seed: uint64(seed),
				Faults: check.AllFaults, Replica: paxos.Config{SnapshotEvery: 10}})
			require.NoError(t, err)
			assert.True(t, res.OK(), "n=%d seed %d: %v (completed %d/%d)", n, seed, res.Failures, res.Completed, res.Ops)
			cov.Add(res.Coverage)
		}
		for _, k := range []string{"snapshots", "snapshots-sent", "snapshot-installs"} {
			assert.Positive(t, cov[k], "n=%d: no %s in %d seeds", n, k, seeds)
		}
	}
}

// The planted bugs of the catalog are caught within a few seeds.
func TestCheckCatchesPlantedBugs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		seeds int
		every int
	}{
		{"fastpaxos/snapshot-drops-dedup", 3, 40, 10},
		{"fastpaxos/snapshot-drops-dedup", 5, 40, 10},
		{"fastpaxos/recovery-ignores-fast-votes", 5, 40, 0},
		{"fastpaxos/recovery-ignores-fast-votes", 7, 40, 0},
		{"fastpaxos/fast-quorum-too-small", 3, 10, 0},
		{"fastpaxos/fast-quorum-too-small", 5, 10, 0},
		{"fastpaxos/uncoordinated-round-as-classic", 5, 40, 0},
		{"fastpaxos/wiped-votes-at-once", 3, 10, 0},
		{"fastpaxos/wiped-votes-at-once", 5, 10, 0},
	} {
		m, err := paxos.LookupMutant(tc.name)
		require.NoError(t, err)
		caught := false
		for seed := 1; seed <= tc.seeds && !caught; seed++ {
			res, err := check.Run(check.Options{Protocol: "fastpaxos", New: m.New, Replicas: tc.n, Seed: uint64(seed), Faults: check.AllFaults,
				Replica: paxos.Config{SnapshotEvery: tc.every}})
			require.NoError(t, err)
			caught = !res.OK()
		}
		assert.True(t, caught, "%s n=%d survived %d seeds", tc.name, tc.n, tc.seeds)
	}
}
