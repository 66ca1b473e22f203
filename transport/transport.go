// Package transport moves paxos.Messages between replicas.
//
// Two implementations share the Transport interface:
//
//   - Network/Local: in-process channels, for tests and single-process
//     benchmarks. Every message goes through the codec, as on a wire, so an
//     unregistered type fails the same way.
//   - TCP: one outgoing connection per peer with an authenticated handshake
//     (cluster secret or mutual TLS, see auth.go) naming the cluster and both
//     replica ids, caps on connections and deadlines on reads (Limits), length-prefixed msgpack frames with a
//     maximum size, buffered writes flushed when the outbox drains,
//     reconnection with backoff, optional mutual TLS, and optional WAN
//     emulation that delays each link by half its round-trip time.
//
// Delivery is best effort, as consensus protocols expect: a message may be
// lost (a full queue, a broken connection) but is never corrupted, and the
// messages of one link arrive in the order they were sent, except that TCP
// sends Urgent messages (leader heartbeats, election traffic) on a priority
// lane: they overtake queued ordinary messages, and a full data queue does
// not drop them.
package transport

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/paxos-lab/paxos"
)

// Transport carries messages between the replicas of one cluster.
type Transport interface {
	// Send queues m for delivery to m.To. It never blocks; when the queue is
	// full the message is dropped and counted.
	Send(m paxos.Message)
	// Recv returns the channel of messages addressed to this replica. It is
	// closed after Close has stopped everything.
	Recv() <-chan paxos.Message
	// Close stops the transport and waits for its goroutines.
	Close() error
}

// Urgent is implemented by message bodies that must not wait behind data:
// a protocol's heartbeats and election messages, whose delay under load
// would depose a leader that is merely busy. Protocols implement it without
// importing this package (a method Urgent() bool on the body type); the
// TCP transport gives such messages a queue of their own per peer, served
// first, which they take when the peer's data queue is stuck (while it
// flows they keep their place in it; see peerOut.flowing). Reordering them before ordinary messages is safe for any protocol
// that tolerates loss and reordering, as every protocol here does (the
// simulator reorders freely). With WAN emulation (TCPConfig.RTT) there is
// no priority lane: each message then waits for its emulated delivery time
// in its queue, so a lane of heartbeats would never drain and would starve
// the data behind it.
type Urgent interface {
	Urgent() bool
}

// IsUrgent reports whether body asks for the priority lane.
func IsUrgent(body any) bool {
	u, ok := body.(Urgent)
	return ok && u.Urgent()
}

// urgentQueue is the length of the priority lane per peer: heartbeats and
// election messages are few, so a short queue never fills unless the peer
// is unreachable.
const urgentQueue = 256

// Stats counts what a transport did; every field only grows.
type Stats struct {
	Sent      uint64 // messages written (TCP) or queued (in-process)
	Received  uint64 // messages delivered to Recv
	Dropped   uint64 // messages lost to a full queue, an encoding error or a broken connection
	Refused   uint64 // connections refused at the handshake
	Accepted  uint64 // inbound peer connections that completed the handshake
	BadFrames uint64 // connections closed for a malformed, oversized or misaddressed frame
}

type counters struct {
	sent, received, dropped, refused, badFrames, accepted atomic.Uint64
}

func (c *counters) stats() Stats {
	return Stats{Sent: c.sent.Load(), Received: c.received.Load(), Dropped: c.dropped.Load(),
		Refused: c.refused.Load(), BadFrames: c.badFrames.Load(), Accepted: c.accepted.Load()}
}

// decodeMessage decodes a frame's payload. It turns a panic in the decoder
// (which would be a bug in a dependency) into an error, so a peer's bytes can
// never bring a replica down.
func decodeMessage(b []byte) (m paxos.Message, err error) {
	if err := checkMsgpack(b); err != nil {
		return paxos.Message{}, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode message: decoder panicked: %v", r)
		}
	}()
	return paxos.DecodeMessage(b)
}

// Network is a set of in-process endpoints that exchange messages through
// channels.
type Network struct {
	eps   []*Local
	queue int
}

// NewNetwork returns a network of n endpoints with ids 0..n-1. Each
// endpoint's inbound queue holds queue messages (default 8192 when
// queue <= 0); a message to a full queue is dropped.
func NewNetwork(n, queue int) *Network {
	if queue <= 0 {
		queue = 8192
	}
	nw := &Network{queue: queue}
	for i := 0; i < n; i++ {
		nw.eps = append(nw.eps, &Local{net: nw, id: paxos.NodeID(i), in: make(chan paxos.Message, queue)})
	}
	return nw
}

// Endpoint returns the transport of replica id.
func (nw *Network) Endpoint(id paxos.NodeID) *Local { return nw.eps[id] }

// Local is one endpoint of a Network.
type Local struct {
	net  *Network
	id   paxos.NodeID
	in   chan paxos.Message
	mu   sync.RWMutex // guards in and down against Send racing Close
	down bool
	c    counters
	// cut, when set, drops everything this endpoint sends (for tests).
	cut atomic.Bool
}

// Send implements Transport. The message is encoded and decoded, as a wire
// would, and dropped (and logged nowhere) if that fails.
func (l *Local) Send(m paxos.Message) {
	if l.cut.Load() || m.To < 0 || int(m.To) >= len(l.net.eps) {
		l.c.dropped.Add(1)
		return
	}
	b, err := paxos.EncodeMessage(m)
	if err != nil {
		l.c.dropped.Add(1)
		return
	}
	dm, err := paxos.DecodeMessage(b)
	if err != nil {
		l.c.dropped.Add(1)
		return
	}
	dst := l.net.eps[m.To]
	dst.mu.RLock()
	defer dst.mu.RUnlock()
	if dst.down {
		l.c.dropped.Add(1)
		return
	}
	select {
	case dst.in <- dm:
		l.c.sent.Add(1)
		dst.c.received.Add(1)
	default:
		l.c.dropped.Add(1)
	}
}

// SetCut makes the endpoint drop everything it sends (true) or resume.
func (l *Local) SetCut(cut bool) { l.cut.Store(cut) }

// Recv implements Transport.
func (l *Local) Recv() <-chan paxos.Message {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.in
}

// Stats returns the endpoint's counters.
func (l *Local) Stats() Stats { return l.c.stats() }

// Close implements Transport. Messages sent to a closed endpoint are
// dropped.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		l.down = true
		close(l.in)
	}
	return nil
}

// Reopen gives a closed endpoint a fresh inbound queue, as a restarted
// process would have, and returns it.
func (l *Local) Reopen() *Local {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		l.down = false
		l.in = make(chan paxos.Message, l.net.queue)
	}
	return l
}
