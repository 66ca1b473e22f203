// Package idtable is a hash table from command ids to values for the hot
// paths that add and delete an id per command: an open-addressing table
// with linear probing whose deletions shift the entries after them back
// (no tombstones), so a lookup that misses, as every new command's does,
// stops at the first empty slot however many ids came and went. A Go map
// under constant inserts and deletes made those misses long (a Multi-Paxos
// leader's pending proposals: 8% of its CPU in lookups; a node's waiting
// requests: 5%, live profiles at N = 5, K = 1024).
//
// The hash is keyed per process, so the ids a client picks cannot be aimed
// at one run of slots. Only All visits the entries, in an order that
// depends on the key; a deterministic caller must not depend on it.
package idtable

import "hash/maphash"

// ID is a table's key, a command id (ID converts to it) or a
// client's id alone (Seq 0).
type ID struct {
	Client, Seq uint64
}

// Table maps IDs to values of V. The zero V marks an empty slot,
// so a stored value must not be zero (a pointer, or a number kept one
// above what it stands for). The zero Table is empty and ready to use.
type Table[V comparable] struct {
	slots []slot[V] // a power of two long, at most half full; nil when empty
	n     int
	keep  bool // Delete does not shrink (KeepSize)
}

type slot[V comparable] struct {
	id ID
	v  V
}

// keys key the table's hash.
var keys = func() [2]uint64 {
	s := maphash.MakeSeed()
	return [2]uint64{maphash.String(s, "client"), maphash.String(s, "seq")}
}()

// Len returns the number of ids in the table.
func (t *Table[V]) Len() int { return t.n }

// home returns the slot where id's probe starts.
func (t *Table[V]) home(id ID) int {
	h := (id.Client ^ keys[0]) * 0x9e3779b97f4a7c15
	h = (h ^ h>>29 ^ id.Seq ^ keys[1]) * 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return int(h & uint64(len(t.slots)-1))
}

// Find returns the slot holding id, or the empty slot where it would go.
// The slot number is valid until the next Set or Delete.
func (t *Table[V]) Find(id ID) int {
	if t.slots == nil {
		t.slots = make([]slot[V], 16)
	}
	mask := len(t.slots) - 1
	var zero V
	i := t.home(id)
	for t.slots[i].v != zero && t.slots[i].id != id {
		i = (i + 1) & mask
	}
	return i
}

// At returns the value in slot i (the zero V if the slot is empty).
func (t *Table[V]) At(i int) V { return t.slots[i].v }

// Get returns id's value, the zero V if id is not in the table.
func (t *Table[V]) Get(id ID) V { return t.slots[t.Find(id)].v }

// Set maps id to v (not the zero V), adding id if it is new.
func (t *Table[V]) Set(id ID, v V) {
	i := t.Find(id)
	t.SetAt(i, id, v)
}

// SetAt is Set for the slot Find(id) just returned.
func (t *Table[V]) SetAt(i int, id ID, v V) {
	var zero V
	if t.slots[i].v == zero {
		if 2*(t.n+1) > len(t.slots) {
			t.resize(2 * len(t.slots))
			i = t.Find(id)
		}
		t.n++
	}
	t.slots[i] = slot[V]{id: id, v: v}
}

// Delete empties slot i (which holds an id), moving back the entries after
// it whose probe would otherwise pass the new hole. A table at most an
// eighth full shrinks by half (never below minShrink slots), unless
// KeepSize was called.
func (t *Table[V]) Delete(i int) {
	var zero V
	mask := len(t.slots) - 1
	t.n--
	for j := (i + 1) & mask; t.slots[j].v != zero; j = (j + 1) & mask {
		// the entry at j may fill the hole at i if its home is not in (i, j]
		if h := t.home(t.slots[j].id); (j-h)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot[V]{}
	if !t.keep && len(t.slots) > minShrink && 8*t.n <= len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

// KeepSize makes the table keep the slots it grew to: for a table whose
// ids come and go in bursts (all answered at once, then all back), whose
// shrinking after each burst and growing again before the next would
// allocate per burst. Its memory is then that of its peak.
func (t *Table[V]) KeepSize() { t.keep = true }

// minShrink is the smallest size a Delete shrinks a table to: a table
// that held many ids at a peak (a burst of requests) gives its memory back
// as they leave, while one of minShrink slots or fewer never shrinks.
const minShrink = 1024

// All calls f with each id and its value, in slot order. f must not
// change the table.
func (t *Table[V]) All(f func(ID, V)) {
	var zero V
	for _, s := range t.slots {
		if s.v != zero {
			f(s.id, s.v)
		}
	}
}

// Clear empties the table, keeping its slots.
func (t *Table[V]) Clear() {
	clear(t.slots)
	t.n = 0
}

// resize moves the entries to a table of size slots (a power of two, at
// least twice the entries).
func (t *Table[V]) resize(size int) {
	var zero V
	old := t.slots
	t.slots = make([]slot[V], size)
	mask := len(t.slots) - 1
	for _, s := range old {
		if s.v != zero {
			i := t.home(s.id)
			for t.slots[i].v != zero {
				i = (i + 1) & mask
			}
			t.slots[i] = s
		}
	}
}
