package multi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/multi"
)

// A routine snapshot may be written in the background: its Ready keeps
// its records, and restoring them after the snapshot gives the state the
// snapshot alone gives.
func TestRoutineSnapshotKeepsItsRecords(t *testing.T) {
	cfg := func(id int) paxos.Config {
		return paxos.Config{ID: paxos.NodeID(id), N: 3, InitialLeader: 0, Batch: 1, SnapshotEvery: 1}
	}
	lr, err := multi.New(cfg(0))
	require.NoError(t, err)
	lr.Ready()
	lr.Propose(paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "a", Value: "1"})
	var acc multi.Accept
	for _, m := range lr.Ready().Messages {
		if a, ok := m.Body.(multi.Accept); ok {
			acc = a
		}
	}
	require.Equal(t, uint64(1), acc.Slot, "the leader's first Accept")

	fr, err := multi.New(cfg(1))
	require.NoError(t, err)
	fr.Ready()
	from := paxos.NodeID(0)
	require.NoError(t, fr.Step(paxos.Message{From: from, To: 1, Body: acc}))
	fr.Ready()
	// The Accept of slot 2, then the commit of slot 1, in one Ready: the
	// slot 2 record comes before the snapshot that executing slot 1 takes.
	acc2 := multi.Accept{Ballot: acc.Ballot, Slot: 2, Cmds: []paxos.Command{{Client: 1, Seq: 2, Op: paxos.OpPut, Key: "b", Value: "2"}}}
	require.NoError(t, fr.Step(paxos.Message{From: from, To: 1, Body: acc2}))
	require.NoError(t, fr.Step(paxos.Message{From: from, To: 1, Body: multi.Commit{Ballot: acc.Ballot, Slot: 1, Cmds: acc.Cmds}}))
	rd := fr.Ready()
	rec, ok := rd.Snapshot.(multi.SnapshotRecord)
	require.True(t, ok, "executing slot 1 took a snapshot")
	assert.True(t, rec.BackgroundSnapshot(), "a routine snapshot")
	require.NotEmpty(t, rd.Persist, "its Ready keeps the slot 2 record")

	restore := func(recs []any) *multi.Replica {
		p := paxos.Persisted{Snapshot: rec, Records: recs}
		c := cfg(1)
		c.Restore = &p
		x, err := multi.New(c)
		require.NoError(t, err)
		return x.(*multi.Replica)
	}
	with, without := restore(rd.Persist), restore(nil)
	assert.Equal(t, without.Executed(), with.Executed())
	assert.Equal(t, without.LogLen(), with.LogLen())
	assert.Equal(t, without.SnapshotIndex(), with.SnapshotIndex())
	assert.Equal(t, uint64(1), with.Executed())
}
