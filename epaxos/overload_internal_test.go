package epaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// preAccepts returns the queued PreAccepts of instance id, by destination.
func (nw *tnet) preAccepts(id paxos.Instance) map[paxos.NodeID]int {
	out := map[paxos.NodeID]int{}
	for _, m := range nw.Queue {
		if pa, ok := m.Body.(PreAccept); ok && pa.Inst == id {
			out[m.To]++
		}
	}
	return out
}

// With Batch > 1 a command goes out at once when nothing is in flight; while
// an instance is in flight, a partial batch waits for the next Tick, and a
// full one goes at once.
func TestBatchWaitsOnlyWhileInFlight(t *testing.T) {
	nw := newNet(t, 3, func(c *paxos.Config) { c.Batch = 4 })
	nw.Propose(0, put(1, 1, "a", "1"))
	first := paxos.Instance{Replica: 0, Slot: 1}
	require.Equal(t, map[paxos.NodeID]int{1: 1, 2: 1}, nw.preAccepts(first), "nothing in flight: no waiting")

	nw.Propose(0, put(1, 2, "b", "2"))
	nw.Propose(0, put(1, 3, "c", "3"))
	second := paxos.Instance{Replica: 0, Slot: 2}
	assert.Empty(t, nw.preAccepts(second), "one instance in flight: the partial batch waits")
	assert.Equal(t, 2, nw.rep(0).Stats().Waiting)

	nw.Tick(0, 1)
	require.Len(t, nw.preAccepts(second), 2, "the next tick flushes the partial batch")
	for _, m := range nw.Queue {
		if pa, ok := m.Body.(PreAccept); ok && pa.Inst == second {
			assert.Len(t, pa.Cmds, 2)
		}
	}
	for s := uint64(4); s <= 7; s++ {
		nw.Propose(0, put(1, s, "d", "4"))
	}
	assert.Len(t, nw.preAccepts(paxos.Instance{Replica: 0, Slot: 3}), 2, "a full batch goes at once")
	assert.Equal(t, 0, nw.rep(0).Stats().Waiting)

	nw.Deliver(nil)
	assert.Len(t, nw.AllCommitted(), 7)
	assert.Len(t, nw.Decided, 3)
	assert.Equal(t, 0, nw.rep(0).Stats().InFlight)
}

// Config.Window bounds a command leader's uncommitted instances; the
// proposals beyond it wait and go out as earlier instances commit.
func TestWindowBoundsInFlight(t *testing.T) {
	nw := newNet(t, 3, func(c *paxos.Config) { c.Window = 2 })
	for s := uint64(1); s <= 5; s++ {
		nw.Propose(0, put(1, s, "k", "v"))
	}
	st := nw.rep(0).Stats()
	assert.Equal(t, 2, st.InFlight)
	assert.Equal(t, 3, st.Waiting)
	assert.Empty(t, nw.preAccepts(paxos.Instance{Replica: 0, Slot: 3}))

	nw.Deliver(nil)
	assert.Len(t, nw.AllCommitted(), 5, "the waiting proposals went out as the window opened")
	st = nw.rep(0).Stats()
	assert.Equal(t, 0, st.InFlight)
	assert.Equal(t, 0, st.Waiting)
}

// A command leader resends a PreAccept to a replica that is alive (heard
// from) only on evidence of loss: the replica answered a round started
// after the PreAccept was sent. Without it, the reply is presumed queued.
func TestRetransmitWaitsForEvidenceOfLoss(t *testing.T) {
	nw := newNet(t, 5, func(c *paxos.Config) { c.RetryTicks = 2 })
	a := paxos.Instance{Replica: 0, Slot: 1}
	nw.Propose(0, put(1, 1, "a", "1"))
	require.Len(t, nw.preAccepts(a), 4)
	// The peers' Watermarks keep replica 0 hearing from them; the
	// PreAccepts of a stay queued, unanswered.
	round := func() {
		nw.Tick(0, 1)
		for p := 1; p < 5; p++ {
			nw.Tick(p, 1)
		}
		nw.Deliver(and(replicatest.Is[Watermark], to(0)))
	}
	for i := 0; i < 3; i++ {
		round()
	}
	assert.Equal(t, map[paxos.NodeID]int{1: 1, 2: 1, 3: 1, 4: 1}, nw.preAccepts(a), "replies presumed queued: nothing resent")
	assert.Zero(t, nw.rep(0).Stats().Resent)

	// Replica 1 answers instance b, started after a's PreAccept: its copy of
	// a (or the reply) must have been lost.
	b := paxos.Instance{Replica: 0, Slot: 2}
	nw.Propose(0, put(1, 2, "b", "2"))
	nw.Deliver(func(m paxos.Message) bool {
		pa, ok := m.Body.(PreAccept)
		return ok && pa.Inst == b && m.To == 1
	})
	nw.Deliver(and(replicatest.Is[PreAcceptReply], from(1)))
	round()
	assert.Equal(t, map[paxos.NodeID]int{1: 2, 2: 1, 3: 1, 4: 1}, nw.preAccepts(a), "resent to replica 1 only")
	assert.Equal(t, uint64(1), nw.rep(0).Stats().Resent)

	nw.Deliver(nil)
	assert.Len(t, nw.AllCommitted(), 2)
}

// A client's retry of a command that already executed here is answered at
// once, as a Duplicate, without a new instance.
func TestRetryOfExecutedCommandAnsweredAtOnce(t *testing.T) {
	nw := newNet(t, 3, nil)
	cmd := put(1, 1, "k", "v")
	nw.Propose(0, cmd)
	nw.Deliver(nil)
	require.Len(t, nw.Decided, 1)
	before := len(nw.Executed[1])
	nw.Propose(1, cmd)
	assert.Empty(t, nw.Queue, "no new instance")
	require.Len(t, nw.Executed[1], before+1)
	assert.Equal(t, paxos.Execution{Command: cmd, Duplicate: true}, nw.Executed[1][before])
}

// Recovery waits longer when this replica's own instances show that
// commits have become slow (queueing under load), and not otherwise.
func TestRecoveryDelayFollowsCommitLatency(t *testing.T) {
	nw := newNet(t, 3, nil)
	r := nw.rep(1)
	in := &instance{}
	base := uint64(recoverAfter * nw.Config.RetryTicks)
	for i := 0; i < 20; i++ {
		d := r.recoveryDelay(in)
		require.GreaterOrEqual(t, d, base)
		require.LessOrEqual(t, d, 2*base)
	}
	// Replica 1 leads instances that take 100 ticks to commit.
	for s := uint64(1); s <= 30; s++ {
		nw.Propose(1, put(1, s, "k", "v"))
		nw.TickAll(100)
		nw.Deliver(nil)
	}
	require.Len(t, nw.AllCommitted(), 30)
	for i := 0; i < 20; i++ {
		assert.GreaterOrEqual(t, r.recoveryDelay(in), uint64(slowFactor*90), "recovery must wait several commit latencies")
	}
}

// A command waiting for a batch that executes here meanwhile (a client's
// retry proposed to another replica) is dropped when the batch goes out,
// though the store found it unexecuted when it was proposed.
func TestWaitingCommandExecutedMeanwhileDropped(t *testing.T) {
	nw := newNet(t, 3, func(c *paxos.Config) { c.Batch = 4 })
	nw.Propose(0, put(1, 1, "a", "1"))
	b := put(1, 2, "b", "2")
	nw.Propose(0, b)
	require.Equal(t, 1, nw.rep(0).Stats().Waiting, "one instance in flight: b waits")
	require.True(t, nw.rep(0).batchChecked)

	// The retry of b at replica 1 commits and executes at replica 0 (its
	// PreAccepts answered by replica 2 alone; replica 0's own instance
	// stays in flight).
	nw.Propose(1, b)
	nw.Deliver(func(m paxos.Message) bool { return m.From == 1 || m.From == 2 && m.To == 1 })
	require.False(t, nw.rep(0).batchChecked)
	executed := false
	for _, e := range nw.Executed[0] {
		executed = executed || e.Command.ID() == b.ID()
	}
	require.True(t, executed, "b executed at replica 0")

	nw.Tick(0, 1)
	assert.Empty(t, nw.preAccepts(paxos.Instance{Replica: 0, Slot: 2}), "b is not led again")
	assert.Zero(t, nw.rep(0).Stats().Waiting)
}
