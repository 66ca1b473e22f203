package epaxos

import "slices"

// Executed marks of inline facts. A key's inline facts (keyFacts) say
// whether this replica executed the write they name. Setting that mark when
// the write executes costs a second map operation per executed command
// (noteExecuted has found the key's facts, and would store them again), so
// in the common case it is not stored: facts of kind factsPacked whose
// write is in this replica's executed prefix of its replica (execUpTo) are
// executed, unless that slot executed as a Nop (then the key's write was
// replaced and never executed). Facts whose write executed above the
// prefix are marked factsPackedExecuted as before, and facts packed with
// their write in the prefix but not executed (a Nop's, or a key whose
// facts were rebuilt after a restart) are marked factsPackedUnexecuted, so
// that the prefix never marks them. Everything that reads the facts
// (Replica.expand, IndexSnapshot.each) reads the mark through execMarks;
// the facts read are the ones stored before.

// execMarks is what derives the executed mark of inline facts of kind
// factsPacked: each replica's executed prefix and the slots in it executed
// as a Nop.
type execMarks struct {
	upTo []uint64   // per replica: every slot up to it executed here
	nops [][]uint64 // per replica: slots executed here as a Nop, sorted
}

// executed reports whether replica q's write at slot s, named by inline
// facts of kind factsPacked, executed here.
func (m execMarks) executed(q int, s uint64) bool { return prefixExecuted(m.upTo, m.nops, q, s) }

// prefixExecuted is execMarks{upTo, nops}.executed(q, s).
func prefixExecuted(upTo []uint64, nops [][]uint64, q int, s uint64) bool {
	if q >= len(upTo) || s > upTo[q] {
		return false
	}
	if len(nops[q]) == 0 {
		return true
	}
	_, nop := slices.BinarySearch(nops[q], s)
	return !nop
}

// prefixMarked reports whether inline facts f are of kind factsPacked and
// marked executed by the executed prefix (r.marks().executed, without
// building the execMarks).
func (r *Replica) prefixMarked(f keyFacts) bool {
	if f.kind() != factsPacked {
		return false
	}
	return prefixExecuted(r.execUpTo, r.nops, f.inlineReplica(), f.inlineWrite())
}

// clone returns a copy of m that later executions leave unchanged.
func (m execMarks) clone() execMarks {
	c := execMarks{upTo: slices.Clone(m.upTo), nops: make([][]uint64, len(m.nops))}
	for q, s := range m.nops {
		c.nops[q] = slices.Clone(s)
	}
	return c
}

// marks returns the replica's execMarks (sharing its state).
func (r *Replica) marks() execMarks { return execMarks{upTo: r.execUpTo, nops: r.nops} }

// noteNop records that slot s of replica q executed here as a Nop.
func (r *Replica) noteNop(q int, s uint64) {
	if i, found := slices.BinarySearch(r.nops[q], s); !found {
		r.nops[q] = slices.Insert(r.nops[q], i, s)
	}
}

// forgetNops drops the Nops of slots up to w[q] of each replica q, once
// pruneIndex has dropped every inline facts naming such a slot: facts
// packed later with such a write are marked factsPackedUnexecuted unless
// it executed (unmarked), so the Nops are no longer needed.
func (r *Replica) forgetNops(w []uint64) {
	for q, s := range w {
		i, found := slices.BinarySearch(r.nops[q], s)
		if found {
			i++
		}
		r.nops[q] = r.nops[q][:copy(r.nops[q], r.nops[q][i:])]
	}
}

// expandMarked writes the facts of f, stored inline, into ki, with the
// executed mark marks derives for facts of kind factsPacked.
func expandMarked(f keyFacts, ki *keyIndex, marks execMarks) {
	expandInline(f, ki)
	if f.kind() == factsPacked && marks.executed(f.inlineReplica(), f.inlineWrite()) {
		ki.rows[0].execWrite = ki.rows[0].write
	}
}

// unmarked returns inline facts f as stored: of kind factsPackedUnexecuted
// when they are of kind factsPacked (their write not executed) but the
// executed prefix would mark them executed.
func (r *Replica) unmarked(f keyFacts) keyFacts {
	if r.prefixMarked(f) {
		return f | factsPackedUnexecuted
	}
	return f
}
