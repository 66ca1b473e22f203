package multi_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
	"github.com/paxos-lab/paxos/multi"
)

// With every command on a new key, routine snapshots grow apart (each
// waits for as many commands as the store held keys at the previous one),
// but the log keeps only SnapshotEvery executed slots below the execution
// point in between: execution drops the older ones as it passes them.
func TestLogKeepsATailBetweenSnapshots(t *testing.T) {
	const every = 10
	c := newMemCluster(t, every)
	key := func(i int) string { return fmt.Sprintf("key-%06d", i) }
	c.push(0, 60_000, key)
	for i, r := range c.reps {
		require.Equal(t, c.reps[0].Executed(), r.Executed(), "replica %d executed every slot", i)
		require.Greater(t, r.Executed()-r.SnapshotIndex(), uint64(4*every),
			"replica %d snapshotted recently: the test needs more slots since its latest snapshot than the tail", i)
		assert.LessOrEqual(t, r.LogLen(), every, "replica %d's log holds more than SnapshotEvery executed slots", i)
	}
}

// With snapshots off, the log is the only way to catch a peer up: nothing
// is dropped.
func TestLogKeptWholeWithoutSnapshots(t *testing.T) {
	c := newMemCluster(t, -1)
	c.push(0, 6400, func(i int) string { return fmt.Sprintf("key-%06d", i) })
	for i, r := range c.reps {
		require.Equal(t, c.reps[0].Executed(), r.Executed(), "replica %d executed every slot", i)
		require.GreaterOrEqual(t, r.Executed(), uint64(100))
		assert.Equal(t, int(r.Executed()), r.LogLen(), "replica %d dropped slots with snapshots off", i)
	}
}

// trimRig is three replicas stepped by hand, snapshots every 4 slots,
// replica 1 cut off for the last 10 of 50 puts on distinct keys: the
// leader snapshots at slots 4, 8, 16 and 32 (each after as many commands
// as the store held keys at the one before) and its log keeps slots
// 47-50, so replica 1 (at 40) is past the leader's latest snapshot but
// before its log. It records the snapshots and catch-up entries sent to
// replica 1 once it is reconnected.
type trimRig struct {
	c        *replicatest.Cluster
	cut      bool
	installs []multi.Snapshot // InstallSnapshots to replica 1
	promised []multi.Snapshot // snapshots in Promises to replica 1
	entries  int              // slots carried by CatchUps to replica 1
}

const trimEvery, trimPuts, trimBefore = 4, 50, 40

func newTrimRig(t *testing.T) *trimRig {
	r := &trimRig{}
	r.c = replicatest.New(t, multi.New, paxos.Config{N: 3, InitialLeader: 0, HeartbeatTicks: 2, RetryTicks: 2, SnapshotEvery: trimEvery})
	r.c.Lose = func(m paxos.Message) bool {
		if r.cut {
			return m.To == 1 || m.From == 1
		}
		if m.To != 1 {
			return false
		}
		switch b := m.Body.(type) {
		case multi.InstallSnapshot:
			r.installs = append(r.installs, b.Snapshot)
		case multi.Promise:
			if b.Snapshot != nil {
				r.promised = append(r.promised, *b.Snapshot)
			}
		case multi.CatchUp:
			r.entries += len(b.Entries)
		}
		return false
	}
	r.c.Deliver(nil)
	for i := uint64(1); i <= trimPuts; i++ {
		r.cut = i > trimBefore
		r.c.Propose(0, put(1, i, fmt.Sprint("key-", i), "v"))
		r.c.Deliver(nil)
	}
	r.cut = false
	require.Equal(t, uint64(trimBefore), r.rep(1).Executed())
	leader := r.rep(0)
	require.Equal(t, uint64(trimPuts), leader.Executed())
	require.Less(t, leader.SnapshotIndex(), uint64(trimBefore))
	require.Less(t, uint64(trimBefore+trimEvery), leader.Executed())
	require.LessOrEqual(t, leader.LogLen(), trimEvery)
	return r
}

func (r *trimRig) rep(i int) *multi.Replica { return r.c.Replica(i).(*multi.Replica) }

// checkCaughtUp checks that replica 1 executed every put, the ones after
// trimBefore through the snapshot (none executed one by one), and then
// executes a new command on the state the snapshot gave it.
func (r *trimRig) checkCaughtUp(t *testing.T, leader int) {
	require.Equal(t, uint64(trimPuts), r.rep(1).Executed())
	assert.Empty(t, r.c.Invariants())
	r.c.Propose(leader, put(1, trimPuts+1, "key-1", "w"))
	r.c.Deliver(nil)
	ids := r.c.ExecutedIDs(1)
	require.Len(t, ids, trimBefore+1)
	assert.Equal(t, paxos.CommandID{Client: 1, Seq: trimBefore}, ids[trimBefore-1])
	assert.Equal(t, paxos.CommandID{Client: 1, Seq: trimPuts + 1}, ids[trimBefore])
}

// A follower behind the leader's log, but past its latest routine
// snapshot, is caught up with a snapshot of the leader's store at its
// execution point (the routine one no longer meets the log).
func TestCatchUpAcrossDroppedSlots(t *testing.T) {
	r := newTrimRig(t)
	for range 10 {
		r.c.Tick(0, 1)
		r.c.Deliver(nil)
	}
	require.NotEmpty(t, r.installs, "replica 1 was not caught up by snapshot")
	assert.Equal(t, uint64(trimPuts), r.installs[0].Index, "the snapshot is the leader's store at its execution point")
	assert.Zero(t, r.entries, "catch-up sent slots")
	r.checkCaughtUp(t, 0)
}

// A candidate whose commit point is behind a promiser's log, but past the
// promiser's latest routine snapshot, gets a snapshot at the promiser's
// execution point with the Promise.
func TestPromiseAcrossDroppedSlots(t *testing.T) {
	r := newTrimRig(t)
	for k := 0; k < 100 && !r.rep(1).IsLeader(); k++ {
		r.c.Tick(1, 1)
		r.c.Deliver(nil)
	}
	require.True(t, r.rep(1).IsLeader(), "replica 1 was not elected")
	require.NotEmpty(t, r.promised, "no Promise carried a snapshot")
	assert.Equal(t, uint64(trimPuts), r.promised[0].Index, "the snapshot is the promiser's store at its execution point")
	r.checkCaughtUp(t, 1)
}
