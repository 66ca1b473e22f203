package kv

import (
	"hash/maphash"

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
// or read again. The store never deletes a key, so there are no
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
// allocates its entries once instead of copying them at every doubling.
// The arena's chunks hold minArena bytes, doubling up to maxArena, or one
// key and value larger than that. A put of a new key appends the key and
// value to the arena; overwriting a value writes it in place when the new
// one is no longer, else appends the key and the new value (an entry's
// value follows its key), and the old bytes become garbage. When the
// garbage exceeds both the live bytes and minCompact, the shard compacts:
// it copies its live keys and values into new chunks (compact), so memory
// stays within about twice the live data however often keys are reused,
// at a cost proportional to the garbage that triggered it (amortized over
// the writes that made it), and to one shard, never to the whole store.
//
// A snapshot (freeze) gets a view of the shard: its lists of chunks, each
// chunk cut at its current length, and no table (it reads entries in
// order and finds a key by scanning its shard). The shard then records
// for each chunk how much of it the snapshot may read (eshared, dshared)
// and copies a chunk before it writes below that (copy on write). What a
// store mostly writes after a snapshot is past it: new entries and new
// bytes are appended at the end of the last chunks, so with distinct keys
// nothing is copied, and only values overwritten in place copy the chunks
// they are in. The table is never shared: a new key writes a slot at a
// random place of it, so sharing it copied, page by page, nearly the
// whole table after every snapshot (the largest part of the copy on write
// in live profiles). A store restored from a snapshot (thaw) builds its
// table from the entries when it first needs it, hashing each key once.
type shard struct {
	slots []uint64 // the table: a power of two slots; nil until built (thaw)
	ents  [][]entry
	// eshared[i] is how many leading entries of ents[i] a snapshot or
	// another store may read: the shard copies ents[i] before it writes one
	// of them (appending past them needs no copy).
	eshared []int
	n       int // number of entries

	data    [][]byte // the arena
	dshared []int    // as eshared, in bytes of the arena's chunks
	tail    int      // the chunk of data new bytes go to; -1 before the first
	used    int      // bytes of the arena written (live and garbage)
	live    int      // bytes of the keys and values the entries point at
}

// minSlots is the table size of a new shard; a power of two.
const minSlots = 8

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
func newShard(n int) *shard {
	sh := &shard{tail: -1}
	sh.setTable(tableSize(n))
	sh.addChunk(min(max(n, minChunk), maxChunk))
	return sh
}

// tableSize is the size of a table for n keys: the smallest power of two
// (at least minSlots) that n fill at most three quarters of.
func tableSize(n int) int {
	size := minSlots
	for size*3 < n*4 {
		size *= 2
	}
	return size
}

// setTable gives sh an empty table of size slots (a power of two).
func (sh *shard) setTable(size int) { sh.slots = make([]uint64, size) }

// place puts slot s (its key's tag in the high 32 bits) at the first
// empty slot of its probe sequence in a table that has no such key.
func place(slots []uint64, s uint64) {
	mask := len(slots) - 1
	i := int(s>>32) & mask
	for slots[i] != 0 {
		i = (i + 1) & mask
	}
	slots[i] = s
}

// addChunk appends an empty chunk of room for size entries.
func (sh *shard) addChunk(size int) {
	sh.ents = append(sh.ents, make([]entry, 0, size))
	sh.eshared = append(sh.eshared, 0)
}

// freeze makes v a view of sh for a snapshot: what sh holds now, which no
// later write of sh changes. The view shares every chunk, cut at its
// length (so that nothing appended to a store thawed from it could land
// where sh appends), has no table, and must not be written; sh copies a
// chunk before it writes where the view reads. ents and data are room
// for the view's lists of chunks (len(sh.ents) and len(sh.data)).
func (sh *shard) freeze(v *shard, ents [][]entry, data [][]byte) {
	*v = shard{ents: ents, data: data, n: sh.n, tail: sh.tail, used: sh.used, live: sh.live}
	for i, c := range sh.ents {
		ents[i], sh.eshared[i] = c[:len(c):len(c)], len(c)
	}
	for i, c := range sh.data {
		data[i], sh.dshared[i] = c[:len(c):len(c)], len(c)
	}
}

// freezeAll returns views (freeze) of the shards, made with one
// allocation of each kind rather than three per shard.
func freezeAll(from *shards) *shards {
	var n, ne, nd int
	for _, sh := range from {
		if sh != nil {
			n, ne, nd = n+1, ne+len(sh.ents), nd+len(sh.data)
		}
	}
	to := new(shards)
	views := make([]shard, n)
	ents := make([][]entry, ne)
	data := make([][]byte, nd)
	for i, sh := range from {
		if sh == nil {
			continue
		}
		v := &views[0]
		sh.freeze(v, ents[:len(sh.ents):len(sh.ents)], data[:len(sh.data):len(sh.data)])
		to[i], views = v, views[1:]
		ents, data = ents[len(sh.ents):], data[len(sh.data):]
	}
	return to
}

// thaw returns a shard a store may write, holding what the view v (from
// freeze) holds and sharing its chunks. Its table is built when it is
// first needed (index).
func (v *shard) thaw() *shard {
	sh := &shard{n: v.n, tail: v.tail, used: v.used, live: v.live}
	sh.ents = make([][]entry, len(v.ents), len(v.ents)+1)
	sh.eshared = make([]int, len(v.ents), len(v.ents)+1)
	for i, c := range v.ents {
		sh.ents[i], sh.eshared[i] = c, len(c)
	}
	sh.data = make([][]byte, len(v.data), len(v.data)+1)
	sh.dshared = make([]int, len(v.data), len(v.data)+1)
	for i, c := range v.data {
		sh.data[i], sh.dshared[i] = c, len(c)
	}
	return sh
}

// index builds the table of a shard that has none (thaw): each key is
// hashed once.
func (sh *shard) index() {
	sh.setTable(tableSize(sh.n))
	for c, ents := range sh.ents {
		for o := range ents {
			h := maphash.Bytes(seed, sh.bytes(ents[o].key()))
			place(sh.slots, h>>32<<32|uint64((c<<chunkBits|o)+1))
		}
	}
}

// entryAt returns entry o of chunk c to write, copying the chunk first if
// a snapshot reads that entry.
func (sh *shard) entryAt(c, o int) *entry { return &own(sh.ents, sh.eshared, c, o)[o] }

// dataAt returns chunk c of the arena to write at offset o, copying it
// first if a snapshot reads that offset.
func (sh *shard) dataAt(c, o int) []byte { return own(sh.data, sh.dshared, c, o) }

// own returns chunks[i] to write at index at: first replaced by a copy of
// the same capacity if shared[i] says that a snapshot or another store
// reads there. Past shared[i] (an append) it writes in place.
func own[T entry | byte](chunks [][]T, shared []int, i, at int) []T {
	if at < shared[i] {
		c := make([]T, len(chunks[i]), cap(chunks[i]))
		copy(c, chunks[i])
		chunks[i], shared[i] = c, 0
	}
	return chunks[i]
}

// bytes returns the bytes of s, which the caller must not write or keep.
func (sh *shard) bytes(s span) []byte { return sh.data[s.c][s.o : s.o+s.n] }

// alloc makes room for n bytes at the end of the arena and returns where
// they are and the chunk to write them to (past what any snapshot reads).
func (sh *shard) alloc(n int) (span, []byte) {
	if t := sh.tail; t >= 0 && len(sh.data[t])+n <= cap(sh.data[t]) {
		c := sh.data[t]
		o := len(c)
		sh.data[t] = c[:o+n]
		sh.used += n
		return span{uint32(t), uint32(o), uint32(n)}, sh.data[t]
	}
	size := minArena
	if sh.tail >= 0 {
		size = min(max(2*cap(sh.data[sh.tail]), minArena), maxArena)
	}
	if n > size { // a chunk of its own; the tail stays for smaller ones
		sh.data = append(sh.data, make([]byte, n))
		sh.dshared = append(sh.dshared, 0)
		sh.used += n
		return span{uint32(len(sh.data) - 1), 0, uint32(n)}, sh.data[len(sh.data)-1]
	}
	sh.data = append(sh.data, make([]byte, n, size))
	sh.dshared = append(sh.dshared, 0)
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

// find is shard.find for either kind of key. A shard without a table
// (thaw) builds it first.
func find[K text](sh *shard, key K, h uint64) (slot, chunk, offset int) {
	if sh.slots == nil {
		sh.index()
	}
	tag := h >> 32
	slots := sh.slots
	mask := len(slots) - 1
	for i := sh.home(h); ; i = (i + 1) & mask {
		s := slots[i]
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
}

// home returns the first slot that find probes for a key of hash h, in a
// shard with a table.
func (sh *shard) home(h uint64) int { return int(h>>32) & (len(sh.slots) - 1) }

// get returns (a copy of) key's value and whether the shard holds it.
func (sh *shard) get(key string, h uint64) (string, bool) {
	if _, c, o := sh.find(key, h); o >= 0 {
		return string(sh.bytes(sh.ents[c][o].value())), true
	}
	return "", false
}

// scan is get for a view (freeze), which has no table: it reads the
// shard's keys in order.
func (sh *shard) scan(key string) (value string, ok bool) {
	sh.each(func(k, v []byte) bool {
		if string(k) == key {
			value, ok = string(v), true
		}
		return !ok
	})
	return value, ok
}

// put stores value under key and reports whether the key is new.
func (sh *shard) put(key, value string, h uint64) bool { return put(sh, key, value, h) }

// put is shard.put for either kind of key and value.
func put[K, V text](sh *shard, key K, value V, h uint64) bool {
	slot, c, o := find(sh, key, h)
	if o >= 0 {
		if e := sh.ents[c][o]; int(e.vn) == len(value) { // the common case: in place
			at := int(e.o + e.kn)
			copy(sh.dataAt(int(e.c), at)[at:], value)
			return false
		}
		overwrite(sh, sh.entryAt(c, o), value)
		return false
	}
	last := len(sh.ents) - 1
	if n := len(sh.ents[last]); n == cap(sh.ents[last]) {
		sh.addChunk(min(max(2*n, minChunk), maxChunk))
		last++
	}
	o = len(sh.ents[last]) // past what any snapshot reads: appended in place
	sh.ents[last] = append(sh.ents[last], store(sh, key, value))
	sh.slots[slot] = h>>32<<32 | uint64((last<<chunkBits|o)+1)
	sh.n++
	if sh.n*4 > len(sh.slots)*3 { // over three quarters full
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
		at := int(e.o + e.kn)
		copy(sh.dataAt(int(e.c), at)[at:], value)
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
	sh.dshared = []int{0}
	sh.tail, sh.used = 0, 0
	for i := range sh.ents {
		ents := own(sh.ents, sh.eshared, i, 0)
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
	sh.setTable(2 * len(old))
	for _, s := range old {
		if s != 0 {
			place(sh.slots, s)
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
