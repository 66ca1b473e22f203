package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// diskPairs is the paired disk losses' injector, as the tests below run it.
var diskPairs = injector{FaultWipe, injectDiskPairs}

// The paired disk losses, alone, keep correct protocols correct at N = 5
// and 7 (they need two replicas without their disk and a quorum of others)
// and lose disks in every run.
func TestDiskPairsKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
		for _, n := range []int{5, 7} {
			for seed := uint64(1); seed <= uint64(8-n)/2+1; seed++ { // 2 seeds at N = 5, 1 at N = 7
				res := runAlone(t, diskPairs, proto, nil, n, seed)
				assert.Empty(t, res.Failures, "%s n=%d seed=%d", proto, n, seed)
				assert.Positive(t, res.Crashes, "%s n=%d seed=%d: no disk lost", proto, n, seed)
			}
		}
	}
}

// The paired disk losses alone catch a Multi-Paxos rebuild that counts the
// answers of peers rebuilding too within a few dozen seeds at N = 5; the
// search without them caught it in none of 500 seeds at N = 5 or 7.
func TestDiskPairsCatchRebuildCountingRebuildingPeers(t *testing.T) {
	m, err := paxos.LookupMutant("multi/rebuild-counts-rebuilding-peers")
	require.NoError(t, err)
	for seed := uint64(1); seed <= 40; seed++ {
		if res := runAlone(t, diskPairs, "", &m, 5, seed); !res.OK() {
			assert.Contains(t, res.Failures[0], "decided twice", "seed %d", seed)
			t.Logf("caught at seed %d", seed)
			return
		}
	}
	t.Error("survived 40 seeds")
}

// diskPairsAlone takes about one run in diskPairsShare among runs without
// leases that lose disks, from N = 5, and leaves every other run as it was.
func TestDiskPairsAloneTakesAShareOfWipeRuns(t *testing.T) {
	on := []injector{{FaultCrash, injectCrashes}, {FaultWipe, injectWipes}}
	wipes := map[string]bool{FaultCrash: true, FaultWipe: true}
	taken := 0
	for seed := uint64(1); seed <= 900; seed++ {
		switch out := diskPairsAlone(on, wipes, seed, 5, 0); {
		case len(out) == 1 && out[0].is(injectDiskPairs):
			taken++
		default:
			assert.Equal(t, len(on), len(out))
		}
		assert.Equal(t, len(on), len(diskPairsAlone(on, wipes, seed, 5, 6)))
		assert.Equal(t, len(on), len(diskPairsAlone(on, wipes, seed, 3, 0)))
		assert.Equal(t, len(on), len(diskPairsAlone(on, map[string]bool{FaultCrash: true}, seed, 5, 0)))
	}
	assert.InDelta(t, 900/diskPairsShare, taken, 45)
}
