package basic

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// snapCluster builds n replicas that snapshot every `every` executed slots.
func snapCluster(t *testing.T, n, every int) cluster {
	return cluster{replicatest.New(t, New, paxos.Config{N: n, Seed: 7, SnapshotEvery: every})}
}

// writes proposes count writes to key k at rotating replicas, one at a
// time, delivering each.
func (c cluster) writes(from, count int) {
	for i := from; i < from+count; i++ {
		c.Propose(i%c.N(), put(1, uint64(i+1), "k", fmt.Sprint("v", i+1)))
		c.Deliver(nil)
	}
}

// With snapshots every 10 slots, the slots and records a replica holds stay
// bounded however many commands it executed, and a restart from the
// snapshot and the records after it has the same state: it reads the
// last write and answers a retry from the restored dedup sessions.
func TestSnapshotsBoundLogAndRestart(t *testing.T) {
	c := snapCluster(t, 3, 10)
	c.writes(0, 300)
	for i, r := range c.reps() {
		require.Equal(t, uint64(300), r.Executed(), "replica %d", i)
		assert.LessOrEqual(t, r.LogLen(), 2*10+1, "replica %d keeps at most two intervals", i)
		assert.GreaterOrEqual(t, r.Base(), uint64(300-2*10), "replica %d", i)
		assert.Positive(t, r.Coverage()["snapshots"], "replica %d", i)
		require.IsType(t, SnapshotRecord{}, c.Persisted[i].Snapshot, "replica %d", i)
		assert.LessOrEqual(t, len(c.Persisted[i].Records), 4*10, "replica %d: records since its snapshot", i)
	}
	c.idle()

	c.Restart(1)
	r := c.rep(1)
	assert.Equal(t, uint64(300), r.Executed())
	c.Propose(1, put(1, 300, "k", "v300")) // a retry of the last write
	require.NotEmpty(t, c.Executed[1])
	last := c.Executed[1][len(c.Executed[1])-1]
	assert.True(t, last.Duplicate, "a retry after a restart from a snapshot is answered from the dedup sessions")
	assert.Empty(t, c.Queue, "and needs no consensus")
	c.Propose(1, get(2, 1, "k"))
	c.Deliver(nil)
	last = c.Executed[1][len(c.Executed[1])-1]
	assert.Equal(t, "v300", last.Output)
	c.writes(300, 50)
	for i, r := range c.reps() {
		assert.Equal(t, uint64(351), r.Executed(), "replica %d", i)
	}
	assert.Empty(t, c.Invariants())
}

// A replica cut off while the others executed and compacted many slots
// catches up by installing a snapshot: its catch-up request for a
// compacted slot is answered with InstallSnapshot, and it reads the
// latest write afterwards.
func TestLaggingReplicaCatchesUpBySnapshot(t *testing.T) {
	c := snapCluster(t, 3, 10)
	c.Lose = func(m paxos.Message) bool { return m.To == 2 || m.From == 2 }
	for i := 0; i < 200; i++ {
		c.Propose(i%2, put(1, uint64(i+1), "k", fmt.Sprint("v", i+1)))
		c.Deliver(nil)
	}
	require.Greater(t, c.rep(0).Base(), uint64(100))
	require.Zero(t, c.rep(2).Executed())
	c.Lose = nil
	ok := c.Settle(func() bool { return c.rep(2).Executed() >= 200 }, 500)
	require.True(t, ok, "replica 2 executed %d of 200", c.rep(2).Executed())
	assert.Positive(t, c.rep(2).Coverage()["snapshot-installs"])
	assert.Positive(t, c.rep(0).Coverage()["snapshots-sent"]+c.rep(1).Coverage()["snapshots-sent"])
	c.Propose(2, get(2, 1, "k"))
	c.Deliver(nil)
	last := c.Executed[2][len(c.Executed[2])-1]
	assert.Equal(t, "v200", last.Output)
	// It votes again in new slots.
	c.writes(200, 20)
	assert.Equal(t, uint64(221), c.rep(2).Executed(), "the read took a slot too")
	assert.Empty(t, c.Invariants())
	c.idle()
}

// A Prepare or Accept for a compacted slot gets a snapshot, never a vote,
// and creates no state for the slot; a Commit for one is ignored.
func TestCompactedSlotIsNeverVotedAgain(t *testing.T) {
	c := snapCluster(t, 3, 10)
	c.writes(0, 40)
	r := c.rep(0)
	require.Greater(t, r.Base(), uint64(1))
	c.Queue = nil
	high := Ballot{Round: 99, Node: 1}
	v := []paxos.Command{put(9, 1, "k", "other")}
	for _, body := range []any{
		Prepare{Slot: 1, Ballot: high},
		Accept{Slot: 1, Ballot: high, Value: v},
		Commit{Slot: 1, Value: v},
	} {
		require.NoError(t, r.Step(paxos.Message{From: 1, To: 0, Body: body}))
	}
	rd := r.Ready()
	assert.Nil(t, rd.Persist)
	require.Len(t, rd.Messages, 1, "one snapshot (at most one per RetryTicks), no Promise, Accepted or Nack")
	inst, ok := rd.Messages[0].Body.(InstallSnapshot)
	require.True(t, ok, "%T", rd.Messages[0].Body)
	assert.Equal(t, r.Executed(), inst.Snapshot.Index)
	_, exists := r.slots[1]
	assert.False(t, exists, "no state is created for a compacted slot")
	assert.Equal(t, uint64(40), r.Executed())

	// A snapshot behind the execution point is ignored; the replica's
	// state is unchanged.
	require.NoError(t, r.Step(paxos.Message{From: 1, To: 0, Body: InstallSnapshot{Snapshot: Snapshot{Index: 5}}}))
	assert.Equal(t, uint64(40), r.Executed())
	assert.Zero(t, r.Coverage()["snapshot-installs"])
}

// A replica restored from a snapshot record skips records about slots the
// snapshot covers, and refuses a record that is not basic's.
func TestRestoreFromSnapshotRecord(t *testing.T) {
	c := snapCluster(t, 3, 10)
	c.writes(0, 25)
	p := c.Persisted[0]
	rec, ok := p.Snapshot.(SnapshotRecord)
	require.True(t, ok)
	p.Records = append([]any{PromiseRecord{Slot: 1, Ballot: Ballot{Round: 50, Node: 2}}}, p.Records...)
	rep, err := New(paxos.Config{N: 3, ID: 0, SnapshotEvery: 10, Restore: &p})
	require.NoError(t, err)
	r := rep.(*Replica)
	assert.Equal(t, uint64(25), r.Executed())
	assert.Equal(t, rec.Snapshot.Index, r.Base())
	_, exists := r.slots[1]
	assert.False(t, exists)

	_, err = New(paxos.Config{N: 3, ID: 0, Restore: &paxos.Persisted{Snapshot: "junk"}})
	require.ErrorIs(t, err, ErrRestore)
	bad := SnapshotRecord{Snapshot: Snapshot{Index: 3}, Slots: []SlotRecord{{Slot: 4, Decided: true}}}
	_, err = New(paxos.Config{N: 3, ID: 0, Restore: &paxos.Persisted{Snapshot: &bad}})
	require.ErrorIs(t, err, ErrRestore, "a decided slot without a value")
}
