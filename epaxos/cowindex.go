package epaxos

import (
	"maps"
	"slices"
)

// factsIndex is the per-key dependency index: each key's facts (keyFacts),
// and a slab with the facts of the keys whose facts do not fit inline.
// Both are split into parts (the keys by a hash into indexShards maps, the
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
	// writes counts the writes to each shard's map (put, prune), so that
	// facts found before may be used later only if their shard has not
	// been written since (Replica.attrs and indexCmds).
	writes [indexShards]uint32
	// all mirrors the facts of allKeys, which every command consults
	// (conflicts.go): read from here, they cost no map lookup. The map
	// holds them too, for each and sortedKeys.
	all    keyFacts
	hasAll bool
}

// indexShards is the number of key shards; a power of two. It is the
// number of the floor's key buckets, so that a key's shard is its bucket:
// pruning raises the floor of the keys it drops without reading them
// again (in a live run, hashing the dropped keys again, whose bytes are
// no longer in the cache, took half of the pruning's CPU).
const indexShards = floorBuckets

// factsChunkLen is the number of slab positions per chunk.
const factsChunkLen = 256

type factsShard struct {
	m     map[string]keyFacts
	owner *uint64
}

type factsChunk struct {
	e     [factsChunkLen]keyIndex
	owner *uint64
}

func newFactsIndex() factsIndex { return factsIndex{owner: new(uint64)} }

// keyHash is a key's FNV-1a hash, computed once per key where both the
// index and the floor need it.
type keyHash uint32

func hashKey(key string) keyHash { return keyHash(fnv1a(key)) }

// shard is the key's index shard.
func (h keyHash) shard() int { return int(h % indexShards) }

// bucket is the key's floor bucket, which is its shard.
func (h keyHash) bucket() int { return h.shard() }

// fnv1a is the 32-bit FNV-1a hash of key.
func fnv1a(key string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h
}

// get returns key k's stored facts.
func (x *factsIndex) get(k string) (keyFacts, bool) {
	f, ok, _ := x.find(k)
	return f, ok
}

// find returns key k's stored facts and its shard, for a later put.
func (x *factsIndex) find(k string) (keyFacts, bool, int) { return x.findHashed(k, hashKey(k)) }

// findHashed is find for a key whose hash h is known.
func (x *factsIndex) findHashed(k string, h keyHash) (keyFacts, bool, int) {
	i := h.shard()
	if sh := x.shards[i]; sh != nil {
		f, ok := sh.m[k]
		return f, ok, i
	}
	return 0, false, i
}

// getAll returns the facts of allKeys, without a map lookup.
func (x *factsIndex) getAll() (keyFacts, bool) { return x.all, x.hasAll }

// set stores key k's facts, copying k's shard first if a snapshot shares it.
func (x *factsIndex) set(k string, f keyFacts) {
	_, ok, i := x.find(k)
	x.put(k, i, f, !ok)
}

// put stores key k's facts in shard i (k's, from find), copying the shard
// first if a snapshot shares it; isNew says whether k is a new key.
func (x *factsIndex) put(k string, i int, f keyFacts, isNew bool) {
	sh := x.shards[i]
	if sh == nil || sh.owner != x.owner {
		// A clone copies the map's tables as they are: no key is hashed
		// (or read) again, and the copy keeps the shard's room.
		var m map[string]keyFacts
		if sh != nil {
			m = maps.Clone(sh.m)
		} else {
			m = make(map[string]keyFacts, 1)
		}
		sh = &factsShard{m: m, owner: x.owner}
		x.shards[i] = sh
	}
	if isNew {
		x.n++
	}
	x.writes[i]++
	sh.m[k] = f
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
		for k, f := range sh.m {
			if err := fn(k, f); err != nil {
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
			keys = slices.AppendSeq(keys, maps.Keys(sh.m))
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
// many it dropped; drop is asked once per key, with the key's shard,
// which is its floor bucket. A shard a snapshot shares is copied first,
// as for any write. A map keeps its room for the keys that will come
// next, unless it keeps under a quarter of a large map (Go maps never give
// back the room of deleted keys: after a million keys it would hold their
// room for ever); it is then rebuilt with the keys it keeps. Otherwise
// the keys it drops are deleted in place, or, when it keeps fewer keys
// than it drops, it is cleared and the kept keys put back (a shared
// shard: cloned and deleted from, or rebuilt, likewise): deleting or
// putting a key hashes it again, reading its bytes, which pruning finds
// out of the cache (the drop itself reads only the facts), so prune does
// that for the fewer. The slab entries of dropped keys are given
// back, in order (so that which entry a later key gets does not depend on
// the maps' iteration order).
func (x *factsIndex) prune(drop func(k string, f keyFacts, bucket int) bool) int {
	dropped := 0
	var freed []uint64
	var gone []string
	type kept struct {
		k string
		f keyFacts
	}
	var keep []kept
	for i, sh := range x.shards {
		if sh == nil {
			continue
		}
		gone, keep = gone[:0], keep[:0]
		for k, f := range sh.m {
			if !drop(k, f, i) {
				keep = append(keep, kept{k, f})
				continue
			}
			gone = append(gone, k)
			if f.kind() == factsFull {
				freed = append(freed, f.pos())
			}
		}
		if len(gone) == 0 {
			continue
		}
		x.writes[i]++
		rebuild := len(sh.m) >= pruneRebuildLen && 4*len(keep) < len(sh.m)
		owned := sh.owner == x.owner
		switch {
		case len(keep) == 0 && (rebuild || !owned):
			x.shards[i] = nil
		case !rebuild && !owned && len(keep) >= len(gone):
			// A copy keeps the room, as an owned map would.
			m := maps.Clone(sh.m)
			for _, k := range gone {
				delete(m, k)
			}
			x.shards[i] = &factsShard{m: m, owner: x.owner}
		case rebuild || !owned:
			size := len(sh.m)
			if rebuild {
				size = 2 * len(keep)
			}
			m := make(map[string]keyFacts, size)
			for _, e := range keep {
				m[e.k] = e.f
			}
			x.shards[i] = &factsShard{m: m, owner: x.owner}
		case len(keep) < len(gone):
			clear(sh.m)
			for _, e := range keep {
				sh.m[e.k] = e.f
			}
		default:
			for _, k := range gone {
				delete(sh.m, k)
			}
		}
		for _, k := range gone {
			if k == allKeys {
				x.all, x.hasAll = 0, false
			}
		}
		x.n -= len(gone)
		dropped += len(gone)
	}
	clear(gone)
	clear(keep)
	slices.Sort(freed)
	x.free = append(x.free, freed...)
	return dropped
}

// pruneRebuildLen is the size from which a shard that prune leaves under
// a quarter full is rebuilt rather than deleted from in place.
const pruneRebuildLen = 64
