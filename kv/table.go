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
// hash and one more than the pair's index, 0 when it is empty; growing the
// table moves these numbers only, so no key is hashed or read again, and
// the table holds no pointers for the collector to scan. The store never
// deletes a key, so there are no tombstones. Compared with a
// map[string]string, a new key costs one probe of a compact table and an
// append, instead of a probe, a slot write and, as the map grows, moving
// and hashing every key again (live profiles of Multi-Paxos put the map's
// insert at a quarter of each replica's CPU with distinct keys).
type shard struct {
	slots []uint64
	pairs []pair
	owner *uint64 // the store generation that may write the shard in place
}

// minSlots is the table size of a new shard; a power of two.
const minSlots = 8

// newShard returns an empty shard with room for n keys.
func newShard(n int, owner *uint64) *shard {
	size := minSlots
	for size*3 < n*4 {
		size *= 2
	}
	return &shard{slots: make([]uint64, size), pairs: make([]pair, 0, n), owner: owner}
}

// clone returns a copy of sh that owner may write.
func (sh *shard) clone(owner *uint64) *shard {
	pairs := make([]pair, len(sh.pairs), len(sh.pairs)+len(sh.pairs)/4+1)
	copy(pairs, sh.pairs)
	slots := make([]uint64, len(sh.slots))
	copy(slots, sh.slots)
	return &shard{slots: slots, pairs: pairs, owner: owner}
}

// find returns the slot where key (of hash h) is or would go, and its
// pair's index, -1 if the shard does not hold it.
func (sh *shard) find(key string, h uint64) (slot, index int) {
	tag := h >> 32
	mask := len(sh.slots) - 1
	for i := int(tag) & mask; ; i = (i + 1) & mask {
		s := sh.slots[i]
		if s == 0 {
			return i, -1
		}
		if s>>32 == tag {
			if p := int(uint32(s)) - 1; sh.pairs[p].k == key {
				return i, p
			}
		}
	}
}

// get returns key's value and whether the shard holds it.
func (sh *shard) get(key string, h uint64) (string, bool) {
	if _, p := sh.find(key, h); p >= 0 {
		return sh.pairs[p].v, true
	}
	return "", false
}

// put stores value under key and reports whether the key is new.
func (sh *shard) put(key, value string, h uint64) bool {
	slot, p := sh.find(key, h)
	if p >= 0 {
		sh.pairs[p].v = value
		return false
	}
	sh.pairs = append(sh.pairs, pair{key, value})
	sh.slots[slot] = h>>32<<32 | uint64(len(sh.pairs))
	if len(sh.pairs)*4 > len(sh.slots)*3 { // over three quarters full
		sh.grow()
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
		for _, p := range sh.pairs {
			buf = msgpackappend.String(msgpackappend.String(buf, p.k), p.v)
			if len(buf) >= pairChunk {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	if len(buf) == 0 {
		return nil
	}
	_, err := w.Write(buf)
	return err
}
