package epaxos

import (
	"slices"

	"github.com/paxos-lab/paxos"
)

// factsIndex is the per-key dependency index: each key's facts (keyFacts),
// and a slab with the facts of the keys whose facts do not fit inline.
// Both are split into parts (the keys by a hash into indexShards shards, the
// slab into chunks of factsChunkLen) that a snapshot shares copy on write,
// as kv.Store shares its shards: share hands the parts to the snapshot
// without copying any of them, and the index copies a part the first time
// it next writes it. Taking a snapshot therefore costs the event loop a
// few hundred pointers, not a copy of the index, and the snapshot never
// changes once taken, so it may be encoded on another goroutine.
type factsIndex struct {
	shards [indexShards]*factsShard
	chunks []*factsChunk // the slab; position p is chunks[p/factsChunkLen].e[p%factsChunkLen]
	used   uint64        // slab positions handed out (free ones included)
	free   []uint64      // slab positions no key uses
	n      int           // keys
	owner  *uint64       // this generation: parts it may write in place
	// rewrites counts the writes that changed or dropped facts stored
	// before (every write but a new key's), so that facts stored for a new
	// key are known unchanged while it stays the same (instance.freshAt).
	rewrites uint64
	// all mirrors the facts of allKeys, which every command consults
	// (conflicts.go): read from here, they cost no table lookup. The
	// shard holds them too, for each and sortedKeys.
	all    keyFacts
	hasAll bool
}

// indexShards is the number of key shards; a power of two.
const indexShards = 256

// factsChunkLen is the number of slab positions per chunk.
const factsChunkLen = 256

// factsShard is one shard of the index: its keys with their facts and
// hashes in the order they were added, and an open-addressing table over
// them (factstable.go).
type factsShard struct {
	entries []factsEntry
	slots   []uint64
	shift   uint8 // 32 − log2(len(slots))
	seeded  bool  // slots placed by slotHash, not fnv1a (see maxProbe)
	owner   *uint64
}

type factsChunk struct {
	e     [factsChunkLen]keyIndex
	owner *uint64
}

func newFactsIndex() factsIndex { return factsIndex{owner: new(uint64)} }

// indexShardOf picks a key's shard.
func indexShardOf(key string) int { return shardOfHash(fnv1a(key)) }

// shardOfHash is the shard of a key whose hash (fnv1a) is h.
func shardOfHash(h uint32) int { return int(h % indexShards) }

// fnv1a is the 32-bit FNV-1a hash of key. It takes four bytes per pass
// of its loop (the same hash, a quarter of the loop's own work: the hash
// of every key a command touches is on the hot path).
func fnv1a(key string) uint32 {
	const prime = 16777619
	h := uint32(2166136261)
	for len(key) >= 4 {
		h = (h ^ uint32(key[0])) * prime
		h = (h ^ uint32(key[1])) * prime
		h = (h ^ uint32(key[2])) * prime
		h = (h ^ uint32(key[3])) * prime
		key = key[4:]
	}
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * prime
	}
	return h
}

// get returns key k's stored facts.
func (x *factsIndex) get(k string) (keyFacts, bool) {
	f, ok, _ := x.find(k)
	return f, ok
}

// find returns key k's stored facts and its hash (fnv1a), for a later put.
func (x *factsIndex) find(k string) (keyFacts, bool, uint32) { return x.findHashed(k, fnv1a(k)) }

// findHashed is find for a key whose hash (fnv1a) is h.
func (x *factsIndex) findHashed(k string, h uint32) (keyFacts, bool, uint32) {
	if sh := x.shards[shardOfHash(h)]; sh != nil {
		if e := sh.lookup(k, sh.slotOf(k, h)); e >= 0 {
			return sh.entries[e].f, true, h
		}
	}
	return 0, false, h
}

// prefetch reads the first table slot that finding the key of each Get or
// Put of cmds probes, and returns the sum of what it read, which means
// nothing, and hs with the hash (fnv1a) of each command's key appended (0
// for a command that is neither). Called before the commands of a batch
// are looked up one by one (attrs), it lets the cache misses of those
// reads overlap instead of following one another: with distinct keys in a
// large index each lookup misses the cache (about a tenth of a live
// replica's CPU). It reads in two rounds, the shards and then their slots,
// so that the reads of each round do not wait for one another. A shard
// placed by slotHash is skipped.
func (x *factsIndex) prefetch(cmds []paxos.Command, hs []uint32) (uint64, []uint32) {
	var sum uint64
	from := len(hs)
	for i := range cmds {
		c := &cmds[i]
		if c.Op != paxos.OpPut && c.Op != paxos.OpGet {
			hs = append(hs, 0)
			continue
		}
		h := fnv1a(c.Key)
		hs = append(hs, h)
		if sh := x.shards[shardOfHash(h)]; sh != nil {
			sum += uint64(sh.shift)
		}
	}
	for i, h := range hs[from:] {
		if c := &cmds[i]; c.Op != paxos.OpPut && c.Op != paxos.OpGet {
			continue
		}
		if sh := x.shards[shardOfHash(h)]; sh != nil && len(sh.slots) > 0 && !sh.seeded {
			sum += sh.slots[sh.home(h)]
		}
	}
	return sum, hs
}

// getAll returns the facts of allKeys, without a map lookup.
func (x *factsIndex) getAll() (keyFacts, bool) { return x.all, x.hasAll }

// set stores key k's facts, copying k's shard first if a snapshot shares it.
func (x *factsIndex) set(k string, f keyFacts) {
	_, ok, h := x.find(k)
	x.put(k, h, f, !ok)
}

// put stores key k's facts, h being k's hash (from find), copying k's
// shard first if a snapshot shares it; isNew says whether k is a new key.
func (x *factsIndex) put(k string, h uint32, f keyFacts, isNew bool) {
	i := shardOfHash(h)
	sh := x.shards[i]
	if sh == nil {
		sh = &factsShard{owner: x.owner}
		x.shards[i] = sh
	} else if sh.owner != x.owner {
		// A copy of the entries and slots: no key is hashed again.
		sh = sh.clone(x.owner)
		x.shards[i] = sh
	}
	if isNew {
		x.n++
		sh.insert(k, h, f)
	} else {
		x.rewrites++
		sh.entries[sh.lookup(k, sh.slotOf(k, h))].f = f
	}
	if k == allKeys {
		x.all, x.hasAll = f, true
	}
}

// len returns the number of keys.
func (x *factsIndex) len() int { return x.n }

// each calls fn for every key and its facts, in no particular order.
func (x *factsIndex) each(fn func(k string, f keyFacts) error) error {
	for _, sh := range x.shards {
		if sh == nil {
			continue
		}
		for _, e := range sh.entries {
			if err := fn(e.k, e.f); err != nil {
				return err
			}
		}
	}
	return nil
}

// sortedKeys returns every key, sorted.
func (x *factsIndex) sortedKeys() []string {
	keys := make([]string, 0, x.n)
	for _, sh := range x.shards {
		if sh != nil {
			for _, e := range sh.entries {
				keys = append(keys, e.k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// full returns the slab entry at pos, for reading only.
func (x *factsIndex) full(pos uint64) *keyIndex {
	return &x.chunks[pos/factsChunkLen].e[pos%factsChunkLen]
}

// fullMut returns the slab entry at pos for writing (its rows in place
// too), copying its chunk first, rows included, if a snapshot shares it.
func (x *factsIndex) fullMut(pos uint64) *keyIndex {
	c := x.chunks[pos/factsChunkLen]
	if c.owner != x.owner {
		n := 0
		for i := range c.e {
			n += len(c.e[i].rows)
		}
		rows := make([]keyRow, 0, n) // one block for the chunk's rows
		cp := &factsChunk{owner: x.owner}
		for i := range c.e {
			e := &c.e[i]
			start := len(rows)
			rows = append(rows, e.rows...)
			cp.e[i] = keyIndex{writeSeq: e.writeSeq, readSeq: e.readSeq, rows: rows[start:len(rows):len(rows)]}
		}
		x.chunks[pos/factsChunkLen] = cp
		c = cp
	}
	return &c.e[pos%factsChunkLen]
}

// addFull returns a slab position no key uses.
func (x *factsIndex) addFull() uint64 {
	if k := len(x.free); k > 0 {
		pos := x.free[k-1]
		x.free = x.free[:k-1]
		return pos
	}
	if x.used%factsChunkLen == 0 {
		x.chunks = append(x.chunks, &factsChunk{owner: x.owner})
	}
	x.used++
	return x.used - 1
}

// freeFull gives slab position pos back.
func (x *factsIndex) freeFull(pos uint64) { x.free = append(x.free, pos) }

// share returns the index as it is now, sharing every part with it: the
// index gives up writing any of them in place (see factsIndex).
func (x *factsIndex) share() *factsIndex {
	s := &factsIndex{shards: x.shards, chunks: slices.Clone(x.chunks), used: x.used, n: x.n, all: x.all, hasAll: x.hasAll}
	x.owner = new(uint64)
	return s
}

// prune drops every key whose facts drop says may go, and returns how
// many it dropped. It visits each key once, in the order keys were added
// to its shard, and calls drop once per key. A shard it drops keys from
// keeps the others in their order, compacted in place (into a new array if
// a snapshot shares the shard), and its slots are rebuilt from their
// hashes (factsShard.rebuild: no key hashed again, no tombstones). The
// slab entries of dropped keys are given back, in order.
func (x *factsIndex) prune(drop func(k string, h uint32, f keyFacts) bool) int {
	dropped := 0
	var freed []uint64
	for i, sh := range x.shards {
		if sh == nil {
			continue
		}
		entries := sh.entries
		owned := sh.owner == x.owner
		var kept []factsEntry // the kept entries, once copying
		if owned {            // compacted in place: entry j is read before it is written
			kept = entries[:0]
		}
		copying, gone := owned, 0
		for j := range entries {
			e := entries[j]
			if !drop(e.k, e.h, e.f) {
				if copying {
					kept = append(kept, e)
				}
				continue
			}
			if !copying { // the first key dropped from a shared shard
				kept = append(make([]factsEntry, 0, len(entries)), entries[:j]...)
				copying = true
			}
			gone++
			if e.f.kind() == factsFull {
				freed = append(freed, e.f.pos())
			}
			if e.k == allKeys {
				x.all, x.hasAll = 0, false
			}
		}
		if gone == 0 {
			continue
		}
		if owned {
			clear(entries[len(kept):]) // no dropped key's string kept alive
		}
		x.n -= gone
		dropped += gone
		if len(kept) == 0 {
			x.shards[i] = nil
			continue
		}
		x.shards[i] = compacted(kept, sh, owned, x.owner)
	}
	slices.Sort(freed)
	x.free = append(x.free, freed...)
	if dropped > 0 {
		x.rewrites++
	}
	return dropped
}
