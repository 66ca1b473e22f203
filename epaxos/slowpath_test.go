package epaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// TestSlowPathOnceFastQuorumLost: with F = 3 of 7 replicas silent (crashed,
// or rebuilding after lost disks) and the F+1 left answering with changed
// attributes, the command leader cannot reach a fast quorum any more and
// goes to Accept at once, without waiting for its impatient timeout: no
// tick is needed to commit. Before, each such instance stayed uncommitted
// for that timeout, and a recovery's TryPreAccept of an instance the silent
// replicas might have fast-committed kept meeting one of them at its
// leader and deferring (the paired disk losses' draft that wiped F replicas
// at once, seed 117 at N = 7, never finished).
func TestSlowPathOnceFastQuorumLost(t *testing.T) {
	nw := newNet(t, 7, nil)
	for _, i := range []int{4, 5, 6} {
		nw.Crash(i)
	}
	// Replicas 2 and 3 hold an interfering instance of replica 1 that the
	// leader, replica 0, does not know: their answers change its deps.
	nw.Propose(1, put(1, 1, "k", "a"))
	nw.Drop(and(replicatest.Is[PreAccept], to(0)))
	nw.Deliver(replicatest.Is[PreAccept])
	nw.Drop(nil)

	nw.Propose(0, put(2, 1, "k", "b"))
	nw.Deliver(and(from(0), replicatest.Is[PreAccept]))
	nw.Deliver(and(to(0), replicatest.Is[PreAcceptReply]))
	in := nw.rep(0).inst[0][1]
	require.NotNil(t, in)
	assert.Equal(t, StatusAccepted, in.status, "F+1 replies, fast quorum out of reach: Accept at once")
	nw.Deliver(nil)
	g := paxos.Instance{Replica: 0, Slot: 1}
	require.True(t, nw.allDecided(g)(), "committed without a tick")
	assert.Equal(t, uint64(1), nw.rep(0).inst[0][1].deps[1], "the slow path keeps the dependency the answers added")
}

// TestFastPathStillAwaited: while a fast quorum can still be reached, F+1
// unchanged replies do not end the wait for it.
func TestFastPathStillAwaited(t *testing.T) {
	nw := newNet(t, 7, nil)
	nw.Propose(0, put(2, 1, "k", "b"))
	nw.Deliver(and(from(0), replicatest.Is[PreAccept], to(1, 2, 3)))
	nw.Deliver(and(to(0), replicatest.Is[PreAcceptReply]))
	assert.Equal(t, StatusPreAccepted, nw.rep(0).inst[0][1].status, "four unchanged of a fast quorum of five: keep waiting")
	nw.Deliver(nil)
	assert.Equal(t, StatusCommitted, nw.rep(0).inst[0][1].status, "fast path")
	assert.Equal(t, uint64(1), nw.rep(0).Stats().FastPath)
}
