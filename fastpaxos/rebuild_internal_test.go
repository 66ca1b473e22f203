package fastpaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// wipe replaces replica id by one that lost its disk, started with
// Config.Rebuild (or, for the planted bug, without it: it votes at once).
// Messages it sent before are dropped; those sent to it stay in flight.
func (c *cluster) wipe(id, leader paxos.NodeID, rebuild bool) {
	c.drop(func(m paxos.Message) bool { return m.From == id })
	c.disk[id] = nil
	r, err := newReplica(paxos.Config{ID: id, N: len(c.reps), InitialLeader: leader, Rebuild: rebuild, Thrifty: c.thrifty}, c.bug)
	require.NoError(c.t, err)
	c.reps[id], c.up[id] = r, true
	c.collect(id)
}

// A fast quorum {1, 2, 3, 4} chose A in slot 1 while the leader 0 voted B
// there (a collision), and only proposer 1 learned it. Then 1 crashes and
// 4 loses its disk, with 0's proposal of B still on its way to 4. The
// leader's coordinated recovery counts the fast round's votes as they come:
// its own B, 2's A, then 4's and 3's.
//
// A rebuilding 4 does not vote, so the leader's classic quorum of reports
// is {0: B, 2: A, 3: A}: A has 2 >= fast + m - n = 4 + 3 - 5 votes and rule
// O4 keeps it. A 4 that votes at once (the planted bug) votes B, the report
// set {0: B, 2: A, 4: B} gives B the 2 votes, and recovery chooses B over
// the chosen A.
func TestRebuildKeepsFastQuorumChoice(t *testing.T) {
	for _, rebuild := range []bool{true, false} {
		c := newCluster(t, 5, 0, bugs{})
		a, b := put(1, "A"), put(2, "B")
		c.propose(1, a)
		c.deliver(proposeFrom(1, 2, 3, 4))
		c.deliver(func(m paxos.Message) bool { return typ[Voted](m) && m.To == 1 })
		require.Equal(t, [][]paxos.Command{{a}}, c.valuesOf(1), "a fast quorum chose A")
		c.propose(0, b)
		c.crash(1)
		c.wipe(4, 0, rebuild)
		assert.Equal(t, rebuild, c.reps[4].Rebuilding())
		c.deliver(proposeFrom(0, 4))
		c.deliver(func(m paxos.Message) bool { return typ[Voted](m) && m.To == 0 && m.From == 2 })
		c.deliver(func(m paxos.Message) bool { return typ[Voted](m) && m.To == 0 && m.From == 4 })
		c.deliver(func(m paxos.Message) bool { return typ[Voted](m) && m.To == 0 && m.From == 3 })
		c.settle(60)
		if !rebuild {
			assert.Len(t, c.valuesOf(1), 2, "the planted bug chooses B over the chosen A")
			continue
		}
		assert.Equal(t, [][]paxos.Command{{a}}, c.valuesOf(1), "recovery kept A")
		assert.False(t, c.reps[4].Rebuilding(), "4 rebuilt")
		assert.Positive(t, c.reps[4].stats["rebuilds-done"])
		assert.Greater(t, c.reps[4].Executed(), uint64(1), "4 learned slot 1 and its own Nop above it")
		for _, rec := range c.disk[4] {
			if rr, ok := rec.(RebuildRecord); ok && rr.Done {
				return
			}
		}
		t.Fatal("no RebuildRecord{Done: true} on 4's disk")
	}
}

// A replica that crashes while rebuilding resumes the rebuild from its
// records, even without Config.Rebuild, and votes nothing until it ends.
func TestRebuildResumesAfterCrash(t *testing.T) {
	c := newCluster(t, 3, 0, bugs{})
	c.wipe(2, 0, true)
	require.True(t, c.reps[2].Rebuilding())
	c.crash(2)
	c.restart(2)
	require.True(t, c.reps[2].Rebuilding(), "restarted from RebuildRecord{} alone: still rebuilding")
	c.propose(2, put(1, "x"))
	c.settle(60)
	assert.False(t, c.reps[2].Rebuilding())
	assert.Equal(t, [][]paxos.Command{{put(1, "x")}}, c.valuesOf(1))
}
