package epaxos

import (
	"slices"

	"github.com/paxos-lab/paxos"
)

// editing is a key's facts being updated: where the index holds them, and
// what it held before (see Replica.edit).
type editing struct {
	k     string
	shard int
	old   keyFacts
	isNew bool
}

// edit returns key k's facts for updating; save them with r.save(e, ki)
// when done. Only one key is edited at a time.
func (r *Replica) edit(k string) (editing, *keyIndex) {
	f, ok, shard := r.index.find(k)
	return r.editFound(k, f, ok, shard)
}

// editFound is edit for a key whose stored facts f (ok: any) in shard
// were just found.
func (r *Replica) editFound(k string, f keyFacts, ok bool, shard int) (editing, *keyIndex) {
	ki := &r.editBuf
	if ok {
		r.expand(f, ki)
	} else {
		ki.writeSeq, ki.readSeq, ki.rows = 0, 0, ki.rows[:0]
	}
	return editing{k: k, shard: shard, old: f, isNew: !ok}, ki
}

// found is what attrs found in the index for the key of one command, so
// that indexCmds, which updates the same keys next, need not hash the
// key or find it again: its hash, its facts, and the write count of its
// shard then (factsIndex.writes; a shard written since is searched again).
type found struct {
	h      keyHash
	f      keyFacts
	ok     bool
	writes uint32
}

// hashKeys prepares r.found for attrs on cmds when every command that is
// not a no-op touches one key and that key is not allKeys (the common
// case; a command on allKeys, or naming its keys, takes the general
// path): the hash of each command's key, at the command's position. It
// reports whether it did.
func (r *Replica) hashKeys(cmds []paxos.Command) bool {
	r.foundFor = nil
	for _, c := range cmds {
		if !c.IsNop() && (c.Op == paxos.OpApp || c.Key == allKeys) {
			return false
		}
	}
	if cap(r.found) < len(cmds) {
		r.found = make([]found, len(cmds), max(len(cmds), 2*cap(r.found)))
	}
	r.found = r.found[:len(cmds)]
	for i, c := range cmds {
		if !c.IsNop() {
			r.found[i] = found{h: hashKey(c.Key)}
		}
	}
	r.foundFor = cmds
	return true
}

// lookupFound is lookup for the i-th command of the commands hashKeys
// prepared r.found for, recording what it finds there for indexCmds.
func (r *Replica) lookupFound(i int, c paxos.Command) []keyIndex {
	fd := &r.found[i]
	f, ok, shard := r.index.findHashed(c.Key, fd.h)
	fd.f, fd.ok, fd.writes = f, ok, r.index.writes[shard]
	out := r.lookupBuf[:0]
	if ok {
		out = r.lookupAdd(out, f)
	}
	if f, ok := r.index.getAll(); ok {
		out = r.lookupAdd(out, f)
	}
	r.lookupBuf = out
	return out
}

// takeFound returns r.found when attrs prepared it for cmds (the same
// slice), and nil otherwise; either way it is used up.
func (r *Replica) takeFound(cmds []paxos.Command) []found {
	prepared := r.foundFor
	r.foundFor = nil
	if len(cmds) == 0 || len(prepared) != len(cmds) || &prepared[0] != &cmds[0] {
		return nil
	}
	return r.found
}

// save stores the facts ki of the key being edited as e. Facts stored the
// same as before (inline and unchanged, or in the slab, updated there in
// place) cost no map write.
func (r *Replica) save(e editing, ki *keyIndex) {
	if f := r.pack(ki, e.old); f != e.old || e.isNew {
		r.index.put(e.k, e.shard, f, e.isNew)
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
func (r *Replica) attrs(id paxos.Instance, cmds []paxos.Command, seq uint64, deps, prev []uint64) (uint64, []uint64) {
	out := slices.Clone(deps)
	hashed := r.hashKeys(cmds)
	if out == nil {
		out = r.zeroDeps()
		if !r.planted.pruneNoFloor {
			for i, c := range cmds {
				if !hashed {
					r.floor.apply(c, out)
				} else if !c.IsNop() {
					r.floor.applyKey(r.found[i].h, c.Writes(), out)
				}
			}
			// Never id itself or later (the floor is below any slot not
			// yet executed everywhere, so this only guards).
			out[id.Replica] = min(out[id.Replica], id.Slot-1)
		}
	}
	for i, c := range cmds {
		if c.IsNop() {
			continue
		}
		var kis []keyIndex
		if hashed {
			kis = r.lookupFound(i, c)
		} else {
			kis = r.lookup(c)
		}
		for _, ki := range kis {
			ms := ki.writeSeq
			if c.Writes() && ki.readSeq > ms {
				ms = ki.readSeq
			}
			if ms+1 > seq {
				seq = ms + 1
			}
			for _, f := range ki.rows {
				q := f.replica
				d := f.write
				if c.Writes() && f.read > d && !r.planted.writeIgnoresReads {
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
	return seq, out
}

// indexAdd records instance in in the per-key index. The index only grows,
// in memory and (see restore) across restarts, but for the pruning of keys
// every replica has executed (gc.go): recovery rule 4a relies on it (see
// recovery.go).
func (r *Replica) indexAdd(in *instance) { r.indexCmds(in.id, in.cmds, in.seq) }

// indexCmds records that instance id held cmds with seq. Right after attrs
// on the same cmds (lead, onPreAccept, a recovery's free slot), it takes
// the keys' facts attrs found, unless their shard was written since.
func (r *Replica) indexCmds(id paxos.Instance, cmds []paxos.Command, seq uint64) {
	memo := r.takeFound(cmds)
	for i, c := range cmds {
		if c.IsNop() {
			continue
		}
		var one [1]string
		for _, k := range touched(c, &one) {
			var e editing
			var ki *keyIndex
			if fd := memo; fd != nil {
				shard := fd[i].h.shard()
				if r.index.writes[shard] == fd[i].writes {
					e, ki = r.editFound(k, fd[i].f, fd[i].ok, shard)
				} else {
					f, ok, _ := r.index.findHashed(k, fd[i].h)
					e, ki = r.editFound(k, f, ok, shard)
				}
			} else {
				e, ki = r.edit(k)
			}
			f := ki.rowFor(id.Replica)
			if c.Writes() {
				f.write = max(f.write, id.Slot)
				ki.writeSeq = max(ki.writeSeq, seq)
			} else {
				f.read = max(f.read, id.Slot)
				ki.readSeq = max(ki.readSeq, seq)
			}
			r.save(e, ki)
		}
	}
}
