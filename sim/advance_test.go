package sim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Advance ticks a running replica at once, as many times as asked, and
// leaves its schedule alone; a paused replica's clock stays frozen; a
// crashed replica or a count below one is an error.
func TestAdvanceTicksAtOnce(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 3, Tick: time.Second})
	ticks := func(id paxos.NodeID) int { return s.Replica(id).(*echo).ticks }
	s.Run(10 * time.Millisecond) // before anyone's first tick
	require.Equal(t, 0, ticks(1))
	require.NoError(t, s.Advance(1, 7))
	assert.Equal(t, 7, ticks(1))
	assert.Equal(t, 0, ticks(0))
	assert.Equal(t, 10*time.Millisecond, s.Now(), "no virtual time passes")

	require.NoError(t, s.Pause(2, time.Second))
	require.NoError(t, s.Advance(2, 3))
	assert.Equal(t, 0, ticks(2), "a paused clock is frozen")

	assert.ErrorIs(t, s.Advance(1, 0), sim.ErrReplica)
	assert.ErrorIs(t, s.Advance(5, 1), sim.ErrReplica)
	require.NoError(t, s.Crash(0))
	assert.ErrorIs(t, s.Advance(0, 1), sim.ErrReplica)
}

// A replica whose clock runs at rate r ticks r times as often as the
// others; a bad rate is refused.
func TestSetClockRate(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 2, Tick: 10 * time.Millisecond})
	require.NoError(t, s.SetClockRate(1, 1.25))
	s.Run(time.Second)
	ticks := func(id paxos.NodeID) int { return s.Replica(id).(*echo).ticks }
	assert.InDelta(t, 100, ticks(0), 1)
	assert.InDelta(t, 125, ticks(1), 1)
	assert.ErrorIs(t, s.SetClockRate(0, 3), sim.ErrReplica)
	assert.ErrorIs(t, s.SetClockRate(0, 0), sim.ErrReplica)
	assert.ErrorIs(t, s.SetClockRate(5, 1), sim.ErrReplica)
}
