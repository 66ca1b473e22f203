package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// held is the held messages' injector, as the tests below run it.
var held = injector{FaultReorder, injectHeldMessages}

// The held messages, alone, keep correct protocols correct.
func TestHeldMessagesKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
		for _, n := range []int{3, 5} {
			for seed := uint64(1); seed <= 4; seed++ {
				assert.Empty(t, runAlone(t, held, proto, nil, n, seed).Failures, "%s n=%d seed=%d", proto, n, seed)
			}
		}
	}
}

// The held messages alone catch an EPaxos replica that lets a PreAccept
// arriving after the Accept of its ballot replace its Accept vote within a
// few seeds at N = 3, where they catch it in about one run in four (81 of
// the first 300 seeds); the search without
// them caught it in 1 of 500 seeds at N = 3 and none at N = 5.
func TestHeldMessagesCatchLatePreAcceptOverwritesAccept(t *testing.T) {
	m, err := paxos.LookupMutant("epaxos/late-preaccept-overwrites-accept")
	require.NoError(t, err)
	for seed := uint64(1); seed <= 30; seed++ {
		if res := runAlone(t, held, "", &m, 3, seed); !res.OK() {
			assert.Contains(t, res.Failures[0], "decided twice", "seed %d", seed)
			t.Logf("caught at seed %d", seed)
			return
		}
	}
	t.Error("survived 30 seeds")
}

// heldAlone takes about one run in heldShare among runs without leases
// that inject reordering or crashes, and leaves every other run (with
// leases, or with neither) as it was.
func TestHeldAloneTakesAShareOfReorderOrCrashRuns(t *testing.T) {
	on := []injector{{FaultCrash, injectCrashes}, {FaultRecovery, injectRecovery}}
	reorder := map[string]bool{FaultCrash: true}
	taken := 0
	for seed := uint64(1); seed <= 800; seed++ {
		switch out := heldAlone(on, reorder, seed, 5, 0); {
		case len(out) == 1 && out[0].is(injectHeldMessages):
			taken++
		default:
			assert.Equal(t, len(on), len(out))
		}
		assert.Equal(t, len(on), len(heldAlone(on, reorder, seed, 5, 6)))
		assert.Equal(t, len(on), len(heldAlone(on, map[string]bool{FaultDrop: true, FaultPartition: true}, seed, 5, 0)))
	}
	assert.InDelta(t, 800/heldShare, taken, 40)
}
