package sim

import (
	"time"

	"github.com/paxos-lab/paxos"
)

// Event kinds.
const (
	evDeliver uint8 = iota + 1 // a message arrives at a replica
	evService                  // a replica's CPU finishes serving a message or proposal
	evPropose                  // a proposal arrives at a replica
	evTick                     // a replica's logical clock ticks
	evTimer                    // a user function scheduled with At or After
	evArrival                  // a client issues its next operation
	evReply                    // a replica's answer reaches a client
	evRetry                    // a client's retry timer fires
)

// payload is everything an event carries. Payloads live in a slab and are
// recycled through a free list, so the heap moves only small items and the
// hot path does not allocate.
type payload struct {
	kind    uint8
	local   bool  // evReply: the execution was a local read
	isProp  bool  // evService: serving a proposal rather than a message
	node    int32 // the replica concerned (or the answering replica for evReply)
	inc     int32 // the replica's incarnation when the event was scheduled
	op      int32 // index into the history, -1 when no client op is involved
	attempt int32 // evRetry: the attempt this timer belongs to
	client  int32 // evArrival: index of the client
	msg     paxos.Message
	cmd     paxos.Command
	out     string // evReply: the execution's output
	err     string // evReply: the execution's error
	fn      func() // evTimer
}

// item is one entry of the event heap: ordered by (at, seq).
type item struct {
	at  time.Duration
	seq uint64
	p   int32
}

// queue is a binary min-heap of events over a payload slab.
type queue struct {
	items []item
	pl    []payload
	free  []int32
	seq   uint64
}

// alloc returns a free payload slot. The pointer is valid only until the
// next alloc.
func (q *queue) alloc() (int32, *payload) {
	if n := len(q.free); n > 0 {
		i := q.free[n-1]
		q.free = q.free[:n-1]
		return i, &q.pl[i]
	}
	q.pl = append(q.pl, payload{})
	i := int32(len(q.pl) - 1)
	return i, &q.pl[i]
}

// release clears a payload slot (dropping its references) and recycles it.
func (q *queue) release(i int32) {
	q.pl[i] = payload{}
	q.free = append(q.free, i)
}

func less(a, b *item) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// push schedules payload p at time at.
func (q *queue) push(at time.Duration, p int32) {
	q.seq++
	q.items = append(q.items, item{at: at, seq: q.seq, p: p})
	h := q.items
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !less(&h[i], &h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

// peek returns the earliest event's time; ok is false when the queue is empty.
func (q *queue) peek() (at time.Duration, ok bool) {
	if len(q.items) == 0 {
		return 0, false
	}
	return q.items[0].at, true
}

// pop removes and returns the earliest event.
func (q *queue) pop() item {
	h := q.items
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	q.items = h
	i := 0
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && less(&h[r], &h[l]) {
			m = r
		}
		if !less(&h[m], &h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return top
}

// len returns the number of scheduled events.
func (q *queue) len() int { return len(q.items) }
