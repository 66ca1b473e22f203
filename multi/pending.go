package multi

import (
	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/idtable"
)

// pendingProposals holds the proposals made at a replica and not yet
// executed there, in proposal order. The proposals live in list, each at a
// fixed sequence number (its index plus base); ids finds a proposal's
// sequence number by its command's id. So a leader pays one lookup to
// mark a proposal committed and one lookup and a delete to drop it (the
// proposal is changed in place, not read out of the table and written
// back), and proposals executed in order leave the front of the list
// without a table operation. Entries dropped out of order stay in the
// list, marked dead, until tidy compacts it.
type pendingProposals struct {
	ids  idtable.Table[uint64] // id -> one more than its sequence number
	list []pendingEntry
	head int    // list[:head] are all dead
	base uint64 // sequence number of list[0]
}

// pendingEntry is one proposal of pendingProposals.list.
type pendingEntry struct {
	id   paxos.CommandID
	p    proposal
	live bool
}

func newPendingProposals() pendingProposals { return pendingProposals{} }

// len returns the number of pending proposals.
func (q *pendingProposals) len() int { return q.ids.Len() }

// get returns the proposal of id, nil if none is pending. The pointer is
// valid until the next add or tidy.
func (q *pendingProposals) get(id paxos.CommandID) *proposal {
	seq := q.ids.Get(idtable.ID(id))
	if seq == 0 {
		return nil
	}
	return &q.list[seq-1-q.base].p
}

// add appends proposal p of id (which must not be pending).
func (q *pendingProposals) add(id paxos.CommandID, p proposal) {
	q.ids.Set(idtable.ID(id), q.base+uint64(len(q.list))+1)
	q.list = append(q.list, pendingEntry{id: id, p: p, live: true})
}

// remove drops id's proposal and returns it, with whether it was pending.
// Its entry stays in the list, dead, until tidy.
func (q *pendingProposals) remove(id paxos.CommandID) (proposal, bool) {
	i := q.ids.Find(idtable.ID(id))
	seq := q.ids.At(i)
	if seq == 0 {
		return proposal{}, false
	}
	seq--
	q.ids.Delete(i)
	e := &q.list[seq-q.base]
	p := e.p
	*e = pendingEntry{id: id}
	return p, true
}

// each calls fn with every pending proposal, in proposal order. fn may
// change the proposal and remove proposals, but not add any.
func (q *pendingProposals) each(fn func(id paxos.CommandID, p *proposal)) {
	for i := q.head; i < len(q.list); i++ {
		if e := &q.list[i]; e.live {
			fn(e.id, &e.p)
		}
	}
}

// tidy drops the dead entries at the front of the list, and compacts it
// when dead entries outnumber the live ones.
func (q *pendingProposals) tidy() {
	for q.head < len(q.list) && !q.list[q.head].live {
		q.head++
	}
	switch live := q.ids.Len(); {
	case q.head == len(q.list):
		clear(q.list)
		q.base += uint64(len(q.list))
		q.list, q.head = q.list[:0], 0
	case len(q.list)-q.head > 2*live+16:
		// dead entries in the middle: renumber the live ones
		out := q.list[:0]
		for _, e := range q.list[q.head:] {
			if e.live {
				q.ids.Set(idtable.ID(e.id), q.base+uint64(len(out))+1)
				out = append(out, e)
			}
		}
		clear(q.list[len(out):])
		q.list, q.head = out, 0
	case q.head > 16 && 2*q.head > len(q.list):
		// shift the live part to the front; sequence numbers stay valid
		n := copy(q.list, q.list[q.head:])
		clear(q.list[n:])
		q.base += uint64(q.head)
		q.list, q.head = q.list[:n], 0
	}
}
