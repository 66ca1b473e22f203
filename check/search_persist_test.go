package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The amnesiac bridges and the rejoin echoes, with the random crashes that
// make replicas rejoin, keep the correct protocols correct (and live once
// they heal), and do act: they crash replicas in most runs.
func TestPersistFaultsKeepCorrectProtocolsCorrect(t *testing.T) {
	ins := []injector{{FaultCrash, injectCrashes}, {FaultCrash, injectAmnesiacBridges}, {FaultDup, injectRejoinEchoes}}
	withInjectors(t, ins, func() {
		for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
			for _, n := range []int{3, 5} {
				acted := 0
				for seed := uint64(1); seed <= 2; seed++ {
					res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultCrash, FaultDup},
						Replica: paxos.Config{InitialLeader: -1}})
					require.NoError(t, err)
					assert.True(t, res.OK(), "%s n=%d seed %d: %v", proto, n, seed, res.Failures)
					if res.Crashes > 0 {
						acted++
					}
				}
				assert.Positive(t, acted, "%s n=%d: no crash", proto, n)
			}
		}
	})
}

// firstKillWith returns the first seed of 1..k at which the injectors ins
// alone catch the planted bug name at size n, or 0.
func firstKillWith(t *testing.T, ins []injector, faults []string, name string, n, k int) int {
	t.Helper()
	m, err := paxos.LookupMutant(name)
	require.NoError(t, err)
	first := 0
	withInjectors(t, ins, func() {
		for seed := 1; seed <= k && first == 0; seed++ {
			res, err := Run(Options{New: m.New, Replicas: n, Seed: uint64(seed), Faults: faults,
				Replica: paxos.Config{InitialLeader: -1}})
			require.NoError(t, err)
			if !res.OK() {
				first = seed
			}
		}
	})
	return first
}

// The amnesiac bridges alone catch an acceptor that does not persist its
// promises (Multi-Paxos, N = 5), which the search caught near its 500-seed
// budget before them (seed 231; 33 since), and a follower that persists
// its acceptance only after its reply left (seed 259; 32 since): alone they
// catch the first at seed 1 and the second at seed 2, and 77 and 35 of the
// first 200 seeds.
func TestAmnesiacBridgesCatchLostAnswers(t *testing.T) {
	bridges := []injector{{FaultCrash, injectAmnesiacBridges}}
	for _, name := range []string{"multi/promise-not-persisted", "multi/accept-persisted-after-reply"} {
		first := firstKillWith(t, bridges, []string{FaultCrash}, name, 5, 20)
		assert.Positive(t, first, "%s survived 20 seeds", name)
		t.Logf("%s: caught at seed %d", name, first)
	}
}

// The rejoin echoes, with random crashes and the message faults, catch a
// replica that installs a snapshot older than its execution point
// (Multi-Paxos, N = 3), which the search caught at seed 301 before them (26
// since): here at seed 43.
func TestRejoinEchoesCatchStaleSnapshot(t *testing.T) {
	ins := []injector{{FaultCrash, injectCrashes}, {FaultDup, injectRejoinEchoes}}
	first := firstKillWith(t, ins, []string{FaultCrash, FaultDup}, "multi/stale-snapshot-install", 3, 60)
	assert.Positive(t, first, "multi/stale-snapshot-install survived 60 seeds")
	t.Logf("caught at seed %d", first)
}

// bridgesAlone keeps the bridges alone in about half the runs that drew
// them with others, and changes nothing in the runs that did not.
func TestBridgesAloneKeepsBridgesAlone(t *testing.T) {
	other := injector{FaultCrash, injectCrashes}
	bridges := injector{FaultCrash, injectAmnesiacBridges}
	isBridges := func(in injector) bool {
		return in.is(injectAmnesiacBridges)
	}
	alone := 0
	for seed := uint64(1); seed <= 200; seed++ {
		got := bridgesAlone([]injector{other, bridges}, seed)
		if len(got) == 1 {
			assert.True(t, isBridges(got[0]))
			alone++
		} else {
			assert.Len(t, got, 2)
		}
		assert.Len(t, bridgesAlone([]injector{other}, seed), 1)
		assert.Len(t, bridgesAlone([]injector{bridges}, seed), 1)
	}
	assert.InDelta(t, 100, alone, 30)
}
