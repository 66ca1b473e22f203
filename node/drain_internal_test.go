package node

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// slowStepReplica takes stepCost of wall time per message and counts the
// most messages it stepped between two calls of Ready.
type slowStepReplica struct {
	stepCost time.Duration
	mu       sync.Mutex
	stepped  int // messages stepped in all
	since    int // messages stepped since the last Ready
	most     int // the most messages stepped between two Readies
}

func (r *slowStepReplica) ID() paxos.NodeID      { return 0 }
func (r *slowStepReplica) Propose(paxos.Command) {}
func (r *slowStepReplica) Tick()                 {}
func (r *slowStepReplica) Step(paxos.Message) error {
	time.Sleep(r.stepCost)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stepped++
	r.since++
	r.most = max(r.most, r.since)
	return nil
}
func (r *slowStepReplica) Ready() paxos.Ready {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.since = 0
	return paxos.Ready{}
}

func (r *slowStepReplica) counts() (stepped, most int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stepped, r.most
}

// inboxTransport delivers what the test puts in its channel.
type inboxTransport struct{ in chan paxos.Message }

func (t *inboxTransport) Send(paxos.Message)         {}
func (t *inboxTransport) Recv() <-chan paxos.Message { return t.in }
func (t *inboxTransport) Close() error               { return nil }

// TestDrainIsBoundedInTime: with a backlog of peer messages that each take
// a millisecond to step (a replica short of CPU), the loop collects a
// Ready every maxDrainTime or so, not only after maxDrain messages (or
// an empty queue): what the replica decided while stepping must not wait
// for the whole backlog.
func TestDrainIsBoundedInTime(t *testing.T) {
	const backlog = 200 // fewer than maxDrain: only the time bound can cut the drain
	require.Less(t, backlog, maxDrain)
	tr := &inboxTransport{in: make(chan paxos.Message, backlog)}
	for i := 0; i < backlog; i++ {
		tr.in <- paxos.Message{From: 1, To: 0, Body: plainBody{"m"}}
	}
	r := &slowStepReplica{stepCost: time.Millisecond}
	n, err := Start(Config{New: func(paxos.Config) (paxos.Replica, error) { return r, nil },
		Replica: paxos.Config{N: 2}, Transport: tr, Storage: &appendRecorder{}, Tick: time.Hour})
	require.NoError(t, err)
	defer n.Stop(context.Background())
	require.Eventually(t, func() bool { s, _ := r.counts(); return s == backlog }, time.Minute, 5*time.Millisecond)
	_, most := r.counts()
	// Each step takes at least stepCost, and the clock is read before each
	// input, so a drain ends after at most this many (plus the input the
	// loop waited for).
	bound := int(maxDrainTime/r.stepCost) + 2
	assert.LessOrEqual(t, most, bound, "messages stepped without a Ready between them")
	assert.Less(t, most, backlog/4, "the backlog was stepped in a few long drains")
}

// holdingReplica takes proposals and never executes them, counting them.
type holdingReplica struct {
	mu       sync.Mutex
	proposed int
	ticks    int
}

func (r *holdingReplica) ID() paxos.NodeID         { return 0 }
func (r *holdingReplica) Step(paxos.Message) error { return nil }
func (r *holdingReplica) Ready() paxos.Ready       { return paxos.Ready{} }
func (r *holdingReplica) Propose(paxos.Command) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.proposed++
}
func (r *holdingReplica) Tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ticks++
}

func (r *holdingReplica) counts() (proposed, ticks int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proposed, r.ticks
}

// TestWaitingIsBounded: with more commands submitted than MaxWaiting and
// none executing, the loop stops taking proposals once MaxWaiting wait
// (give or take one drain's worth), the submitter blocks, and the loop
// keeps ticking; a stop answers every submitted command.
func TestWaitingIsBounded(t *testing.T) {
	r := &holdingReplica{}
	n, err := Start(Config{New: func(paxos.Config) (paxos.Replica, error) { return r, nil },
		Replica: paxos.Config{N: 1}, Transport: &inboxTransport{in: make(chan paxos.Message)}, Storage: &appendRecorder{}, Tick: time.Millisecond})
	require.NoError(t, err)
	const batch = 64
	total := MaxWaiting + 4*maxDrain*batch
	var answered sync.WaitGroup
	answered.Add(total)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		cmds := make([]paxos.Command, batch)
		for seq := 1; seq <= total; seq += batch {
			for i := range cmds {
				cmds[i] = paxos.Command{Client: 1, Seq: uint64(seq + i), Op: paxos.OpPut, Key: "k"}
			}
			n.SubmitAsyncBatch(cmds, time.Now().Add(time.Hour), func(paxos.CommandID, paxos.Execution, error) { answered.Done() })
		}
	}()
	require.Eventually(t, func() bool { p, _ := r.counts(); return p >= MaxWaiting }, time.Minute, time.Millisecond)
	_, ticks := r.counts()
	require.Eventually(t, func() bool { _, tk := r.counts(); return tk > ticks+20 }, time.Minute, time.Millisecond, "the loop still ticks")
	proposed, _ := r.counts()
	assert.LessOrEqual(t, proposed, MaxWaiting+maxDrain*batch, "proposals taken past MaxWaiting")
	select {
	case <-sent:
		t.Fatal("the submitter was not held back")
	default:
	}
	require.NoError(t, n.Stop(context.Background()))
	<-sent
	answered.Wait()
}
