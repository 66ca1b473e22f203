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
	// rewrites counts the writes that changed or dropped facts stored
	// before (every write but a new key's), so that facts stored for a new
	// key are known unchanged while it stays the same (instance.freshAt).
	rewrites uint64
	// all mirrors the facts of allKeys, which every command consults
	// (conflicts.go): read from here, they cost no map lookup. The map
	// holds them too, for each and sortedKeys.
	all    keyFacts
	hasAll bool
	// pruneGone and pruneKept are prune's lists, reused (empty between
	// prunes; never shared with a snapshot).
	pruneGone []string
	pruneKept []keptFacts
}

// indexShards is the number of key shards; a power of two.
const indexShards = 256

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

// indexShardOf picks a key's shard.
func indexShardOf(key string) int { return int(fnv1a(key) % indexShards) }

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
func (x *factsIndex) find(k string) (keyFacts, bool, int) {
	i := indexShardOf(k)
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
		var m map[string]keyFacts
		if sh != nil {
			// A bulk copy of the map's tables, not a key-by-key rehash.
			m = maps.Clone(sh.m)
		} else {
			m = make(map[string]keyFacts, 1)
		}
		sh = &factsShard{m: m, owner: x.owner}
		x.shards[i] = sh
	}
	if isNew {
		x.n++
	} else {
		x.rewrites++
	}
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
// many it dropped. It visits each key once and calls drop once per key.
// A shard a snapshot shares is copied first, as for any write (a bulk
// copy, then the dropped keys deleted). Keys are deleted in place, the
// map keeping its room for the keys that will come next, unless it keeps
// under a quarter of a large map (Go maps never give back the room of
// deleted keys: after a million keys it would hold their room for ever);
// it is then rebuilt with the keys it keeps, which the visit noted. The
// slab entries of dropped keys are given back, in order (so that which
// entry a later key gets does not depend on the maps' iteration order).
func (x *factsIndex) prune(drop func(k string, f keyFacts) bool) int {
	dropped := 0
	var freed []uint64
	gone, kept := x.pruneGone[:0], x.pruneKept[:0]
	for i, sh := range x.shards {
		if sh == nil {
			continue
		}
		gone, kept = gone[:0], kept[:0]
		// The kept keys are noted only while they may be few enough for a
		// rebuild (under a quarter of a map of at least 256 keys).
		note := len(sh.m) >= 256
		if note {
			for k, f := range sh.m {
				if drop(k, f) {
					gone = append(gone, k)
					if f.kind() == factsFull {
						freed = append(freed, f.pos())
					}
				} else if note {
					if 4*(len(kept)+1) >= len(sh.m) {
						note, kept = false, kept[:0]
					} else {
						kept = append(kept, keptFacts{k, f})
					}
				}
			}
		} else {
			for k, f := range sh.m {
				if drop(k, f) {
					gone = append(gone, k)
					if f.kind() == factsFull {
						freed = append(freed, f.pos())
					}
				}
			}
		}
		if len(gone) == 0 {
			continue
		}
		keep := len(sh.m) - len(gone)
		switch {
		case keep == 0:
			x.shards[i] = nil
		case note: // under a quarter kept: rebuilt with them
			m := make(map[string]keyFacts, 2*keep)
			for _, e := range kept {
				m[e.k] = e.f
			}
			x.shards[i] = &factsShard{m: m, owner: x.owner}
		default:
			if sh.owner != x.owner {
				// A copy keeps the room, as an owned map would.
				sh = &factsShard{m: maps.Clone(sh.m), owner: x.owner}
				x.shards[i] = sh
			}
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
	clear(gone[:cap(gone)]) // no dropped key's string kept alive
	clear(kept[:cap(kept)])
	x.pruneGone, x.pruneKept = gone[:0], kept[:0]
	slices.Sort(freed)
	x.free = append(x.free, freed...)
	if dropped > 0 {
		x.rewrites++
	}
	return dropped
}

// keptFacts is a key prune keeps, and its facts.
type keptFacts struct {
	k string
	f keyFacts
}
