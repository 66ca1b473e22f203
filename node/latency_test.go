package node_test

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

// goid returns the calling goroutine's id.
func goid() uint64 {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, _ := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	return id
}

// immediateStore is a storage.Immediate that records the goroutine of
// each Append.
type immediateStore struct {
	orderCheck
	gids []uint64 // under orderCheck.mu
}

func (s *immediateStore) Immediate() bool { return true }

func (s *immediateStore) Append(snap any, r []any) error {
	s.mu.Lock()
	s.gids = append(s.gids, goid())
	s.mu.Unlock()
	return s.orderCheck.Append(snap, r)
}

// With a storage that does not wait for a device, the loop appends a
// Ready's records itself, still before its messages leave.
func TestImmediateStorageAppendsOnTheLoop(t *testing.T) {
	nw := transport.NewNetwork(2, 0)
	st := &immediateStore{orderCheck: orderCheck{Storage: storage.NewMemory()}}
	var mu sync.Mutex
	var loop uint64
	n, err := node.Start(node.Config{New: newFake, Replica: paxos.Config{ID: 0, N: 2}, Transport: nw.Endpoint(0), Storage: st,
		Tick: time.Hour, Logger: quiet(), Observe: func(*paxos.Ready) {
			mu.Lock()
			loop = goid()
			mu.Unlock()
		}})
	require.NoError(t, err)
	defer n.Stop(context.Background())
	ex, err := n.Submit(context.Background(), paxos.Command{Client: 7, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "v"})
	require.NoError(t, err)
	assert.Equal(t, "ok:v", ex.Output)
	select {
	case m := <-nw.Endpoint(1).Recv():
		assert.Equal(t, fakeMsg{N: 1}, m.Body)
	case <-time.After(5 * time.Second):
		t.Fatal("message not sent")
	}
	// Observe runs after the answer.
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return loop != 0 }, 5*time.Second, time.Millisecond)
	st.mu.Lock()
	defer st.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 1, st.persisted, "the record was persisted before its message left")
	require.Len(t, st.gids, 1)
	assert.Equal(t, loop, st.gids[0], "appended on the loop goroutine")
	assert.Equal(t, uint64(1), n.Stats().Appends)
}

// SubmitAsyncBatchFlush calls flush after the answers it delivered: on
// the caller's goroutine for a command refused at once, on the loop once
// for the executed ones answered together.
func TestSubmitAsyncBatchFlush(t *testing.T) {
	nw := transport.NewNetwork(2, 0)
	n, err := node.Start(node.Config{New: newFake, Replica: paxos.Config{ID: 0, N: 2}, Transport: nw.Endpoint(0), Storage: storage.NewMemory(), Tick: time.Hour, Logger: quiet()})
	require.NoError(t, err)
	defer n.Stop(context.Background())
	var mu sync.Mutex
	var events []string
	flushed := make(chan struct{}, 4)
	done := func(id paxos.CommandID, ex paxos.Execution, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			events = append(events, "refused "+strconv.FormatUint(id.Client, 10))
			return
		}
		events = append(events, "done "+ex.Output)
	}
	flush := func() {
		mu.Lock()
		events = append(events, "flush")
		mu.Unlock()
		flushed <- struct{}{}
	}
	deadline := time.Now().Add(time.Minute)
	n.SubmitAsyncBatchFlush([]paxos.Command{{Client: 0, Seq: 1}}, deadline, done, flush)
	cmds := []paxos.Command{{Client: 7, Seq: 1, Op: paxos.OpPut, Key: "a", Value: "1"}, {Client: 7, Seq: 2, Op: paxos.OpPut, Key: "b", Value: "2"}}
	n.SubmitAsyncBatchFlush(cmds, deadline, done, flush)
	for range 2 {
		select {
		case <-flushed:
		case <-time.After(5 * time.Second):
			t.Fatal("flush not called")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// One flush after both answers of the batch, not one per answer.
	assert.Equal(t, []string{"refused 0", "flush", "done ok:1", "done ok:2", "flush"}, events)
}
