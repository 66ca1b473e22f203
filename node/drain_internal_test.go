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
