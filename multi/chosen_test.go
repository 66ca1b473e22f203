package multi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
	"github.com/paxos-lab/paxos/multi"
)

// TestShortCommitToVotingReplicas: the leader sends the short commit
// (Chosen) to each replica that acknowledged the slot or acknowledged an
// earlier slot of its ballot (the Accept, sent to it before the Chosen on
// the same link, is there first), and the full Commit to a replica that
// has acknowledged nothing at its ballot (it may not vote at all: one
// rebuilding after a lost disk stores no Accept).
func TestShortCommitToVotingReplicas(t *testing.T) {
	r, err := multi.New(paxos.Config{N: 3, ID: 0, InitialLeader: 0})
	require.NoError(t, err)
	// commit proposes one put and acknowledges it from replica 1 only,
	// returning the Accept and the commits the leader sends, by receiver.
	commit := func(seq uint64) (multi.Accept, map[paxos.NodeID]any) {
		r.Propose(put(1, seq, "a", "b"))
		var acc multi.Accept
		for _, m := range r.Ready().Messages {
			if a, ok := m.Body.(multi.Accept); ok {
				acc = a
			}
		}
		require.NotZero(t, acc.Slot, "the leader sends Accepts")
		require.NoError(t, r.Step(paxos.Message{From: 1, To: 0, Body: multi.Accepted{Ballot: acc.Ballot, Slot: acc.Slot}}))
		got := map[paxos.NodeID]any{}
		for _, m := range r.Ready().Messages {
			switch m.Body.(type) {
			case multi.Chosen, multi.Commit:
				got[m.To] = m.Body
			}
		}
		return acc, got
	}
	acc, got := commit(1)
	assert.Equal(t, map[paxos.NodeID]any{
		1: multi.Chosen{Ballot: acc.Ballot, Slot: acc.Slot},
		//lint:ignore S1016 the expected Commit, spelled out rather than converted from the Accept
		2: multi.Commit{Ballot: acc.Ballot, Slot: acc.Slot, Cmds: acc.Cmds},
	}, got, "replica 2 has acknowledged nothing yet")
	// Replica 2's Accepted arrives after the commit: it votes at this ballot.
	require.NoError(t, r.Step(paxos.Message{From: 2, To: 0, Body: multi.Accepted{Ballot: acc.Ballot, Slot: acc.Slot}}))
	r.Ready()
	acc, got = commit(2)
	assert.Equal(t, map[paxos.NodeID]any{
		1: multi.Chosen{Ballot: acc.Ballot, Slot: acc.Slot},
		2: multi.Chosen{Ballot: acc.Ballot, Slot: acc.Slot},
	}, got, "replica 2 was sent the Accept and votes: a short commit")
}

// TestShortCommitAfterLostAccept: a replica that was sent a short commit
// for a slot whose Accept it lost ignores it and gets the slot by catch-up,
// and the cluster converges.
func TestShortCommitAfterLostAccept(t *testing.T) {
	c := replicatest.New(t, multi.New, paxos.Config{N: 3, InitialLeader: 0, HeartbeatTicks: 2, RetryTicks: 2, SnapshotEvery: -1})
	c.Deliver(nil)
	c.Propose(0, put(1, 1, "k", "v1"))
	c.Deliver(nil)
	require.Len(t, c.ExecutedIDs(2), 1, "replica 2 executed the first put")
	c.Propose(0, put(1, 2, "k", "v2"))
	require.Len(t, c.Drop(replicatest.And(replicatest.To(2), replicatest.Is[multi.Accept])), 1, "one Accept to replica 2 lost")
	chosen := 0
	c.Lose = func(m paxos.Message) bool {
		if replicatest.To(2)(m) {
			_, isCommit := m.Body.(multi.Commit)
			require.False(t, isCommit, "replica 2 votes at this ballot: no full Commit")
			if replicatest.Is[multi.Chosen](m) {
				chosen++
			}
		}
		return false
	}
	c.Deliver(nil)
	require.Equal(t, 1, chosen, "replica 2 was sent a short commit")
	require.Len(t, c.ExecutedIDs(0), 2, "the leader committed on replica 1's vote")
	require.Len(t, c.ExecutedIDs(2), 1, "replica 2 does not hold the value the Chosen names")
	catchUps := 0
	c.Lose = func(m paxos.Message) bool {
		if replicatest.And(replicatest.To(2), replicatest.Is[multi.CatchUp])(m) {
			catchUps++
		}
		return false
	}
	require.True(t, c.Settle(func() bool { return len(c.ExecutedIDs(2)) == 2 }, 10), "replica 2 never caught up")
	assert.Equal(t, 1, catchUps, "replica 2 learned the slot by catch-up")
	assert.Equal(t, c.ExecutedIDs(0), c.ExecutedIDs(2))
	assert.Empty(t, c.Invariants())
}

// TestShortCommitAtFollower: a follower executes the value it accepted on
// a short commit, ignores one for a value it does not hold, and refuses
// one not sent by the ballot's leader.
func TestShortCommitAtFollower(t *testing.T) {
	r, err := multi.New(paxos.Config{N: 3, ID: 1, InitialLeader: 0})
	require.NoError(t, err)
	b := multi.Ballot{Round: 1, Node: 0}
	cmd := put(1, 1, "a", "b")
	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: multi.Accept{Ballot: b, Slot: 1, Cmds: []paxos.Command{cmd}}}))
	r.Ready()
	require.ErrorIs(t, r.Step(paxos.Message{From: 2, To: 1, Body: multi.Chosen{Ballot: b, Slot: 1}}), paxos.ErrMalformed)
	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: multi.Chosen{Ballot: b, Slot: 3}}))
	assert.Empty(t, r.Ready().Executed, "slot 3 is not held: nothing to learn")
	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: multi.Chosen{Ballot: b, Slot: 1}}))
	rd := r.Ready()
	require.Len(t, rd.Executed, 1)
	assert.Equal(t, cmd, rd.Executed[0].Command)
}
