package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/node"
	_ "github.com/paxos-lab/paxos/protocols"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fake is a one-replica "protocol" for testing the driver: a proposal is
// persisted and executed at once and announced to replica 1; a message
// carrying a negative number is refused.
type fake struct {
	id      paxos.NodeID
	rd      paxos.Ready
	done    map[paxos.CommandID]string
	ticks   int
	restore *paxos.Persisted
}

type fakeRecord struct{ Cmd paxos.Command }
type fakeMsg struct{ N int }

func init() {
	paxos.Register("node_test.fakeRecord", fakeRecord{})
	paxos.Register("node_test.fakeMsg", fakeMsg{})
}

func newFake(cfg paxos.Config) (paxos.Replica, error) {
	f := &fake{id: cfg.ID, done: map[paxos.CommandID]string{}, restore: cfg.Restore}
	if cfg.Restore != nil {
		for _, r := range cfg.Restore.Records {
			c := r.(fakeRecord).Cmd
			f.done[c.ID()] = c.Value
		}
	}
	return f, nil
}

func (f *fake) ID() paxos.NodeID { return f.id }
func (f *fake) Tick() {
	f.ticks++
	if f.ticks == 3 {
		// Report the third tick as a message, so the test sees ticks flow.
		f.rd.Messages = append(f.rd.Messages, paxos.Message{From: f.id, To: 1, Body: fakeMsg{N: 1000}})
	}
}
func (f *fake) Ready() paxos.Ready {
	rd := f.rd
	f.rd = paxos.Ready{}
	return rd
}
func (f *fake) Step(m paxos.Message) error {
	if m.Body.(fakeMsg).N < 0 {
		return errors.New("negative")
	}
	return nil
}

// dropped receives the Seq of every "drop" command a fake replica was
// handed: the sign that its caller is pending.
var dropped = make(chan uint64, 16)

func (f *fake) Propose(c paxos.Command) {
	if c.Key == "drop" {
		select {
		case dropped <- c.Seq:
		default:
		}
		return
	}
	if _, ok := f.done[c.ID()]; ok {
		f.rd.Executed = append(f.rd.Executed, paxos.Execution{Command: c, Duplicate: true})
		return
	}
	f.done[c.ID()] = c.Value
	f.rd.Persist = append(f.rd.Persist, fakeRecord{Cmd: c})
	f.rd.Messages = append(f.rd.Messages, paxos.Message{From: f.id, To: 1, Body: fakeMsg{N: int(c.Seq)}})
	f.rd.Executed = append(f.rd.Executed, paxos.Execution{Command: c, Output: "ok:" + c.Value})
}

// orderCheck is a storage that records whether a message was sent before
// its record was persisted.
type orderCheck struct {
	storage.Storage
	mu        sync.Mutex
	persisted int
}

func (o *orderCheck) Append(s any, r []any) error {
	o.mu.Lock()
	o.persisted += len(r)
	o.mu.Unlock()
	return o.Storage.Append(s, r)
}

func TestNodeDriverOrderAndDuplicates(t *testing.T) {
	before := runtime.NumGoroutine()
	nw := transport.NewNetwork(2, 0)
	st := &orderCheck{Storage: storage.NewMemory()}
	n, err := node.Start(node.Config{New: newFake, Replica: paxos.Config{ID: 0, N: 2}, Transport: nw.Endpoint(0), Storage: st, Tick: time.Millisecond, Logger: quiet()})
	require.NoError(t, err)
	ctx := context.Background()
	// Ticks come from the real clock: the third one sends a message.
	select {
	case m := <-nw.Endpoint(1).Recv():
		assert.Equal(t, fakeMsg{N: 1000}, m.Body)
	case <-time.After(5 * time.Second):
		t.Fatal("no ticks")
	}
	assert.GreaterOrEqual(t, n.Stats().Ticks, uint64(3), "Stats counts the ticks the loop handled")
	ex, err := n.Submit(ctx, paxos.Command{Client: 7, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "v"})
	require.NoError(t, err)
	assert.Equal(t, "ok:v", ex.Output)
	assert.False(t, ex.Duplicate)
	// The message reached replica 1 only after the record was persisted.
	select {
	case m := <-nw.Endpoint(1).Recv():
		assert.Equal(t, fakeMsg{N: 1}, m.Body)
		st.mu.Lock()
		assert.Equal(t, 1, st.persisted)
		st.mu.Unlock()
	case <-time.After(5 * time.Second):
		t.Fatal("message not sent")
	}
	// A retry is answered with the duplicate execution.
	ex, err = n.Submit(ctx, paxos.Command{Client: 7, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "v"})
	require.NoError(t, err)
	assert.True(t, ex.Duplicate)
	// Client 0 is refused.
	_, err = n.Submit(ctx, paxos.Command{Client: 0, Seq: 1})
	assert.Error(t, err)
	// A refused message is counted, not fatal.
	nw.Endpoint(1).Send(paxos.Message{From: 1, To: 0, Body: fakeMsg{N: -1}})
	require.Eventually(t, func() bool { return n.Stats().StepErrors == 1 }, 5*time.Second, time.Millisecond)
	// A command that never executes times out with ctx's error.
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = n.Submit(tctx, paxos.Command{Client: 7, Seq: 2, Key: "drop"})
	cancel()
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// Stop fails pending callers and leaks nothing.
	errc := make(chan error, 1)
	go func() {
		_, err := n.Submit(ctx, paxos.Command{Client: 7, Seq: 3, Key: "drop"})
		errc <- err
	}()
	// Stop only once the replica holds the command, so the caller is pending.
	for seq := uint64(0); seq != 3; {
		select {
		case seq = <-dropped:
		case <-time.After(5 * time.Second):
			t.Fatal("the command never reached the replica")
		}
	}
	require.NoError(t, n.Stop(ctx))
	assert.ErrorIs(t, <-errc, node.ErrStopped)
	_, err = n.Submit(ctx, paxos.Command{Client: 7, Seq: 4})
	assert.ErrorIs(t, err, node.ErrStopped)
	assert.Equal(t, uint64(1), n.Stats().Appends)
	noLeaks(t, before)
}

type failing struct{ storage.Storage }

func (failing) Append(any, []any) error { return errors.New("disk on fire") }

func TestNodeStopsOnStorageFailure(t *testing.T) {
	nw := transport.NewNetwork(2, 0)
	n, err := node.Start(node.Config{New: newFake, Replica: paxos.Config{ID: 0, N: 2}, Transport: nw.Endpoint(0), Storage: failing{storage.NewMemory()}, Tick: time.Hour, Logger: quiet()})
	require.NoError(t, err)
	_, err = n.Submit(context.Background(), paxos.Command{Client: 1, Seq: 1, Key: "k"})
	assert.ErrorIs(t, err, node.ErrStopped)
	assert.ErrorContains(t, err, "disk on fire")
	<-n.Done()
	assert.ErrorContains(t, n.Err(), "disk on fire")
	assert.Empty(t, nw.Endpoint(1).Recv(), "nothing sent when persisting failed")
	require.NoError(t, n.Stop(context.Background()))
}

// startLocal starts an in-process cluster of a registered protocol.
func startLocal(t *testing.T, protocol string, nrep int, stores []*storage.Memory, nw *transport.Network) []*node.Node {
	t.Helper()
	nodes := make([]*node.Node, nrep)
	for i := range nodes {
		var err error
		nodes[i], err = node.Start(node.Config{Protocol: protocol,
			Replica:   paxos.Config{ID: paxos.NodeID(i), N: nrep, Seed: 1, InitialLeader: 0}.WithDefaults(),
			Transport: nw.Endpoint(paxos.NodeID(i)).Reopen(), Storage: stores[i], Tick: 5 * time.Millisecond, Logger: quiet()})
		require.NoError(t, err)
	}
	return nodes
}

// submitAnywhere submits cmd at each replica in turn until one executes it.
func submitAnywhere(t *testing.T, nodes []*node.Node, cmd paxos.Command) paxos.Execution {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		nd := nodes[i%len(nodes)]
		if nd == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ex, err := nd.Submit(ctx, cmd)
		cancel()
		if err == nil {
			return ex
		}
	}
	t.Fatalf("command %+v never executed", cmd)
	return paxos.Execution{}
}

func TestNodeInProcessEveryProtocolWithRestart(t *testing.T) {
	for _, protocol := range paxos.Protocols() {
		t.Run(protocol, func(t *testing.T) {
			before := runtime.NumGoroutine()
			const nrep = 3
			nw := transport.NewNetwork(nrep, 0)
			stores := make([]*storage.Memory, nrep)
			for i := range stores {
				stores[i] = storage.NewMemory()
			}
			nodes := startLocal(t, protocol, nrep, stores, nw)
			for s := uint64(1); s <= 5; s++ {
				submitAnywhere(t, nodes, paxos.Command{Client: 9, Seq: s, Op: paxos.OpPut, Key: "k", Value: fmt.Sprint(s)})
			}
			// Restart every replica from what it persisted.
			for i, nd := range nodes {
				require.NoError(t, nd.Stop(context.Background()))
				stores[i] = stores[i].Reopen()
			}
			nodes = startLocal(t, protocol, nrep, stores, nw)
			ex := submitAnywhere(t, nodes, paxos.Command{Client: 9, Seq: 6, Op: paxos.OpGet, Key: "k"})
			assert.Equal(t, "5", ex.Output, "state survives a restart of every replica")
			ex = submitAnywhere(t, nodes, paxos.Command{Client: 9, Seq: 5, Op: paxos.OpPut, Key: "k", Value: "5"})
			assert.True(t, ex.Duplicate, "a retry after restart is recognised")
			for _, nd := range nodes {
				require.NoError(t, nd.Stop(context.Background()))
			}
			noLeaks(t, before)
		})
	}
}

// TestSubmitAsync: the asynchronous path answers each command once: with
// its execution, with ErrTimeout once its deadline passed (checked on the
// tick, no timer per command), or with ErrStopped after Stop.
// asyncAnswer is one answer to SubmitAsync or SubmitAsyncBatch.
type asyncAnswer struct {
	id  paxos.CommandID
	ex  paxos.Execution
	err error
	at  time.Time
}

// startAsync starts a node on the fake replica and returns it with a done
// callback that queues its answers.
func startAsync(t *testing.T) (*node.Node, chan asyncAnswer, func(paxos.CommandID, paxos.Execution, error)) {
	nw := transport.NewNetwork(2, 0)
	n, err := node.Start(node.Config{New: newFake, Replica: paxos.Config{ID: 0, N: 2}, Transport: nw.Endpoint(0), Storage: storage.NewMemory(), Tick: 5 * time.Millisecond, Logger: quiet()})
	require.NoError(t, err)
	answers := make(chan asyncAnswer, 16)
	return n, answers, func(id paxos.CommandID, ex paxos.Execution, err error) {
		answers <- asyncAnswer{id, ex, err, time.Now()}
	}
}

func TestSubmitAsync(t *testing.T) {
	n, answers, done := startAsync(t)
	start := time.Now()
	n.SubmitAsync(paxos.Command{Client: 7, Seq: 1, Op: paxos.OpPut, Key: "drop"}, start.Add(30*time.Millisecond), done)
	n.SubmitAsync(paxos.Command{Client: 7, Seq: 2, Op: paxos.OpPut, Key: "k", Value: "v"}, start.Add(time.Hour), done)
	a := <-answers
	require.NoError(t, a.err)
	assert.Equal(t, paxos.CommandID{Client: 7, Seq: 2}, a.id)
	assert.Equal(t, "ok:v", a.ex.Output)
	a = <-answers
	assert.Equal(t, paxos.CommandID{Client: 7, Seq: 1}, a.id)
	require.ErrorIs(t, a.err, node.ErrTimeout)
	assert.GreaterOrEqual(t, a.at.Sub(start), 30*time.Millisecond)
	n.SubmitAsync(paxos.Command{Client: 0, Seq: 3, Op: paxos.OpPut, Key: "k"}, start.Add(time.Hour), done)
	require.Error(t, (<-answers).err)

	// A command pending when the node stops is answered with ErrStopped,
	// and so is one submitted afterwards.
	n.SubmitAsync(paxos.Command{Client: 7, Seq: 4, Op: paxos.OpPut, Key: "drop"}, start.Add(time.Hour), done)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, n.Stop(ctx))
	require.ErrorIs(t, (<-answers).err, node.ErrStopped)
	n.SubmitAsync(paxos.Command{Client: 7, Seq: 5, Op: paxos.OpPut, Key: "k"}, start.Add(time.Hour), done)
	require.ErrorIs(t, (<-answers).err, node.ErrStopped)
	assert.Empty(t, answers)
}

// TestSubmitAsyncBatch: the commands of one batch are proposed in order and
// each answered once; a client id of 0 is refused alone; a command pending
// when the node stops, and every command of a batch submitted afterwards,
// is answered with ErrStopped.
func TestSubmitAsyncBatch(t *testing.T) {
	n, answers, done := startAsync(t)
	later := time.Now().Add(time.Hour)
	n.SubmitAsyncBatch([]paxos.Command{
		{Client: 7, Seq: 1, Op: paxos.OpPut, Key: "a", Value: "1"},
		{Client: 0, Seq: 2, Op: paxos.OpPut, Key: "b", Value: "2"},
		{Client: 7, Seq: 3, Op: paxos.OpPut, Key: "c", Value: "3"},
	}, later, done)
	a := <-answers
	assert.Equal(t, paxos.CommandID{Client: 0, Seq: 2}, a.id)
	require.Error(t, a.err, "client id 0 is refused before the batch leaves")
	for _, want := range []struct {
		seq uint64
		out string
	}{{1, "ok:1"}, {3, "ok:3"}} {
		a = <-answers
		require.NoError(t, a.err)
		assert.Equal(t, paxos.CommandID{Client: 7, Seq: want.seq}, a.id)
		assert.Equal(t, want.out, a.ex.Output)
	}

	n.SubmitAsyncBatch([]paxos.Command{{Client: 7, Seq: 4, Op: paxos.OpPut, Key: "drop"}}, later, done)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, n.Stop(ctx))
	require.ErrorIs(t, (<-answers).err, node.ErrStopped)
	n.SubmitAsyncBatch([]paxos.Command{{Client: 7, Seq: 5, Op: paxos.OpPut, Key: "k"}, {Client: 7, Seq: 6, Op: paxos.OpPut, Key: "k"}}, later, done)
	require.ErrorIs(t, (<-answers).err, node.ErrStopped)
	require.ErrorIs(t, (<-answers).err, node.ErrStopped)
	assert.Empty(t, answers)
}

// blockingStore is a storage whose Append (the fsync) blocks until the
// test releases it; it reports the number of records of each call.
type blockingStore struct {
	*storage.Memory
	calls   chan int
	release chan struct{}
}

func (b *blockingStore) Append(s any, r []any) error {
	b.calls <- len(r)
	<-b.release
	return b.Memory.Append(s, r)
}

// TestPersistBeforeSendWhileStepping: while a Ready's records are being
// made durable the loop keeps stepping the replica, but no message (and no
// client answer) of that Ready or a later one leaves before the records are
// durable; one Append then covers every Ready that arrived meanwhile.
func TestPersistBeforeSendWhileStepping(t *testing.T) {
	nw := transport.NewNetwork(2, 0)
	st := &blockingStore{Memory: storage.NewMemory(), calls: make(chan int, 8), release: make(chan struct{})}
	n, err := node.Start(node.Config{New: newFake, Replica: paxos.Config{ID: 0, N: 2}, Transport: nw.Endpoint(0), Storage: st, Tick: time.Hour, Logger: quiet()})
	require.NoError(t, err)
	defer func() {
		close(st.release)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	}()
	peer := nw.Endpoint(1).Recv()
	answers := make(chan uint64, 8)
	done := func(id paxos.CommandID, ex paxos.Execution, err error) { answers <- id.Seq }
	far := time.Now().Add(time.Hour)
	quiet := func(what string) {
		select {
		case m := <-peer:
			t.Fatalf("%s: message %+v left before its records were durable", what, m.Body)
		case s := <-answers:
			t.Fatalf("%s: command %d answered before its records were durable", what, s)
		case <-time.After(50 * time.Millisecond):
		}
	}
	n.SubmitAsync(paxos.Command{Client: 9, Seq: 1, Op: paxos.OpPut, Key: "a", Value: "1"}, far, done)
	require.Equal(t, 1, <-st.calls) // the first fsync is under way, and blocked
	n.SubmitAsync(paxos.Command{Client: 9, Seq: 2, Op: paxos.OpPut, Key: "b", Value: "2"}, far, done)
	n.SubmitAsync(paxos.Command{Client: 9, Seq: 3, Op: paxos.OpPut, Key: "c", Value: "3"}, far, done)
	// The loop keeps stepping the replica meanwhile: it takes both
	// commands and collects their Ready (one or two).
	require.Eventually(t, func() bool { return n.Stats().Readies >= 2 }, 5*time.Second, time.Millisecond, "%+v", n.Stats())
	quiet("first fsync pending")

	st.release <- struct{}{} // the first Append returns
	assert.Equal(t, fakeMsg{N: 1}, (<-peer).Body)
	assert.Equal(t, uint64(1), <-answers)
	// One Append covers both commands that arrived during the first (they
	// were queued behind it even if they made two Readies).
	require.Equal(t, 2, <-st.calls)
	quiet("second fsync pending")
	st.release <- struct{}{}
	assert.Equal(t, fakeMsg{N: 2}, (<-peer).Body)
	assert.Equal(t, fakeMsg{N: 3}, (<-peer).Body)
	assert.ElementsMatch(t, []uint64{2, 3}, []uint64{<-answers, <-answers})
	assert.Equal(t, uint64(2), n.Stats().Appends)
}
