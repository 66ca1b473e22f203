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

// pair is one key and its value.
type pair struct{ k, v string }

// shard is one part of a store: its pairs in the order their keys were
// first written, and an open-addressing table (linear probing) that finds
// a key's pair. A slot of the table holds the high 32 bits of the key's
// hash and one more than the pair's place (chunk<<chunkBits | offset), 0
// when it is empty; growing the table moves these numbers only, so no key
// is hashed or read again, and the table holds no pointers for the
// collector to scan. The store never deletes a key, so there are no
// tombstones. Compared with a map[string]string, a new key costs one probe
// of a compact table and an append, instead of a probe, a slot write and,
// as the map grows, moving and hashing every key again (live profiles of
// Multi-Paxos put the map's insert at a quarter of each replica's CPU with
// distinct keys).
//
// The pairs are kept in chunks of at most maxChunk pairs (the first ones
// smaller, doubling), never moved once written: a shard that grows
// allocates its pairs once instead of copying them at every doubling, and
// a copy of the shard (clone, after a snapshot) shares the chunks and
// copies one only when it first writes to it, instead of copying every
// pair. Every chunk but the last is full.
type shard struct {
	slots  []uint64
	chunks [][]pair
	mine   []bool  // mine[i]: chunks[i] is this shard's own, to write in place
	n      int     // number of pairs
	owner  *uint64 // the store generation that may write the shard in place
}

// minSlots is the table size of a new shard; a power of two.
const minSlots = 8

// chunkBits is the bits of a pair's place that give its offset in its
// chunk; maxChunk = 1<<chunkBits pairs (32 KiB) is the largest chunk, and
// minChunk the first chunk of a shard made for few keys.
const (
	chunkBits = 10
	maxChunk  = 1 << chunkBits
	minChunk  = 8
)

// newShard returns an empty shard with room for n keys in its table, and
// for up to maxChunk of them in its first chunk.
func newShard(n int, owner *uint64) *shard {
	size := minSlots
	for size*3 < n*4 {
		size *= 2
	}
	sh := &shard{slots: make([]uint64, size), owner: owner}
	sh.addChunk(min(max(n, minChunk), maxChunk))
	return sh
}

// addChunk appends an empty chunk of room for size pairs.
func (sh *shard) addChunk(size int) {
	sh.chunks = append(sh.chunks, make([]pair, 0, size))
	sh.mine = append(sh.mine, true)
}

// clone returns a copy of sh that owner may write. It copies the table and
// shares every chunk.
func (sh *shard) clone(owner *uint64) *shard {
	slots := make([]uint64, len(sh.slots))
	copy(slots, sh.slots)
	chunks := make([][]pair, len(sh.chunks), len(sh.chunks)+1)
	copy(chunks, sh.chunks)
	return &shard{slots: slots, chunks: chunks, mine: make([]bool, len(chunks), len(chunks)+1), n: sh.n, owner: owner}
}

// writable returns chunk i, copied first if it is shared.
func (sh *shard) writable(i int) []pair {
	if !sh.mine[i] {
		c := make([]pair, len(sh.chunks[i]), cap(sh.chunks[i]))
		copy(c, sh.chunks[i])
		sh.chunks[i], sh.mine[i] = c, true
	}
	return sh.chunks[i]
}

// find returns the slot where key (of hash h) is or would go, and its
// pair's chunk and offset, offset -1 if the shard does not hold it.
func (sh *shard) find(key string, h uint64) (slot, chunk, offset int) {
	tag := h >> 32
	mask := len(sh.slots) - 1
	for i := int(tag) & mask; ; i = (i + 1) & mask {
		s := sh.slots[i]
		if s == 0 {
			return i, 0, -1
		}
		if s>>32 == tag {
			at := int(uint32(s)) - 1
			c, o := at>>chunkBits, at&(maxChunk-1)
			if sh.chunks[c][o].k == key {
				return i, c, o
			}
		}
	}
}

// get returns key's value and whether the shard holds it.
func (sh *shard) get(key string, h uint64) (string, bool) {
	if _, c, o := sh.find(key, h); o >= 0 {
		return sh.chunks[c][o].v, true
	}
	return "", false
}

// put stores value under key and reports whether the key is new.
func (sh *shard) put(key, value string, h uint64) bool {
	slot, c, o := sh.find(key, h)
	if o >= 0 {
		sh.writable(c)[o].v = value
		return false
	}
	last := len(sh.chunks) - 1
	if n := len(sh.chunks[last]); n == cap(sh.chunks[last]) {
		sh.addChunk(min(2*n, maxChunk))
		last++
	}
	chunk := sh.writable(last)
	o = len(chunk)
	sh.chunks[last] = append(chunk, pair{key, value})
	sh.slots[slot] = h>>32<<32 | uint64((last<<chunkBits|o)+1)
	sh.n++
	if sh.n*4 > len(sh.slots)*3 { // over three quarters full
		sh.grow()
	}
	return true
}

// each calls fn for every pair of the shard, in the order their keys were
// first written, until fn returns false, and reports whether it did not.
func (sh *shard) each(fn func(p *pair) bool) bool {
	for _, c := range sh.chunks {
		for i := range c {
			if !fn(&c[i]) {
				return false
			}
		}
	}
	return true
}

// grow doubles the table.
func (sh *shard) grow() {
	slots := make([]uint64, 2*len(sh.slots))
	mask := len(slots) - 1
	for _, s := range sh.slots {
		if s == 0 {
			continue
		}
		i := int(s>>32) & mask
		for slots[i] != 0 {
			i = (i + 1) & mask
		}
		slots[i] = s
	}
	sh.slots = slots
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
		for _, c := range sh.chunks {
			for _, p := range c {
				buf = msgpackappend.String(msgpackappend.String(buf, p.k), p.v)
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
