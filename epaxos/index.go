package epaxos

import (
	"slices"

	"github.com/paxos-lab/paxos"
)

// editing is a key's facts being updated: where the index holds them, and
// what it held before (see Replica.edit).
type editing struct {
	k     string
	h     uint32 // k's hash (factsIndex.find)
	old   keyFacts
	isNew bool
}

// edit returns key k's facts for updating; save them with r.save(e, ki)
// when done. Only one key is edited at a time.
func (r *Replica) edit(k string) (editing, *keyIndex) {
	f, ok, h := r.index.find(k)
	return r.editFound(k, f, ok, h)
}

// editFound is edit with key k's facts already found (factsIndex.find).
func (r *Replica) editFound(k string, f keyFacts, ok bool, h uint32) (editing, *keyIndex) {
	ki := &r.editBuf
	if ok {
		r.expand(f, ki)
	} else {
		ki.writeSeq, ki.readSeq, ki.rows = 0, 0, ki.rows[:0]
	}
	return editing{k: k, h: h, old: f, isNew: !ok}, ki
}

// save stores the facts ki of the key being edited as e. Facts stored the
// same as before (inline and unchanged, or in the slab, updated there in
// place) cost no map write.
func (r *Replica) save(e editing, ki *keyIndex) {
	if f := r.pack(ki, e.old); f != e.old || e.isNew {
		r.index.put(e.k, e.h, f, e.isNew)
	}
}

// attrs merges this replica's interfering instances into (seq, deps) for
// cmds of instance id: deps[q] becomes at least the latest interfering slot
// of q known here (never id itself), and seq at least 1 + the highest seq of
// an interfering instance. prev is this replica's earlier deps of id, used
// when the latest interfering instance of id's own replica is id itself.
// Attributes computed afresh (deps nil: a command leader's, or a
// recovery's) start from the index's floor of the keys cmds touch: what
// pruning dropped (floor.go; "Pruning the index" in recovery.go).
//
// It notes the facts it finds for each key in r.found, for an
// indexAddFound of the same commands right after it.
func (r *Replica) attrs(id paxos.Instance, cmds []paxos.Command, seq uint64, deps, prev []uint64) (uint64, []uint64) {
	r.found = r.found[:0]
	out := slices.Clone(deps)
	var fl []uint64 // the floor of the keys cmds touch, when computed afresh
	if out == nil {
		out = r.zeroDeps()
		if !r.planted.pruneNoFloor && !r.floor.zero {
			fl = slices.Grow(r.floorBuf[:0], r.n)[:r.n]
			clear(fl)
			r.floorBuf = fl
		}
	}
	var hs []uint32 // the keys' hashes, when prefetched
	if len(cmds) > 1 {
		var sum uint64
		sum, r.hashBuf = r.index.prefetch(cmds, r.hashBuf[:0]) // the index's misses overlap
		r.sink += sum
		hs = r.hashBuf
	}
	kinds := 0 // of allKeys's floor bucket that cmds consult
	for i := range cmds {
		c := &cmds[i]
		if c.IsNop() {
			continue
		}
		isWrite := c.Writes()
		noted := len(r.found)
		var h uint32
		if hs != nil && (c.Op == paxos.OpPut || c.Op == paxos.OpGet) {
			h = hs[i]
		}
		found := r.lookup(c, true, h, hs != nil)
		if fl != nil {
			kinds = max(kinds, r.floor.apply(c, r.found[noted:], fl))
		}
		for _, ki := range found {
			ms := ki.writeSeq
			if isWrite && ki.readSeq > ms {
				ms = ki.readSeq
			}
			if ms+1 > seq {
				seq = ms + 1
			}
			for _, f := range ki.rows {
				q := f.replica
				d := f.write
				if isWrite && f.read > d && !r.planted.writeIgnoresReads {
					d = f.read
				}
				if q == id.Replica && d == id.Slot {
					d = 0
					if prev != nil {
						d = prev[q]
					}
				}
				if d > out[q] {
					out[q] = d
				}
			}
		}
	}
	if fl != nil {
		r.floor.applyAll(kinds, fl)
		// Never id itself or later (the floor is below any slot not yet
		// executed everywhere, so this only guards).
		fl[id.Replica] = min(fl[id.Replica], id.Slot-1)
		for q, s := range fl {
			out[q] = max(out[q], s)
		}
	}
	return seq, out
}

// indexAdd records instance in in the per-key index. The index only grows,
// in memory and (see restore) across restarts, but for the pruning of keys
// every replica has executed (gc.go): recovery rule 4a relies on it (see
// recovery.go).
func (r *Replica) indexAdd(in *instance) {
	r.noteFresh(in, r.indexCmdsFound(in.id, in.cmds, in.seq, nil))
}

// noteFresh sets in.freshAt after an indexAdd of in that stored each key
// of its commands as a new key's inline facts (fresh) or not.
func (r *Replica) noteFresh(in *instance, fresh bool) {
	in.freshAt = 0
	if fresh {
		in.freshAt = r.index.rewrites + 1
	}
}

// indexAddFound is indexAdd right after attrs computed in's attributes
// from its commands, with nothing written to the index in between: the
// facts attrs found for each key (r.found) are used instead of finding
// them again, unless an earlier key of the batch was written in the same
// shard since (two commands on one key, or on keys sharing a shard).
func (r *Replica) indexAddFound(in *instance) {
	r.noteFresh(in, r.indexCmdsFound(in.id, in.cmds, in.seq, r.found))
	r.found = r.found[:0]
}

// indexCmds records that instance id held cmds with seq.
func (r *Replica) indexCmds(id paxos.Instance, cmds []paxos.Command, seq uint64) {
	r.indexCmdsFound(id, cmds, seq, nil)
}

// foundFacts is what factsIndex.find returned for key k.
type foundFacts struct {
	k  string
	f  keyFacts
	ok bool
	h  uint32
}

// indexCmdsFound is indexCmds with found, the facts found for the keys
// cmds touch, in the order it visits them (nil: none found yet). It reports
// whether cmds hold a command other than a Nop and each key they touch was
// new, written, and stored as inline facts of kind factsPacked naming
// id's write (instance.freshAt).
func (r *Replica) indexCmdsFound(id paxos.Instance, cmds []paxos.Command, seq uint64, found []foundFacts) bool {
	fresh, wrote := true, false
	var written [indexShards / 64]uint64 // shards written by this call
	next := 0                            // found's entry for the next key
	var one [1]string
	for i := range cmds {
		c := &cmds[i]
		if c.Op == paxos.OpNop {
			continue
		}
		isWrite := c.Writes()
		for _, k := range touched(c, &one) {
			var old keyFacts
			var ok bool
			var h uint32
			if next < len(found) && found[next].k == k && written[shardOfHash(found[next].h)/64]&(1<<(shardOfHash(found[next].h)%64)) == 0 {
				old, ok, h = found[next].f, found[next].ok, found[next].h
			} else {
				old, ok, h = r.index.find(k)
			}
			next++
			shard := shardOfHash(h)
			written[shard/64] |= 1 << (shard % 64)
			if !ok && isWrite {
				// A new key written: its facts are this write alone,
				// stored inline when they fit (as pack would store them).
				if f, fits := packWrite(id.Replica, id.Slot, seq); fits {
					u := r.unmarked(f)
					r.index.put(k, h, u, true)
					fresh, wrote = fresh && u == f, true
					continue
				}
			}
			fresh = false
			e, ki := r.editFound(k, old, ok, h)
			f := ki.rowFor(id.Replica)
			if isWrite {
				f.write = max(f.write, id.Slot)
				ki.writeSeq = max(ki.writeSeq, seq)
			} else {
				f.read = max(f.read, id.Slot)
				ki.readSeq = max(ki.readSeq, seq)
			}
			r.save(e, ki)
		}
	}
	return fresh && wrote
}

// packWrite returns the inline facts of a key whose only fact is replica
// q's write at slot s with seq (what pack makes of them), if they fit.
func packWrite(q paxos.NodeID, s, seq uint64) (keyFacts, bool) {
	if q < 0 || q > factsReplicaMax || s > factsSlotMax || seq > factsSeqMax {
		return 0, false
	}
	return keyFacts(seq<<factsSeqShift | s<<factsSlotShift | uint64(q)<<factsReplicaShift), true
}
