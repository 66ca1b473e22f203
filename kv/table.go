package kv

import (
	"hash/maphash"
	"slices"

	"github.com/paxos-lab/paxos/internal/msgpackappend"
	"github.com/vmihailenco/msgpack/v5"
)

// seed keys the hash of every store of this process. A store's contents do
// not depend on it; only the order in which Snapshot.Range visits keys does
// (as with a Go map, that order means nothing).
var seed = maphash.MakeSeed()

// hashKey returns the hash of key that picks its shard (the low bits) and
// its place in the shard's table (the high 32 bits, also stored there).
func hashKey(key string) uint64 { return maphash.String(seed, key) }

// entry is one key and its value: where the shard's arena holds them, the
// value right after the key (chunk c, offset o, lengths kn and vn).
type entry struct{ c, o, kn, vn uint32 }

// key and value return where e's key and value are.
func (e entry) key() span   { return span{e.c, e.o, e.kn} }
func (e entry) value() span { return span{e.c, e.o + e.kn, e.vn} }

// span is where some bytes are in a shard's arena: chunk, offset in it and
// length.
type span struct{ c, o, n uint32 }

// shard is one part of a store: its entries in the order their keys were
// first written, an open-addressing table (linear probing) that finds a
// key's entry, and an arena that holds the bytes of the keys and values.
// A slot of the table holds the high 32 bits of the key's hash and one
// more than the entry's place (chunk<<chunkBits | offset), 0 when it is
// empty; growing the table moves these numbers only, so no key is hashed
// or read again. A table of more than pageSlots slots is kept in pages of
// pageSlots, shared after a snapshot and copied on write like the chunks
// below. The store never deletes a key, so there are no
// tombstones. Compared with a map[string]string, a new key costs one
// probe of a compact table and an append, instead of a probe, a slot
// write and, as the map grows, moving and hashing every key again (live
// profiles of Multi-Paxos put the map's insert at a quarter of each
// replica's CPU with distinct keys).
//
// Nothing the shard keeps per key holds a pointer: the table is integers,
// an entry is offsets and lengths, and the keys and values are bytes
// copied into the arena's chunks, so the garbage collector does not scan
// them (it marked every key and value string of the store at every cycle
// when entries were pairs of strings: 20-30% of a live replica's CPU with
// distinct keys). It scans one slice header per chunk.
//
// The entries are kept in chunks of at most maxChunk (the first ones
// smaller, doubling), never moved once written: a shard that grows
// allocates its entries once instead of copying them at every doubling,
// and a copy of the shard (clone, after a snapshot) shares the chunks and
// the table's pages and copies one only when it first writes to it. The
// first write to a shard after a snapshot so copies one page and the last
// chunk of entries and of the arena (16 KiB at most), not the shard's
// whole table: with keys spread over every shard, the first few batches
// after a snapshot wrote to most shards and copied every table at once
// (6 MB in the first batch of 64 puts into a store of 1.5M keys, where a
// usual batch allocates 1 KB), stalling the replica that executes them.
// Every chunk but the last is full. The arena's chunks (minArena bytes, doubling up to maxArena, or
// one chunk of its own for a larger key and value) are shared and copied
// on write the same way. A put of a new key appends the key and value to
// the arena; overwriting a value writes it in place when the new one is
// no longer, else appends the key and the new value (an entry's value
// follows its key), and the old bytes become garbage. When the
// garbage exceeds both the live bytes and minCompact, the shard compacts:
// it copies its live keys and values into new chunks (compact), so memory
// stays within about twice the live data however often keys are reused,
// at a cost proportional to the garbage that triggered it (amortized over
// the writes that made it), and to one shard, never to the whole store.
type shard struct {
	slots  [][]uint64 // the table's pages
	smine  []bool     // smine[i]: slots[i] is this shard's own
	nslots int        // the table's size: a power of two
	ents   [][]entry
	mine   []bool // mine[i]: ents[i] is this shard's own, to write in place
	n      int    // number of entries

	data  [][]byte // the arena
	dmine []bool   // dmine[i]: data[i] is this shard's own
	tail  int      // the chunk of data new bytes go to; -1 before the first
	used  int      // bytes of the arena written (live and garbage)
	live  int      // bytes of the keys and values the entries point at

	owner *uint64 // the store generation that may write the shard in place
}

// minSlots is the table size of a new shard; a power of two.
const minSlots = 8

// pageBits is the bits of a slot's index that give its place in its page
// of the table; a page holds pageSlots slots (4 KiB).
const (
	pageBits  = 9
	pageSlots = 1 << pageBits
)

// chunkBits is the bits of an entry's place that give its offset in its
// chunk; maxChunk = 1<<chunkBits entries (4 KiB) is the largest chunk,
// and minChunk the first chunk of a shard made for few keys.
const (
	chunkBits = 8
	maxChunk  = 1 << chunkBits
	minChunk  = 8
)

// minArena and maxArena bound the size of an arena chunk in bytes;
// minCompact is the garbage below which a shard never compacts.
const (
	minArena   = 256
	maxArena   = 8 << 10
	minCompact = 4 << 10
)

// newShard returns an empty shard with room for n keys in its table, and
// for up to maxChunk of them in its first chunk.
func newShard(n int, owner *uint64) *shard {
	size := minSlots
	for size*3 < n*4 {
		size *= 2
	}
	sh := &shard{owner: owner, tail: -1}
	sh.setTable(size)
	sh.addChunk(min(max(n, minChunk), maxChunk))
	return sh
}

// setTable gives sh an empty table of size slots (a power of two), in
// pages of its own.
func (sh *shard) setTable(size int) {
	page := min(size, pageSlots)
	sh.slots = make([][]uint64, size/page)
	sh.smine = make([]bool, len(sh.slots))
	for i := range sh.slots {
		sh.slots[i], sh.smine[i] = make([]uint64, page), true
	}
	sh.nslots = size
}

// slot returns the table's slot i.
func (sh *shard) slot(i int) uint64 { return sh.slots[i>>pageBits][i&(pageSlots-1)] }

// setSlot writes the table's slot i, first copying its page if it is
// shared.
func (sh *shard) setSlot(i int, s uint64) {
	own(sh.slots, sh.smine, i>>pageBits)[i&(pageSlots-1)] = s
}

// addChunk appends an empty chunk of room for size entries.
func (sh *shard) addChunk(size int) {
	sh.ents = append(sh.ents, make([]entry, 0, size))
	sh.mine = append(sh.mine, true)
}

// clone returns a copy of sh that owner may write. It shares every page of
// the table and every chunk of entries and of the arena.
func (sh *shard) clone(owner *uint64) *shard {
	c := *sh
	c.slots = slices.Clone(sh.slots)
	c.smine = make([]bool, len(sh.slots))
	c.ents = make([][]entry, len(sh.ents), len(sh.ents)+1)
	copy(c.ents, sh.ents)
	c.mine = make([]bool, len(sh.ents), len(sh.ents)+1)
	c.data = make([][]byte, len(sh.data), len(sh.data)+1)
	copy(c.data, sh.data)
	c.dmine = make([]bool, len(sh.data), len(sh.data)+1)
	c.owner = owner
	return &c
}

// writable returns chunk i of the entries, copied first if it is shared.
func (sh *shard) writable(i int) []entry { return own(sh.ents, sh.mine, i) }

// writableData returns chunk i of the arena, copied first if it is shared.
func (sh *shard) writableData(i int) []byte { return own(sh.data, sh.dmine, i) }

// own returns chunks[i], first replaced by a copy of the same capacity
// unless mine[i] says the shard may write it.
func own[T entry | byte | uint64](chunks [][]T, mine []bool, i int) []T {
	if !mine[i] {
		c := make([]T, len(chunks[i]), cap(chunks[i]))
		copy(c, chunks[i])
		chunks[i], mine[i] = c, true
	}
	return chunks[i]
}

// bytes returns the bytes of s, which the caller must not write or keep.
func (sh *shard) bytes(s span) []byte { return sh.data[s.c][s.o : s.o+s.n] }

// alloc makes room for n bytes at the end of the arena and returns where
// they are and the chunk to write them to.
func (sh *shard) alloc(n int) (span, []byte) {
	if t := sh.tail; t >= 0 && len(sh.data[t])+n <= cap(sh.data[t]) {
		c := sh.writableData(t)
		o := len(c)
		sh.data[t] = c[:o+n]
		sh.used += n
		return span{uint32(t), uint32(o), uint32(n)}, sh.data[t]
	}
	size := minArena
	if sh.tail >= 0 {
		size = min(2*cap(sh.data[sh.tail]), maxArena)
	}
	if n > size { // a chunk of its own; the tail stays for smaller ones
		sh.data = append(sh.data, make([]byte, n))
		sh.dmine = append(sh.dmine, true)
		sh.used += n
		return span{uint32(len(sh.data) - 1), 0, uint32(n)}, sh.data[len(sh.data)-1]
	}
	sh.data = append(sh.data, make([]byte, n, size))
	sh.dmine = append(sh.dmine, true)
	sh.tail = len(sh.data) - 1
	sh.used += n
	return span{uint32(sh.tail), 0, uint32(n)}, sh.data[sh.tail]
}

// text is a key or value as the store takes it: a string, or bytes from a
// decoder's buffer.
type text interface{ string | []byte }

// store appends key (possibly empty) and value to the arena, the value
// right after the key, and returns where they are.
func store[K, V text](sh *shard, key K, value V) entry {
	s, c := sh.alloc(len(key) + len(value))
	copy(c[s.o:], key)
	copy(c[s.o+uint32(len(key)):], value)
	sh.live += len(key) + len(value)
	return entry{s.c, s.o, uint32(len(key)), uint32(len(value))}
}

// find returns the slot where key (of hash h) is or would go, and its
// entry's chunk and offset, offset -1 if the shard does not hold it.
func (sh *shard) find(key string, h uint64) (slot, chunk, offset int) { return find(sh, key, h) }

// find is shard.find for either kind of key. It probes a page at a time,
// reading the page's place once.
func find[K text](sh *shard, key K, h uint64) (slot, chunk, offset int) {
	tag := h >> 32
	i := int(tag) & (sh.nslots - 1)
	for {
		page := sh.slots[i>>pageBits]
		for j := i & (pageSlots - 1); j < len(page); i, j = i+1, j+1 {
			s := page[j]
			if s == 0 {
				return i, 0, -1
			}
			if s>>32 == tag {
				at := int(uint32(s)) - 1
				c, o := at>>chunkBits, at&(maxChunk-1)
				if e := &sh.ents[c][o]; int(e.kn) == len(key) && string(sh.data[e.c][e.o:e.o+e.kn]) == string(key) {
					return i, c, o
				}
			}
		}
		i &= sh.nslots - 1 // past the last page: wrap around
	}
}

// get returns (a copy of) key's value and whether the shard holds it.
func (sh *shard) get(key string, h uint64) (string, bool) {
	if _, c, o := sh.find(key, h); o >= 0 {
		return string(sh.bytes(sh.ents[c][o].value())), true
	}
	return "", false
}

// put stores value under key and reports whether the key is new.
func (sh *shard) put(key, value string, h uint64) bool { return put(sh, key, value, h) }

// put is shard.put for either kind of key and value.
func put[K, V text](sh *shard, key K, value V, h uint64) bool {
	slot, c, o := find(sh, key, h)
	if o >= 0 {
		e := &sh.writable(c)[o]
		if int(e.vn) == len(value) && sh.dmine[e.c] { // the common case, inline
			copy(sh.data[e.c][e.o+e.kn:], value)
			return false
		}
		overwrite(sh, e, value)
		return false
	}
	last := len(sh.ents) - 1
	if n := len(sh.ents[last]); n == cap(sh.ents[last]) {
		sh.addChunk(min(2*n, maxChunk))
		last++
	}
	chunk := sh.writable(last)
	o = len(chunk)
	sh.ents[last] = append(chunk, store(sh, key, value))
	sh.setSlot(slot, h>>32<<32|uint64((last<<chunkBits|o)+1))
	sh.n++
	if sh.n*4 > sh.nslots*3 { // over three quarters full
		sh.grow()
	}
	return true
}

// overwrite gives e, an entry of sh, the value: in place if it fits where the old one is,
// else with a copy of the key appended to the arena (the old key and value
// become garbage), and compacts the shard when its garbage has come to
// exceed its live bytes.
func overwrite[V text](sh *shard, e *entry, value V) {
	if old := int(e.vn); len(value) <= old {
		copy(sh.writableData(int(e.c))[e.o+e.kn:], value)
		e.vn = uint32(len(value))
		sh.live -= old - len(value)
	} else {
		sh.live -= int(e.kn) + old
		*e = store(sh, sh.bytes(e.key()), value)
	}
	if g := sh.used - sh.live; g > sh.live && g > minCompact {
		sh.compact()
	}
}

// compact copies the live keys and values into a new arena and points the
// entries at them; the old chunks are left to the collector (or to the
// snapshots that share them).
func (sh *shard) compact() {
	old := sh.data
	sh.data = [][]byte{make([]byte, 0, min(max(sh.live, minArena), maxArena))}
	sh.dmine = []bool{true}
	sh.tail, sh.used = 0, 0
	for i := range sh.ents {
		ents := sh.writable(i)
		for j := range ents {
			e := &ents[j]
			kv := old[e.c][e.o : e.o+e.kn+e.vn]
			s, c := sh.alloc(len(kv))
			copy(c[s.o:], kv)
			e.c, e.o = s.c, s.o
		}
	}
	sh.live = sh.used
}

// each calls fn for every key and value of the shard (bytes that fn must
// not write or keep), in the order their keys were first written, until fn
// returns false, and reports whether it did not.
func (sh *shard) each(fn func(k, v []byte) bool) bool {
	for _, c := range sh.ents {
		for i := range c {
			if !fn(sh.bytes(c[i].key()), sh.bytes(c[i].value())) {
				return false
			}
		}
	}
	return true
}

// grow doubles the table.
func (sh *shard) grow() {
	old := sh.slots
	sh.setTable(2 * sh.nslots)
	mask := sh.nslots - 1
	for _, page := range old {
		for _, s := range page {
			if s == 0 {
				continue
			}
			i := int(s>>32) & mask
			for sh.slot(i) != 0 {
				i = (i + 1) & mask
			}
			sh.slots[i>>pageBits][i&(pageSlots-1)] = s
		}
	}
}

// pairChunk is how many bytes of pairs writePairs gathers before it writes
// them.
const pairChunk = 32 << 10

// writePairs writes the snapshot's keys and values to enc's writer as msgpack strings,
// key then value, appended by hand in chunks: the bytes
// msgpack.Encoder.EncodeString writes (TestPairBytesMatchEncoder), without
// two method calls per pair, which cost more than the rest of a snapshot's
// encoding.
func (snap Snapshot) writePairs(enc *msgpack.Encoder) error {
	if snap.shared == nil {
		return nil
	}
	w := enc.Writer()
	buf := make([]byte, 0, pairChunk)
	for _, sh := range snap.shared {
		if sh == nil {
			continue
		}
		for _, c := range sh.ents {
			for _, e := range c {
				buf = msgpackappend.StringBytes(msgpackappend.StringBytes(buf, sh.bytes(e.key())), sh.bytes(e.value()))
				if len(buf) >= pairChunk {
					if _, err := w.Write(buf); err != nil {
						return err
					}
					buf = buf[:0]
				}
			}
		}
	}
	if len(buf) == 0 {
		return nil
	}
	_, err := w.Write(buf)
	return err
}
