package sim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// TestObserveActsBeforeMessagesLeave: an observer that cuts links when a
// replica is proposed a command keeps that step's messages from the cut
// peers, and it sees the proposal and, for messages, the input.
func TestObserveActsBeforeMessagesLeave(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 3, RTT: sim.Uniform(3, 10), Record: true})
	var proposals, inputs int
	s.Observe(func(o sim.Output) {
		if o.Proposed != nil {
			proposals++
			assert.Equal(t, uint64(1), o.Proposed.Seq)
			assert.Len(t, o.Ready.Messages, 3)
			require.NoError(t, s.Cut(o.Replica, 2))
		}
		if o.Input != nil {
			inputs++
			assert.Equal(t, o.Replica, o.Input.To)
		}
	})
	require.NoError(t, s.Propose(0, cmd(1, 1)))
	s.Run(time.Second)
	assert.Equal(t, 1, proposals)
	assert.Equal(t, 2, inputs, "replicas 0 and 1 handled the ping")
	assert.Equal(t, 1, countAt(s, 0))
	assert.Equal(t, 1, countAt(s, 1))
	assert.Zero(t, countAt(s, 2), "the cut made by the observer applied to the proposal's own messages")

	s.Observe(nil)
	s.Heal()
	require.NoError(t, s.Propose(0, cmd(1, 2)))
	s.Run(2 * time.Second)
	assert.Equal(t, 1, countAt(s, 2))
}

// TestHealLinkHealsOneLink: HealLink restores one direction of one link and
// leaves the other cuts in place.
func TestHealLinkHealsOneLink(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 3, RTT: sim.Uniform(3, 10), Record: true})
	require.NoError(t, s.Cut(0, 1))
	require.NoError(t, s.Cut(0, 2))
	require.NoError(t, s.HealLink(0, 1))
	require.NoError(t, s.Propose(0, cmd(1, 1)))
	s.Run(time.Second)
	assert.Equal(t, 1, countAt(s, 1))
	assert.Zero(t, countAt(s, 2))
	require.ErrorIs(t, s.HealLink(0, 3), sim.ErrReplica)
}

// TestPauseQueuesAndResumes: a paused replica handles nothing and does not
// tick; what reaches it meanwhile is handled, in order, when it resumes.
func TestPauseQueuesAndResumes(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 2, RTT: sim.Uniform(2, 10), Tick: ms, Record: true})
	require.NoError(t, s.Pause(1, 100*ms))
	require.NoError(t, s.Propose(0, cmd(1, 1)))
	require.NoError(t, s.Propose(0, cmd(1, 2)))
	s.Run(50 * ms)
	assert.Zero(t, countAt(s, 1), "paused")
	ticks := s.Replica(1).(*echo).ticks
	assert.Zero(t, ticks, "no ticks while paused")
	s.Run(200 * ms)
	assert.Equal(t, []string{"1@100ms", "2@100ms"}, execs(s, 1), "both pings handled at resume, in order")
	assert.Positive(t, s.Replica(1).(*echo).ticks)

	require.NoError(t, s.Crash(1))
	require.ErrorIs(t, s.Pause(1, ms), sim.ErrReplica)
	require.ErrorIs(t, s.Pause(7, ms), sim.ErrReplica)
}

// counting is an echo replica that reports how many pings it handled as
// coverage.
type counting struct {
	*echo
	pings uint64
}

func (c *counting) Step(m paxos.Message) error {
	c.pings++
	return c.echo.Step(m)
}

func (c *counting) Coverage() paxos.Coverage { return paxos.Coverage{"pings": c.pings} }

// TestCoverageSumsIncarnations: Coverage adds the counts of crashed
// incarnations to those of the running ones.
func TestCoverageSumsIncarnations(t *testing.T) {
	newCounting := func(cfg paxos.Config) (paxos.Replica, error) {
		r, err := newEcho(cfg)
		if err != nil {
			return nil, err
		}
		return &counting{echo: r.(*echo)}, nil
	}
	s := newSim(t, sim.Config{New: newCounting, N: 2, RTT: sim.Uniform(2, 10)})
	require.NoError(t, s.Propose(0, cmd(1, 1)))
	s.Run(100 * ms)
	assert.Equal(t, paxos.Coverage{"pings": 2}, s.Coverage())
	require.NoError(t, s.Crash(1))
	require.NoError(t, s.Restart(1))
	require.NoError(t, s.Propose(0, cmd(1, 2)))
	s.Run(200 * ms)
	assert.Equal(t, paxos.Coverage{"pings": 4}, s.Coverage(), "the crashed incarnation's ping still counts")

	plain := newSim(t, sim.Config{New: newEcho, N: 2})
	assert.Empty(t, plain.Coverage())
}
