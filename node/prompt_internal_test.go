package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// promptBody is a message body that may overtake the Readies in flight
// (like a Multi-Paxos heartbeat); plainBody may not.
type promptBody struct{ Tick int }

func (promptBody) Prompt() bool { return true }

type plainBody struct{ Name string }

// scriptedReplica emits, on each tick, a Ready with a Prompt message and a
// plain one and nothing to persist; on each proposal, a Ready with a record
// to persist and a plain message that depends on it.
type scriptedReplica struct {
	ticks   int
	pending paxos.Ready
}

func (r *scriptedReplica) ID() paxos.NodeID { return 0 }
func (r *scriptedReplica) Propose(cmd paxos.Command) {
	r.pending.Persist = append(r.pending.Persist, cmd.Seq)
	r.pending.Messages = append(r.pending.Messages, paxos.Message{From: 0, To: 1, Body: plainBody{fmt.Sprint("accept ", cmd.Seq)}})
}
func (r *scriptedReplica) Step(paxos.Message) error { return nil }
func (r *scriptedReplica) Tick() {
	r.ticks++
	r.pending.Messages = append(r.pending.Messages,
		paxos.Message{From: 0, To: 1, Body: promptBody{r.ticks}},
		paxos.Message{From: 0, To: 1, Body: plainBody{fmt.Sprint("tick ", r.ticks)}})
}
func (r *scriptedReplica) Ready() paxos.Ready {
	rd := r.pending
	r.pending = paxos.Ready{}
	return rd
}

// sendRecorder is a transport that keeps what is sent, in order.
type sendRecorder struct{ sent []any }

func (s *sendRecorder) Send(m paxos.Message)       { s.sent = append(s.sent, m.Body) }
func (s *sendRecorder) Recv() <-chan paxos.Message { return nil }
func (s *sendRecorder) Close() error               { return nil }
func (s *sendRecorder) take() []any                { out := s.sent; s.sent = nil; return out }

// promptRig is a Node without its goroutines: the test is its loop (a tick
// is onTick then process, as the loop does) and its persister (disk hands
// batches back, in order), so "the persister made no progress for a tick"
// is a statement about the script, not about a clock.
type promptRig struct {
	n  *Node
	r  *scriptedReplica
	tr *sendRecorder
}

func newPromptRig() *promptRig {
	r, tr := &scriptedReplica{}, &sendRecorder{}
	n := &Node{cfg: Config{Transport: tr, Storage: &appendRecorder{}}, r: r,
		toDisk: make(chan *batch, 64), durable: make(chan *batch, 64)}
	return &promptRig{n: n, r: r, tr: tr}
}

func (g *promptRig) tick(t *testing.T) {
	g.n.onTick(time.Now())
	require.NoError(t, g.n.process())
}

func (g *promptRig) propose(t *testing.T, seq uint64) {
	g.r.Propose(paxos.Command{Client: 1, Seq: seq})
	require.NoError(t, g.n.process())
}

// disk makes k queued batches durable (all of them when k < 0): the
// persister's work (persist, send) and the loop's (finish) for each.
func (g *promptRig) disk(t *testing.T, k int) {
	for ; k != 0; k-- {
		select {
		case b := <-g.n.toDisk:
			require.NoError(t, g.n.persist([]*batch{b}))
			g.n.send(b)
			require.NoError(t, g.n.finish(b))
		default:
			require.Negative(t, k, "no batch queued for the disk")
			return
		}
	}
}

// TestPromptOvertakesOnlyAfterATickWithoutProgress: a Prompt message is
// sent ahead of the Readies waiting for the disk only once the persister
// has handed nothing back for a full tick (promptAfterTicks); while the
// disk keeps up, it keeps its place; progress restarts the count; other
// messages never overtake.
func TestPromptOvertakesOnlyAfterATickWithoutProgress(t *testing.T) {
	t.Run("stalled disk", func(t *testing.T) {
		g := newPromptRig()
		g.propose(t, 1) // a record in flight; the disk does nothing below
		g.tick(t)
		assert.Empty(t, g.tr.sent, "sent before a full tick without progress")
		g.tick(t) // a full tick has passed since the batch went to the disk
		assert.Equal(t, []any{promptBody{2}}, g.tr.take(), "only tick 2's prompt goes out at once")
		g.tick(t)
		assert.Equal(t, []any{promptBody{3}}, g.tr.take())
		g.disk(t, -1)
		assert.Equal(t, []any{plainBody{"accept 1"}, promptBody{1}, plainBody{"tick 1"}, plainBody{"tick 2"}, plainBody{"tick 3"}}, g.tr.take(),
			"what waited goes out in order once durable")
		g.tick(t) // nothing in flight: sent at once, in order
		assert.Equal(t, []any{promptBody{4}, plainBody{"tick 4"}}, g.tr.take())
	})
	t.Run("disk keeps up", func(t *testing.T) {
		g := newPromptRig()
		for i := 1; i <= 10; i++ {
			g.propose(t, uint64(i))
			g.tick(t)
			require.Empty(t, g.tr.sent, "round %d: a prompt overtook a disk that is keeping up", i)
			g.disk(t, -1)
			require.Equal(t, []any{plainBody{fmt.Sprint("accept ", i)}, promptBody{i}, plainBody{fmt.Sprint("tick ", i)}}, g.tr.take(),
				"round %d: every message in its Ready's order", i)
		}
	})
	t.Run("progress restarts the count", func(t *testing.T) {
		g := newPromptRig()
		g.propose(t, 1)
		g.tick(t)       // tick 1: held (1 tick since the pipeline started)
		g.propose(t, 2) // a second batch behind the first
		g.disk(t, 1)    // the disk hands batch 1 back during tick 1
		sent := g.tr.take()
		assert.Equal(t, []any{plainBody{"accept 1"}}, sent)
		g.tick(t) // tick 2: only one tick since that progress
		assert.Empty(t, g.tr.sent, "overtook one tick after the persister made progress")
		g.tick(t) // tick 3: a full tick without progress
		assert.Equal(t, []any{promptBody{3}}, g.tr.take())
		g.disk(t, -1)
		assert.Equal(t, []any{promptBody{1}, plainBody{"tick 1"}, plainBody{"accept 2"}, promptBody{2}, plainBody{"tick 2"}, plainBody{"tick 3"}}, g.tr.take())
	})
}
