package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The amnesiac bridges with their swings (search_swing.go) keep the correct
// protocols correct, and live once they heal: a bridge that forgets
// nothing it made durable may crash as often as it likes.
func TestSwingingBridgesKeepCorrectProtocolsCorrect(t *testing.T) {
	withInjectors(t, []injector{{FaultCrash, injectAmnesiacBridges}}, func() {
		for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
			for _, n := range []int{3, 5} {
				for seed := uint64(1); seed <= 6; seed++ {
					res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultCrash},
						Replica: paxos.Config{InitialLeader: -1}})
					require.NoError(t, err)
					assert.True(t, res.OK(), "%s n=%d seed %d: %v", proto, n, seed, res.Failures)
				}
			}
		}
	})
}

// The swings draw from a stream of their own, never swing in half the
// runs, and swing only while the split holds, at most their budget.
func TestBridgeSwingsBudget(t *testing.T) {
	never, some := 0, 0
	for seed := uint64(1); seed <= 200; seed++ {
		w := newBridgeSwings(seed)
		if w.p == 0 {
			never++
			assert.False(t, w.swing(0, 1))
			continue
		}
		some++
		assert.False(t, w.swing(5, 5), "the split no longer holds")
		left := w.left
		swung := 0
		for range 100 {
			if w.swing(0, 1) {
				swung++
			}
		}
		assert.Equal(t, left, swung, "seed %d", seed)
	}
	assert.InDelta(t, 100, never, 25)
	assert.InDelta(t, 100, some, 25)
}

// Raft's HardState persisted one Ready late (the vote a replica cast is
// on disk only after the next change of its HardState) survived most runs
// of the bridges: the replica forgot its vote for the rival half's
// candidate, but heard the first half again too late for the first half's
// candidate, or too early, with the rival leader's entries in its log. The
// swings catch it at N = 3 with the bridges alone in the first few seeds.
func TestSwingingBridgesCatchLateHardState(t *testing.T) {
	bridges := []injector{{FaultCrash, injectAmnesiacBridges}}
	first := firstKillWith(t, bridges, []string{FaultCrash}, "raft/hardstate-after-send", 3, 20)
	assert.Positive(t, first, "raft/hardstate-after-send survived 20 seeds of the bridges")
	t.Logf("caught at seed %d", first)
}
