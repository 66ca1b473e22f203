package nackcap_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/paxos-lab/paxos/internal/nackcap"
)

func TestAllowCapsEqualRefusalsPerPeerAndTick(t *testing.T) {
	c := nackcap.New[int](3)
	for i := range nackcap.PerTick {
		assert.True(t, c.Allow(1, 7, 5), "refusal %d of the tick", i+1)
	}
	assert.False(t, c.Allow(1, 7, 5), "one more of the same promise in the same tick")
	assert.True(t, c.Allow(2, 7, 5), "another peer counts apart")
	assert.True(t, c.Allow(1, 7, 6), "a different promise is news")
	assert.True(t, c.Allow(1, 7, 6))
	assert.False(t, c.Allow(1, 7, 6))
	assert.True(t, c.Allow(1, 8, 6), "the next tick starts again")
	// Tick 0 is a tick like any other (the stored tick is offset by one).
	z := nackcap.New[int](1)
	assert.True(t, z.Allow(0, 0, 0))
	assert.True(t, z.Allow(0, 0, 0))
	assert.False(t, z.Allow(0, 0, 0))
}
