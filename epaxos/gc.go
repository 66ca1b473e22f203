package epaxos

import (
	"slices"

	"github.com/paxos-lab/paxos"
)

func (r *Replica) onWatermark(from paxos.NodeID, m Watermark) {
	if len(m.Seen) == r.n {
		// Each the maximum over the reports carrying Seen, so that a
		// report's Executed counts for pruning only with its Seen.
		if r.peerSeen[from] == nil {
			r.peerSeen[from], r.peerSeenExec[from] = slices.Clone(m.Seen), slices.Clone(m.Executed)
		} else {
			for q := range m.Seen {
				r.peerSeen[from][q] = max(r.peerSeen[from][q], m.Seen[q])
				r.peerSeenExec[from][q] = max(r.peerSeenExec[from][q], m.Executed[q])
			}
		}
	}
	pe, stuck := r.peerExec[from], r.peerStuck[from]
	patience := uint64(2 * r.cfg.RetryTicks)
	for q := range pe {
		// A peer's watermark is trusted no further than this replica's
		// horizon: a lower watermark only delays garbage collection.
		switch e := min(m.Executed[q], r.horizon(paxos.NodeID(q))); {
		case e > pe[q]:
			pe[q], stuck[q] = e, r.now
		case r.now-stuck[q] >= patience:
			stuck[q] = r.now // at most one catch-up per row and patience
			r.helpCatchUp(from, q, pe[q])
		}
	}
	r.collect()
}

// catchUpBatch bounds the commits resent to a lagging peer per row at once.
const catchUpBatch = 8

// helpCatchUp resends, to a peer whose execution of row q has not moved for
// 2*RetryTicks, the commits this replica holds just past that point. A
// commit broadcast can be lost and its command leader crash before
// retransmitting; when nothing the peer learns later depends on the
// instance, nothing else would ever tell the peer, and no replica could
// garbage-collect the instance.
func (r *Replica) helpCatchUp(p paxos.NodeID, q int, upTo uint64) {
	for s := upTo + 1; s <= upTo+catchUpBatch; s++ {
		in := r.inst[q][s]
		if in == nil || in.status != StatusCommitted {
			return
		}
		r.send(p, Commit{Inst: in.id, Cmds: in.cmds, Seq: in.seq, Deps: in.deps})
	}
}

// collect drops instances that every replica has executed.
func (r *Replica) collect() {
	for q := 0; q < r.n; q++ {
		low := r.execUpTo[q]
		for p := 0; p < r.n; p++ {
			if paxos.NodeID(p) != r.id {
				low = min(low, r.peerExec[p][q])
			}
		}
		for s := r.gcUpTo[q] + 1; s <= low; s++ {
			delete(r.inst[q], s)
		}
		if low > r.gcUpTo[q] {
			r.gcUpTo[q] = low
		}
	}
	r.maybePrune()
}

// pruneEpoch is a pruning of the per-key index under way (see "Pruning
// the index" in recovery.go): once every replica has executed every slot
// of replica q up to s[q] (gcUpTo[q] >= s[q] for every q), the facts of
// keys that name no slot above w[q] of any replica q may be dropped. When
// the epoch began, w was what every replica had executed by the reports
// that carried its Seen (and at most gcUpTo), and s the highest slots any
// replica reported holding. s is nil when no epoch is under way.
type pruneEpoch struct {
	w, s []uint64
}

// seen returns, for each replica, the highest of its slots this replica
// holds, has executed or has garbage-collected; for its own, also the
// highest it has led or may have led before it lost its disk. Nil while
// it rebuilds: what it led before is not known yet.
func (r *Replica) seen() []uint64 {
	if r.rb != nil {
		return nil
	}
	s := make([]uint64, r.n)
	for q := range s {
		s[q] = max(r.maxSlot[q], r.gcUpTo[q], r.execUpTo[q])
	}
	s[r.id] = max(s[r.id], r.nextSlot-1, r.reserved)
	return s
}

// maybePrune ends the pruning epoch under way when its wait is over,
// dropping the keys it allows, and begins the next one. Epochs begin only
// when every peer has reported what it holds (Watermark.Seen).
func (r *Replica) maybePrune() {
	if r.rb != nil || r.n == 1 {
		return
	}
	if r.planted.pruneAtOnce {
		if !slices.Equal(r.gcUpTo, r.prunedUpTo) {
			r.pruneIndex(r.gcUpTo)
		}
		return
	}
	if e := &r.prune; e.s != nil {
		for q, s := range e.s {
			if r.gcUpTo[q] < s {
				return
			}
		}
		if r.sincePruneCmds < r.pruneKeys {
			return
		}
		if !slices.Equal(e.w, r.prunedUpTo) {
			r.pruneIndex(e.w)
		}
		e.w, e.s = nil, nil
	}
	s, w := r.seen(), slices.Clone(r.gcUpTo)
	for q := range w {
		w[q] = min(w[q], r.execUpTo[q])
	}
	for p, ps := range r.peerSeen {
		if paxos.NodeID(p) == r.id {
			continue
		}
		if ps == nil {
			return
		}
		for q := range s {
			s[q] = max(s[q], ps[q])
			w[q] = min(w[q], r.peerSeenExec[p][q])
		}
	}
	r.prune = pruneEpoch{w: w, s: s}
}

// pruneIndex drops the keys whose facts name no slot above w[q] of any
// replica q, raising the floor of their buckets to the facts dropped.
func (r *Replica) pruneIndex(w []uint64) {
	for q := range w {
		r.prunedUpTo[q] = max(r.prunedUpTo[q], w[q])
	}
	n := r.index.prune(func(_ string, h uint32, f keyFacts) bool {
		if f.kind() != factsFull {
			// Inline facts (expandInline) are one row whose highest slot
			// is its latest write (execWrite is 0 or that slot, read and
			// execRead 0): read from the word, without expanding it.
			q, s := f.inlineReplica(), f.inlineWrite()
			if s > w[q] {
				return false
			}
			r.floor.raiseWrite(h, q, s)
			return true
		}
		rows := r.index.full(f.pos()).rows // read only
		for _, row := range rows {
			if max(row.write, row.read, row.execWrite, row.execRead) > w[row.replica] {
				return false
			}
		}
		r.floor.raise(h, rows)
		return true
	})
	r.forgetNops(w)
	r.stats.Pruned += uint64(n)
	r.sincePruneCmds, r.pruneKeys = 0, r.index.len()
}
