package multi_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
	"github.com/paxos-lab/paxos/multi"
)

// catchUpRig is three replicas stepped by hand (leader 0, heartbeats every
// 2 ticks, only the leader ticks) that count the catch-ups the leader
// sends and can lose the Commits to replica 1.
type catchUpRig struct {
	c          *replicatest.Cluster
	loseCommit bool // lose the Commits and Chosens sent to replica 1
	catchUps   int  // CatchUps and InstallSnapshots sent to replica 1
	entries    int  // slots carried by the CatchUps sent to replica 1
}

const rigHeartbeat = 2

var commitTo1 = replicatest.And(replicatest.To(1), replicatest.Or(replicatest.Is[multi.Commit], replicatest.Is[multi.Chosen]))

func newCatchUpRig(t *testing.T) *catchUpRig {
	r := &catchUpRig{}
	r.c = replicatest.New(t, multi.New, paxos.Config{N: 3, InitialLeader: 0, HeartbeatTicks: rigHeartbeat, RetryTicks: 2, SnapshotEvery: -1})
	r.c.Lose = func(m paxos.Message) bool {
		if replicatest.To(1)(m) && replicatest.Or(replicatest.Is[multi.CatchUp], replicatest.Is[multi.InstallSnapshot])(m) {
			r.catchUps++
		}
		if c, ok := m.Body.(multi.CatchUp); ok && replicatest.To(1)(m) {
			r.entries += len(c.Entries)
		}
		return r.loseCommit && commitTo1(m)
	}
	r.c.Deliver(nil)
	return r
}

// commitThree has the leader commit three puts, delivering everything but
// the Commits to replica 1 (lost or left queued, as loseCommit says).
func (r *catchUpRig) commitThree(t *testing.T) {
	for i := uint64(1); i <= 3; i++ {
		r.c.Propose(0, put(1, i, "k", "v"))
	}
	r.c.Deliver(replicatest.Not(commitTo1))
	require.Len(t, r.c.ExecutedIDs(0), 3, "the leader executed the three puts")
	require.Empty(t, r.c.ExecutedIDs(1), "replica 1 has not learned the commits")
}

// heartbeat runs the leader to its next heartbeat and delivers everything
// but the Commits to replica 1.
func (r *catchUpRig) heartbeat() {
	r.c.Tick(0, rigHeartbeat)
	r.c.Deliver(replicatest.Not(commitTo1))
}

// TestCatchUpOnlyBehindAnEarlierHeartbeat: the leader catches a follower up
// only when the follower is behind the commit point of a heartbeat before
// the one it answers. A follower whose Commits are merely in flight when a
// heartbeat overtakes them (heartbeats are urgent) is sent nothing; one
// that lost them is caught up at the second heartbeat after the commits.
func TestCatchUpOnlyBehindAnEarlierHeartbeat(t *testing.T) {
	t.Run("in flight", func(t *testing.T) {
		r := newCatchUpRig(t)
		r.commitThree(t)
		r.heartbeat() // overtakes the queued Commits to replica 1
		assert.Equal(t, 0, r.catchUps, "a catch-up was sent for Commits still in flight")
		r.c.Deliver(nil) // the Commits arrive
		require.Len(t, r.c.ExecutedIDs(1), 3)
		for range 3 {
			r.heartbeat()
		}
		assert.Equal(t, 0, r.catchUps, "catch-ups sent to a follower that is up to date")
	})
	t.Run("truly behind", func(t *testing.T) {
		r := newCatchUpRig(t)
		r.loseCommit = true
		r.commitThree(t)
		r.loseCommit = false
		r.heartbeat() // announces the point before the commits
		assert.Equal(t, 0, r.catchUps, "caught up before a heartbeat interval passed")
		r.heartbeat() // announces the commits: replica 1 is behind it
		assert.Equal(t, 1, r.catchUps, "replica 1 lost its Commits and was not caught up")
		assert.Len(t, r.c.ExecutedIDs(1), 3, "the catch-up brought replica 1 the three puts")
		for range 3 {
			r.heartbeat()
		}
		assert.Equal(t, 1, r.catchUps, "catch-ups sent after replica 1 was up to date")
	})
}

// TestOneSlotCatchUpWhileExecuting: a follower behind the announced commit
// point that executed something since its previous heartbeat reply is
// lagging (its Commits are queued) more likely than missing anything, and
// its catch-up carries only the first slot it lacks; one that executed
// nothing is sent every slot it lacks ("truly behind" above).
func TestOneSlotCatchUpWhileExecuting(t *testing.T) {
	r := newCatchUpRig(t)
	r.commitThree(t)
	r.heartbeat() // announces the point before the commits
	i := slices.IndexFunc(r.c.Queue, commitTo1)
	require.GreaterOrEqual(t, i, 0, "a Commit to replica 1 is queued")
	m := r.c.Queue[i]
	r.c.Queue = slices.Delete(r.c.Queue, i, i+1)
	r.c.Step(m) // replica 1 executes the first put
	require.Len(t, r.c.ExecutedIDs(1), 1)
	r.heartbeat() // replica 1 is behind the announced point, but executing
	assert.Equal(t, 1, r.catchUps)
	assert.Equal(t, 1, r.entries, "the catch-up of a follower still executing carried more than the first slot it lacks")
	r.c.Deliver(nil)
	assert.Len(t, r.c.ExecutedIDs(1), 3)
}
