// Package readypool keeps the lists of a finished paxos.Ready for the next
// one, so that a replica driven by node.Node does not allocate its Ready's
// lists anew, and grow them, every time it is asked for one.
//
// A replica embeds a Spares, hands the lists of a Ready the node is done
// with to Put (from its RecycleReady method, which node.Node calls once it
// has carried a Ready out), and calls Fill on the Ready it is starting.
// Replicas driven by anything else (the simulator, the checker) never call
// Put, so Fill leaves their Readies as before: nil lists.
package readypool

import "github.com/paxos-lab/paxos"

// maxKept bounds the capacity of a list kept for reuse, so that one burst
// does not pin a large array for the rest of the run; it also bounds the
// capacity of all the lists of one kind kept together.
const maxKept = 1 << 14

// maxLists is how many lists of each kind are kept. A node persisting in
// the background has many Readies in flight at once (every Ready stepped
// while the previous group is written), and they come back in bursts: with
// one list kept per kind, all but one Ready of a burst started with nil
// lists and grew them again.
const maxLists = 32

// Spares holds emptied lists of each kind but Persist (a storage may keep
// the records it was handed): at most maxLists of each, of at most maxKept
// elements together. The zero value is ready to use.
type Spares struct {
	messages  kept[paxos.Message]
	executed  kept[paxos.Execution]
	committed kept[paxos.Commit]
	decided   kept[paxos.Decision]
}

// Put keeps rd's lists for reuse, cleared so that they hold on to nothing.
// The caller must be done with rd and everything that shares its lists.
func (s *Spares) Put(rd *paxos.Ready) {
	s.messages.put(rd.Messages)
	s.executed.put(rd.Executed)
	s.committed.put(rd.Committed)
	s.decided.put(rd.Decided)
}

// Fill gives each nil list of rd but Persist the largest kept one (empty,
// with room), if any.
func (s *Spares) Fill(rd *paxos.Ready) {
	rd.Messages = s.messages.take(rd.Messages)
	rd.Executed = s.executed.take(rd.Executed)
	rd.Committed = s.committed.take(rd.Committed)
	rd.Decided = s.decided.take(rd.Decided)
}

// kept is the emptied lists of one kind, and their total capacity.
type kept[T any] struct {
	lists [][]T
	room  int
}

// put keeps done, cleared, if it has room and the bounds allow; when the
// capacity bound does not, done replaces a smaller kept list if one would
// make room.
func (k *kept[T]) put(done []T) {
	c := cap(done)
	if c == 0 || c > maxKept {
		return
	}
	if len(k.lists) >= maxLists || k.room+c > maxKept {
		i := k.smallest()
		if i < 0 || cap(k.lists[i]) >= c || k.room-cap(k.lists[i])+c > maxKept {
			return
		}
		k.room -= cap(k.lists[i])
		k.lists[i] = k.lists[len(k.lists)-1]
		k.lists[len(k.lists)-1] = nil
		k.lists = k.lists[:len(k.lists)-1]
	}
	clear(done)
	k.lists = append(k.lists, done[:0])
	k.room += c
}

// take hands the largest kept list to a nil list.
func (k *kept[T]) take(list []T) []T {
	if list != nil || len(k.lists) == 0 {
		return list
	}
	i := 0
	for j := range k.lists {
		if cap(k.lists[j]) > cap(k.lists[i]) {
			i = j
		}
	}
	got := k.lists[i]
	last := len(k.lists) - 1
	k.lists[i] = k.lists[last]
	k.lists[last] = nil
	k.lists = k.lists[:last]
	k.room -= cap(got)
	return got
}

// smallest returns the index of the kept list with the least capacity, or
// -1 when none is kept.
func (k *kept[T]) smallest() int {
	i := -1
	for j := range k.lists {
		if i < 0 || cap(k.lists[j]) < cap(k.lists[i]) {
			i = j
		}
	}
	return i
}

// Room returns list with room for n more elements. Unlike slices.Grow,
// which copies a list's whole capacity (a reused list is empty but large),
// it copies only the elements in use, and unlike append's growth (a
// quarter at a time for large lists) it at least doubles the capacity, so
// that the many appends of one Ready copy each element about once.
func Room[T any](list []T, n int) []T {
	if cap(list)-len(list) >= n {
		return list
	}
	grown := make([]T, len(list), max(2*cap(list), len(list)+n))
	copy(grown, list)
	return grown
}
