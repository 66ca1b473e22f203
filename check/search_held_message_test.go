package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
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

// heldAlone takes about one run in heldShare among runs without leases
// that inject reordering, and leaves every other run (with leases, or
// without reordering) as it was.
func TestHeldAloneTakesAShareOfReorderRuns(t *testing.T) {
	on := []injector{{FaultCrash, injectCrashes}, {FaultRecovery, injectRecovery}}
	reorder := map[string]bool{FaultCrash: true, FaultReorder: true}
	taken := 0
	for seed := uint64(1); seed <= 800; seed++ {
		switch out := heldAlone(on, reorder, seed, 5, 0); {
		case len(out) == 1 && out[0].is(injectHeldMessages):
			taken++
		default:
			assert.Equal(t, len(on), len(out))
		}
		assert.Equal(t, len(on), len(heldAlone(on, reorder, seed, 5, 6)))
		assert.Equal(t, len(on), len(heldAlone(on, map[string]bool{FaultCrash: true}, seed, 5, 0)))
	}
	assert.InDelta(t, 800/heldShare, taken, 40)
}
