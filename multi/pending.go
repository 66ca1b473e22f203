package multi

import (
	"hash/maphash"

	"github.com/paxos-lab/paxos"
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
	ids  idTable // id -> sequence number
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
func (q *pendingProposals) len() int { return q.ids.n }

// get returns the proposal of id, nil if none is pending. The pointer is
// valid until the next add or tidy.
func (q *pendingProposals) get(id paxos.CommandID) *proposal {
	i := q.ids.find(id)
	if q.ids.slots[i].seq == 0 {
		return nil
	}
	return &q.list[q.ids.slots[i].seq-1-q.base].p
}

// add appends proposal p of id (which must not be pending).
func (q *pendingProposals) add(id paxos.CommandID, p proposal) {
	q.ids.set(id, q.base+uint64(len(q.list)))
	q.list = append(q.list, pendingEntry{id: id, p: p, live: true})
}

// remove drops id's proposal and returns it, with whether it was pending.
// Its entry stays in the list, dead, until tidy.
func (q *pendingProposals) remove(id paxos.CommandID) (proposal, bool) {
	i := q.ids.find(id)
	if q.ids.slots[i].seq == 0 {
		return proposal{}, false
	}
	seq := q.ids.slots[i].seq - 1
	q.ids.delete(i)
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
	switch live := q.ids.n; {
	case q.head == len(q.list):
		clear(q.list)
		q.base += uint64(len(q.list))
		q.list, q.head = q.list[:0], 0
	case len(q.list)-q.head > 2*live+16:
		// dead entries in the middle: renumber the live ones
		out := q.list[:0]
		for _, e := range q.list[q.head:] {
			if e.live {
				q.ids.set(e.id, q.base+uint64(len(out)))
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

// idTable maps command ids to sequence numbers: an open-addressing table
// with linear probing whose deletions shift the entries after them back
// (no tombstones), so a lookup that misses, as every new proposal's does,
// stops at the first empty slot however many ids came and went. A Go map
// keyed by ids cost a leader 8% of its CPU in lookups (live profile at
// N = 5, K = 1024). The hash is keyed per process, so the ids a client
// picks cannot be aimed at one run of slots; nothing iterates the table,
// so what the replica does does not depend on the key.
type idTable struct {
	slots []idSlot // a power of two long, at most half full; nil when empty
	n     int
}

// idSlot is one slot of an idTable: seq is one more than the sequence
// number, 0 when the slot is empty.
type idSlot struct {
	id  paxos.CommandID
	seq uint64
}

// idKeys key idTable's hash.
var idKeys = func() [2]uint64 {
	s := maphash.MakeSeed()
	return [2]uint64{maphash.String(s, "client"), maphash.String(s, "seq")}
}()

// home returns the slot where id's probe starts.
func (t *idTable) home(id paxos.CommandID) int {
	h := (id.Client ^ idKeys[0]) * 0x9e3779b97f4a7c15
	h = (h ^ h>>29 ^ id.Seq ^ idKeys[1]) * 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return int(h & uint64(len(t.slots)-1))
}

// find returns the slot holding id, or the empty slot where it would go.
func (t *idTable) find(id paxos.CommandID) int {
	if t.slots == nil {
		t.slots = make([]idSlot, 16)
	}
	mask := len(t.slots) - 1
	i := t.home(id)
	for t.slots[i].seq != 0 && t.slots[i].id != id {
		i = (i + 1) & mask
	}
	return i
}

// set maps id to seq, adding id if it is new.
func (t *idTable) set(id paxos.CommandID, seq uint64) {
	i := t.find(id)
	if t.slots[i].seq == 0 {
		if 2*(t.n+1) > len(t.slots) {
			t.grow()
			i = t.find(id)
		}
		t.n++
	}
	t.slots[i] = idSlot{id: id, seq: seq + 1}
}

// delete empties slot i (which holds an id), moving back the entries after
// it whose probe would otherwise pass the new hole.
func (t *idTable) delete(i int) {
	mask := len(t.slots) - 1
	t.n--
	for j := (i + 1) & mask; t.slots[j].seq != 0; j = (j + 1) & mask {
		// the entry at j may fill the hole at i if its home is not in (i, j]
		if h := t.home(t.slots[j].id); (j-h)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = idSlot{}
}

// grow doubles the table.
func (t *idTable) grow() {
	old := t.slots
	t.slots = make([]idSlot, 2*len(old))
	mask := len(t.slots) - 1
	for _, s := range old {
		if s.seq != 0 {
			i := t.home(s.id)
			for t.slots[i].seq != 0 {
				i = (i + 1) & mask
			}
			t.slots[i] = s
		}
	}
}
