package sim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	_ "github.com/paxos-lab/paxos/protocols"
	"github.com/paxos-lab/paxos/sim"
)

// TestWipe: a wiped replica restarts at once, from nothing, with
// Config.Rebuild; what it persists from then on survives a plain restart.
func TestWipe(t *testing.T) {
	s, err := sim.New(sim.Config{Protocol: "multi", N: 3, Seed: 1, RTT: sim.Uniform(3, 10)})
	require.NoError(t, err)
	s.Run(100 * time.Millisecond)
	require.NotEmpty(t, s.Persisted(1).Records, "replica 1 persisted its initial promise")

	require.NoError(t, s.Wipe(1))
	require.True(t, s.Alive(1))
	require.Equal(t, 1, s.Incarnation(1))
	p := s.Persisted(1)
	require.Nil(t, p.Snapshot)
	require.Len(t, p.Records, 1, "only what the new incarnation persisted: its rebuild marker")
	rb, ok := s.Replica(1).(paxos.Rebuilder)
	require.True(t, ok)
	require.True(t, rb.Rebuilding())

	// A crashed replica can be wiped too; a plain restart then resumes.
	require.NoError(t, s.Crash(1))
	require.NoError(t, s.Restart(1))
	require.True(t, s.Replica(1).(paxos.Rebuilder).Rebuilding())
	require.NoError(t, s.Crash(1))
	require.NoError(t, s.Wipe(1))
	require.Equal(t, 3, s.Incarnation(1))

	require.ErrorIs(t, s.Wipe(7), sim.ErrReplica)
	require.ErrorIs(t, s.Wipe(paxos.NodeID(-1)), sim.ErrReplica)
}
