package epaxos

import (
	"hash/maphash"
	"slices"
)

// A factsShard's table: open addressing with linear probing over slots, a
// power of two of them and at most three quarters full, over an array of
// entries (factsEntry) in the order their keys were added. A slot holds a
// key's slot hash in its high half and its entry's position plus one in
// its low half; 0 is empty. Keys are removed only by prune,
// which rebuilds the slots of the entries it keeps, so no slot is ever a
// tombstone; growing the table, like rebuilding it, reads the hashes kept
// with the entries and hashes no key again. The entries hold the keys'
// strings; the slots hold no pointers.
//
// The slot hash is the key's fnv1a, which also picks its shard and floor
// bucket, so a lookup hashes a key once. But FNV-1a's collisions are cheap
// to make (Joux's multicollisions give 2^t keys of one hash for t birthday
// searches), and a client that chose keys of one hash would make every
// probe of their shard walk all of them, quadratic work for the replica.
// So a shard whose insert walks more than maxProbe slots switches for
// good to slotHash, keyed by a seed drawn once per process as Go's maps
// seed theirs (and kv's tables; see archtest.PureStd), and places its keys
// again (TestFactsTableResistsCollidingKeys). Where a key sits in the
// table never decides anything, since the entries keep their order.

// maxProbe is the longest walk an insert into a table placed by fnv1a
// takes before the shard switches to slotHash. Honest keys walk one or
// two slots on average; over a million keys of three spellings the
// longest walk was 67 (TestFactsTableKeepsFNVForHonestKeys checks that no
// shard switches).
const maxProbe = 256

// slotSeed keys slotHash for this process.
var slotSeed = maphash.MakeSeed()

// slotHash is the hash that places key k in the table of a shard that
// switched (factsShard.seeded).
func slotHash(k string) uint32 { return uint32(maphash.String(slotSeed, k)) }

// minSlots is the size of a shard's first table.
const minSlots = 8

// slotMul spreads a slot hash over the table (Fibonacci hashing: the top
// bits of the product pick the first slot probed, and depend on all of the
// hash's bits).
const slotMul = 0x9E3779B1

// factsEntry is a key of a shard, its facts, its hash (fnv1a) and its slot
// hash (h, or slotHash once the shard switched): one array of them, so
// that finding a key reads one entry after its slot.
type factsEntry struct {
	k string
	f keyFacts
	h uint32
	s uint32
}

// slotOf returns the slot hash of key k, whose fnv1a is h.
func (s *factsShard) slotOf(k string, h uint32) uint32 {
	if s.seeded {
		return slotHash(k)
	}
	return h
}

// home returns the first slot probed for a key of slot hash h.
func (s *factsShard) home(h uint32) uint32 { return h * slotMul >> s.shift }

// lookup returns the position of key k, whose slot hash (slotOf) is h,
// among the shard's entries, or −1 if the shard does not hold it.
func (s *factsShard) lookup(k string, h uint32) int {
	if len(s.slots) == 0 {
		return -1
	}
	mask := uint32(len(s.slots) - 1)
	for i := s.home(h); ; i = (i + 1) & mask {
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
// A walk longer than maxProbe switches the shard to slotHash.
func (s *factsShard) insert(k string, h uint32, f keyFacts) {
	walked := 0
	if 4*(len(s.entries)+1) > 3*len(s.slots) {
		walked = s.resize(max(minSlots, 2*len(s.slots)))
	}
	sh := s.slotOf(k, h)
	s.entries = append(s.entries, factsEntry{k: k, f: f, h: h, s: sh})
	if walked = max(walked, s.place(sh, len(s.entries))); walked > maxProbe && !s.seeded {
		s.seeded = true
		for e := range s.entries {
			s.entries[e].s = slotHash(s.entries[e].k)
		}
		s.resize(len(s.slots))
	}
}

// place stores the slot of slot hash h naming entry position e−1 in the first
// empty slot of its probe sequence, and returns how many slots it walked.
func (s *factsShard) place(h uint32, e int) int {
	mask := uint32(len(s.slots) - 1)
	i, walked := s.home(h), 1
	for s.slots[i] != 0 {
		i, walked = (i+1)&mask, walked+1
	}
	s.slots[i] = uint64(h)<<32 | uint64(e)
	return walked
}

// resize gives the shard a table of n slots (a power of two, at least
// minSlots, holding its entries at most three quarters full), filled from
// the entries' slot hashes, and returns the longest walk a key took.
func (s *factsShard) resize(n int) int {
	if len(s.slots) == n {
		clear(s.slots)
	} else {
		s.slots = make([]uint64, n)
	}
	s.shift = uint8(32 - log2(n))
	walked := 0
	for e := range s.entries {
		walked = max(walked, s.place(s.entries[e].s, e+1))
	}
	return walked
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
		seeded:  s.seeded,
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
		out = &factsShard{owner: owner, seeded: sh.seeded}
	}
	out.entries = entries
	out.resize(n)
	return out
}
