package transport_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/transport"
)

// beat is a message body on the priority lane, like a leader's heartbeat.
type beat struct{ N int }

func (beat) Urgent() bool { return true }

func init() { paxos.Register("transport_test.beat", beat{}) }

// TestTCPUrgentOvertakesFullQueue: with the data queue to a peer full (the
// peer is not up yet), an Urgent message is neither dropped nor queued
// behind the data: it is the first thing the peer receives.
func TestTCPUrgentOvertakesFullQueue(t *testing.T) {
	assert.True(t, transport.IsUrgent(beat{}))
	assert.False(t, transport.IsUrgent(ping{}))
	peers := freeAddrs(t, 2)
	a := newTCP(t, transport.TCPConfig{ID: 0, Peers: peers, Queue: 4})
	for i := 0; i < 10; i++ {
		a.Send(paxos.Message{From: 0, To: 1, Body: ping{N: i}})
	}
	a.Send(paxos.Message{From: 0, To: 1, Body: beat{N: 1}})
	require.Equal(t, uint64(6), a.Stats().Dropped, "the data queue holds 4; the beat is not dropped")
	b := newTCP(t, transport.TCPConfig{ID: 1, Peers: peers, Queue: 4})
	assert.Equal(t, beat{N: 1}, recv(t, b).Body, "the beat overtakes the queued data")
	for i := 0; i < 4; i++ {
		assert.Equal(t, ping{N: i}, recv(t, b).Body, "data keeps its order")
	}
}
