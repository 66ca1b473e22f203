package multi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/multi"
)

// TestShortCommitToAcceptorsThatAcknowledged: the leader sends the short
// commit (Chosen) to the replica whose Accepted it holds and the full
// Commit to the other.
func TestShortCommitToAcceptorsThatAcknowledged(t *testing.T) {
	r, err := multi.New(paxos.Config{N: 3, ID: 0, InitialLeader: 0})
	require.NoError(t, err)
	r.Propose(put(1, 1, "a", "b"))
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
	assert.Equal(t, map[paxos.NodeID]any{
		1: multi.Chosen{Ballot: acc.Ballot, Slot: acc.Slot},
		//lint:ignore S1016 the expected Commit, spelled out rather than converted from the Accept
		2: multi.Commit{Ballot: acc.Ballot, Slot: acc.Slot, Cmds: acc.Cmds},
	}, got)
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
