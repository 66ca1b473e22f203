package transport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// urgentBeat is an Urgent body for the lane choice below.
type urgentBeat struct{}

func (urgentBeat) Urgent() bool { return true }

// TestUrgentLaneOnlyWhenDataIsStuck: an Urgent message keeps its place
// behind the data while the writer takes data promptly, and takes the
// priority lane when the data waits (or the writer has taken nothing for
// a while, or never). The clock values are set by hand: no timing.
func TestUrgentLaneOnlyWhenDataIsStuck(t *testing.T) {
	p := &peerOut{id: 1, out: make(chan outMsg, 8), urgent: make(chan outMsg, 8)}
	tr := &TCP{cfg: TCPConfig{ID: 0}, peers: []*peerOut{nil, p}, epoch: time.Now()}
	send := func() (lane string) {
		tr.Send(paxos.Message{From: 0, To: 1, Body: urgentBeat{}})
		select {
		case <-p.urgent:
			return "urgent"
		default:
		}
		// Drain the data lane back to the queued data.
		for len(p.out) > 1 {
			<-p.out
		}
		return "data"
	}
	ms := int64(time.Millisecond)

	assert.Equal(t, "data", send(), "an empty data lane: nothing to overtake")
	<-p.out
	p.out <- outMsg{}
	assert.Equal(t, "urgent", send(), "the writer never took anything (the peer is not connected)")

	// took lies ahead of the clock, so however long this goroutine waits
	// before Send, the writer counts as having taken data just now.
	p.took.Store(tr.clock() + int64(time.Hour))
	p.waited.Store(ms)
	require.Len(t, p.out, 1)
	assert.Equal(t, "data", send(), "data flows: the beat keeps its place")

	p.waited.Store(int64(inOrderWait) + ms)
	assert.Equal(t, "urgent", send(), "the data taken last had waited too long")

	p.waited.Store(ms)
	p.took.Store(tr.clock() - int64(inOrderWait) - ms) // only grows older
	assert.Equal(t, "urgent", send(), "the writer has taken nothing for too long")

	p.took.Store(tr.clock() + int64(time.Hour))
	for len(p.out) < cap(p.out) {
		p.out <- outMsg{}
	}
	tr.Send(paxos.Message{From: 0, To: 1, Body: urgentBeat{}})
	assert.Len(t, p.urgent, 1, "a full data lane is overtaken, not dropped")
	assert.Zero(t, tr.Stats().Dropped)
}
