package epaxos

import (
	"hash/maphash"
	"slices"
)

// A factsShard's table: open addressing with linear probing over slots, a
// power of two of them and at most three quarters full, over an array of
// entries (factsEntry) in the order their keys were added. A slot holds a
// key's slot hash (slotHash) in its high half and its entry's position
// plus one in its low half; 0 is empty. Keys are removed only by prune,
// which rebuilds the slots of the entries it keeps, so no slot is ever a
// tombstone; growing the table, like rebuilding it, reads the hashes kept
// with the entries and hashes no key again. The entries hold the keys'
// strings; the slots hold no pointers.
//
// The slot hash is not fnv1a, which picks a key's shard and floor bucket
// and must be the same in every run: FNV-1a's collisions are cheap to make
// (Joux's multicollisions give 2^t keys of one hash for t birthday
// searches), and a client that chose keys of one hash would make every
// probe of their shard walk all of them, quadratic work for the replica
// (TestFactsTableResistsCollidingKeys). The slot hash is keyed by a seed
// drawn once per process, as Go's maps seed theirs (and kv's tables; see
// archtest.PureStd): where a key sits in the table never decides anything,
// since the entries keep their order.

// slotSeed keys slotHash for this process.
var slotSeed = maphash.MakeSeed()

// slotHash is the hash that places key k in its shard's table.
func slotHash(k string) uint32 { return uint32(maphash.String(slotSeed, k)) }

// minSlots is the size of a shard's first table.
const minSlots = 8

// slotMul spreads a slot hash over the table (Fibonacci hashing: the top
// bits of the product pick the first slot probed, and depend on all of the
// hash's bits).
const slotMul = 0x9E3779B1

// factsEntry is a key of a shard, its facts, its hash (fnv1a) and its slot
// hash: one array of them, so that finding a key reads one entry after its
// slot.
type factsEntry struct {
	k string
	f keyFacts
	h uint32
	s uint32
}

// lookup returns the position of key k among the shard's entries, or −1 if
// the shard does not hold it.
func (s *factsShard) lookup(k string) int {
	if len(s.slots) == 0 {
		return -1
	}
	h := slotHash(k)
	mask := uint32(len(s.slots) - 1)
	for i := h * slotMul >> s.shift; ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			return -1
		}
		if uint32(v>>32) == h {
			if e := int(uint32(v)) - 1; s.entries[e].k == k {
				return e
			}
		}
	}
}

// insert adds key k, which the shard does not hold, with hash (fnv1a) h and
// facts f, growing the table first if it would be over three quarters full.
func (s *factsShard) insert(k string, h uint32, f keyFacts) {
	if 4*(len(s.entries)+1) > 3*len(s.slots) {
		s.resize(max(minSlots, 2*len(s.slots)))
	}
	sh := slotHash(k)
	s.entries = append(s.entries, factsEntry{k: k, f: f, h: h, s: sh})
	s.place(sh, len(s.entries))
}

// place stores the slot of slot hash h naming entry position e−1 in the first
// empty slot of its probe sequence.
func (s *factsShard) place(h uint32, e int) {
	mask := uint32(len(s.slots) - 1)
	i := h * slotMul >> s.shift
	for s.slots[i] != 0 {
		i = (i + 1) & mask
	}
	s.slots[i] = uint64(h)<<32 | uint64(e)
}

// resize gives the shard a table of n slots (a power of two, at least
// minSlots, holding its entries at most three quarters full), filled from
// the entries' hashes.
func (s *factsShard) resize(n int) {
	if len(s.slots) == n {
		clear(s.slots)
	} else {
		s.slots = make([]uint64, n)
	}
	s.shift = uint8(32 - log2(n))
	for e := range s.entries {
		s.place(s.entries[e].s, e+1)
	}
}

// log2 returns the base-2 logarithm of n, a power of two.
func log2(n int) int {
	l := 0
	for n > 1 {
		n >>= 1
		l++
	}
	return l
}

// slotsFor returns the table size for n entries: the smallest power of two
// of at least minSlots slots that n fill at most three quarters.
func slotsFor(n int) int {
	size := minSlots
	for 4*n > 3*size {
		size *= 2
	}
	return size
}

// clone returns a copy of the shard owned by owner, sharing nothing with
// it (the strings aside, which never change).
func (s *factsShard) clone(owner *uint64) *factsShard {
	return &factsShard{
		entries: slices.Clone(s.entries),
		slots:   slices.Clone(s.slots),
		shift:   s.shift,
		owner:   owner,
	}
}

// compacted returns shard sh after prune kept entries of it (in sh's own
// array if owned, else in a new one), owned by
// owner. The table keeps its size, room for the keys to come, unless the
// kept entries would fill under an eighth of it; the array is cut down
// when they use under a quarter of a large capacity, so that a shard that
// once held many keys does not hold their room for ever.
func compacted(entries []factsEntry, sh *factsShard, owned bool, owner *uint64) *factsShard {
	if c := cap(entries); c >= 256 && 4*len(entries) < c {
		entries = slices.Clip(slices.Clone(entries))
	}
	n := len(sh.slots)
	if 8*len(entries) < n {
		n = slotsFor(len(entries))
	}
	out := sh
	if !owned { // a new table: never clear one a snapshot reads
		out = &factsShard{owner: owner}
	}
	out.entries = entries
	out.resize(n)
	return out
}
