package sim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/sim"
)

// TestHoldKeepsBacklogUntilRelease: a held link loses nothing; on release
// new messages leave at once and the backlog after the given delay, in the
// order it was sent, reaching the incarnation running then.
func TestHoldKeepsBacklogUntilRelease(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 2, RTT: sim.Uniform(2, 10), Tick: ms, Record: true})
	require.NoError(t, s.Hold(0, 1))
	require.NoError(t, s.Hold(1, 1), "a replica's link to itself is never held")
	require.NoError(t, s.Propose(0, cmd(1, 1)))
	require.NoError(t, s.Propose(0, cmd(1, 2)))
	s.Run(40 * ms)
	assert.Empty(t, execs(s, 1), "held")
	require.NoError(t, s.Crash(1))
	require.NoError(t, s.Restart(1))
	require.NoError(t, s.Release(0, 1, 20*ms))
	require.NoError(t, s.Propose(0, cmd(1, 3)))
	s.Run(time.Second)
	assert.Equal(t, []string{"3@45ms", "1@65ms", "2@65ms"}, execs(s, 1), "new first, then the backlog in order, at the new incarnation")

	require.NoError(t, s.Release(0, 1, 0), "releasing a link not held does nothing")
	assert.ErrorIs(t, s.Hold(0, 2), sim.ErrReplica)
	assert.ErrorIs(t, s.Release(2, 0, 0), sim.ErrReplica)
	assert.ErrorIs(t, s.Release(0, 1, -ms), sim.ErrReplica)
}

// TestHealReleasesHeldLinks: Heal ends every hold, sending the backlog on.
func TestHealReleasesHeldLinks(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 2, RTT: sim.Uniform(2, 10), Tick: ms, Record: true})
	require.NoError(t, s.Hold(0, 1))
	require.NoError(t, s.Propose(0, cmd(1, 1)))
	s.Run(30 * ms)
	assert.Empty(t, execs(s, 1))
	s.Heal()
	s.Run(time.Second)
	assert.Equal(t, []string{"1@35ms"}, execs(s, 1))
}
