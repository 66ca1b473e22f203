package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

func sameInjector(a, b injector) bool {
	return a.is(b.inject)
}

// moreQuiet leaves about half the runs that have several injectors as
// they were, turns the others into one quiet injector alone of the kinds
// the run injects, and leaves runs with leases, runs already down to one
// injector and runs without those kinds untouched.
func TestMoreQuietTurnsHalfTheRunsQuiet(t *testing.T) {
	has := map[string]bool{}
	for _, f := range AllFaults {
		has[f] = true
	}
	storm := append([]injector(nil), injectors...)
	for _, n := range []int{3, 5, 7} {
		quiet := 0
		for seed := uint64(1); seed <= 200; seed++ {
			on := moreQuiet(storm, has, seed, n, 0)
			if len(on) == len(storm) {
				continue
			}
			quiet++
			require.Len(t, on, 1)
			assert.True(t, slicesContainsInjector(moreQuietInjectors(n), on[0]), "n=%d seed %d", n, seed)
			assert.Len(t, moreQuiet(storm, has, seed, n, 6), len(storm), "leases: unchanged")
			assert.Len(t, moreQuiet(storm, map[string]bool{FaultDrop: true}, seed, n, 0), len(storm), "no quiet kind: unchanged")
		}
		assert.InDelta(t, 100, quiet, 25, "n=%d", n)
	}
	one := []injector{{FaultCrash, injectCrashes}}
	for seed := uint64(1); seed <= 20; seed++ {
		assert.Len(t, moreQuiet(one, has, seed, 5, 0), 1)
		assert.True(t, sameInjector(one[0], moreQuiet(one, has, seed, 5, 0)[0]))
	}
}

func slicesContainsInjector(ins []injector, in injector) bool {
	for _, x := range ins {
		if sameInjector(x, in) {
			return true
		}
	}
	return false
}

// At N = 7 the amnesiac bridges, which ran there in no run before
// moreQuiet, keep the correct protocols correct and live, and act: they
// crash replicas. The echoes join the swarm at N = 7 and the bridges stay
// out of it.
func TestQuietBridgesAtSevenKeepCorrectProtocolsCorrect(t *testing.T) {
	assert.Len(t, echoesOnly(persistInjectors), 1)
	assert.True(t, sameInjector(echoesOnly(persistInjectors)[0], injector{FaultDup, injectRejoinEchoes}))
	withInjectors(t, []injector{{FaultCrash, injectAmnesiacBridges}}, func() {
		for _, proto := range []string{"basic", "multi", "epaxos", "raft"} {
			crashes := 0
			for seed := uint64(1); seed <= 2; seed++ {
				res, err := Run(Options{Protocol: proto, Replicas: 7, Seed: seed, Faults: []string{FaultCrash},
					Replica: paxos.Config{InitialLeader: -1}})
				require.NoError(t, err)
				assert.True(t, res.OK(), "%s seed %d: %v", proto, seed, res.Failures)
				crashes += res.Crashes
			}
			assert.Positive(t, crashes, "%s: the bridges crashed nobody", proto)
		}
	})
}

// The default search (every fault, no other flag) catches a planted bug
// that survived 500 seeds at N = 7 before the rejoin echoes joined the
// swarm there: a Multi-Paxos replica that installs a snapshot older than
// its execution point (multi/stale-snapshot-install). It must stay within
// CI's 500-seed budget; today the first seed that catches it is 31.
func TestDefaultSearchCatchesStaleSnapshotInstallAtSeven(t *testing.T) {
	m, err := paxos.LookupMutant("multi/stale-snapshot-install")
	require.NoError(t, err)
	first := 0
	for seed := 1; seed <= 500 && first == 0; seed++ {
		res, err := Run(Options{New: m.New, Replicas: 7, Seed: uint64(seed), Faults: AllFaults,
			Replica: paxos.Config{InitialLeader: -1}})
		require.NoError(t, err)
		if !res.OK() {
			first = seed
		}
	}
	require.Positive(t, first, "multi/stale-snapshot-install at N = 7 survived 500 seeds")
	t.Logf("caught at seed %d", first)
}
