package fastpaxos

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// DefaultSnapshotEvery is the snapshot interval, in executed slots, used
// when Config.SnapshotEvery is 0.
const DefaultSnapshotEvery = 1000

// Log compaction. Every `every` executed slots the replica snapshots its
// state machine (with the clients' dedup sessions) at the end of its
// learned prefix and emits a SnapshotRecord holding all its durable state;
// it drops the slots up to its previous snapshot, keeping one interval for
// peers that catch up from the log. A slot at or below base is gone: every
// message about it is ignored (it was chosen, and the snapshot holds its
// effect), a Prepare or CatchUp that needs it is answered with a Nack or
// the snapshot.

// gone reports whether slot s was compacted away.
func (r *Replica) gone(s uint64) bool { return s <= r.base }

// behind answers a proposal or recovery for a compacted slot: its sender is
// behind our snapshot, so it gets the snapshot, at most once per RetryTicks.
func (r *Replica) behind(from paxos.NodeID) {
	if from == r.id {
		return
	}
	if at, ok := r.snapSent[from]; ok && r.now-at < r.retry() {
		return
	}
	if r.snapSent == nil {
		r.snapSent = map[paxos.NodeID]int64{}
	}
	r.snapSent[from] = r.now
	r.stats["snapshots-sent"]++
	r.send(from, InstallSnapshot{Snapshot: r.currentSnapshot()})
}

// maybeSnapshot takes a snapshot once every executed slots past the last,
// and once at least as many commands executed since the last one as the
// store held keys then: a snapshot costs time in proportion to the store,
// so its cost per command stays bounded however much the store holds.
func (r *Replica) maybeSnapshot() {
	if r.every == 0 || r.learnedTo < r.snap.Index+r.every || r.sinceSnapCmds < r.snapKeys {
		return
	}
	r.sinceSnapCmds, r.snapKeys = 0, r.store.Len()
	// Drop the slots up to the previous snapshot, keeping at most every
	// slots for peers that catch up from the log (one interval may hold
	// as many commands as the store holds keys).
	r.truncate(max(r.snap.Index, r.learnedTo-min(r.learnedTo, r.every)))
	r.stats["snapshots"]++
	r.emitSnapshot(r.currentSnapshot())
}

// currentSnapshot is a snapshot of the store at the end of the learned
// prefix (the store has executed exactly that prefix), for the snapshot
// record or a peer that is behind: it shares the store's data copy on
// write, so it costs a copy of a shard only when the store next writes
// that shard while the snapshot is still alive.
func (r *Replica) currentSnapshot() Snapshot {
	snap := Snapshot{Index: r.learnedTo, KV: r.store.Snapshot()}
	if r.bug.snapshotDropsDedup {
		snap.KV.Sessions = nil
	}
	return snap
}

// truncate drops every slot up to index.
func (r *Replica) truncate(index uint64) {
	if index <= r.base {
		return
	}
	// In slot order: requeue decides the order in which our commands are
	// proposed again, so a map's order here made runs of one seed differ.
	for _, s := range slices.Sorted(maps.Keys(r.slots)) {
		if s > index {
			break
		}
		r.requeue(r.slots[s])
		delete(r.slots, s)
	}
	r.base = index
}

// requeue proposes again the commands of ours whose slot is dropped before it
// was learned there (a snapshot installed over it), unless it executed.
func (r *Replica) requeue(st *slot) {
	p := st.prop
	if p == nil || st.learned {
		return
	}
	st.prop = nil
	for _, c := range p.cmds {
		if _, ok := r.waiting[c.ID()]; ok {
			r.queue = append(r.queue, queued{cmd: c})
		}
	}
}

// emitSnapshot replaces this Ready's records with a SnapshotRecord holding
// all durable state, snap being the replica's latest snapshot. The replica
// keeps only its index (r.snap), not its data: the store shares its data
// with a snapshot copy on write, so keeping one would hold a second copy of
// every shard written since (a peer that is behind gets currentSnapshot).
func (r *Replica) emitSnapshot(snap Snapshot) {
	r.snap = Snapshot{Index: snap.Index}
	rec := SnapshotRecord{Promised: r.promised, Snapshot: snap, Rebuilding: r.rb != nil}
	keys := make([]uint64, 0, len(r.slots))
	for s := range r.slots {
		if s > r.snap.Index {
			keys = append(keys, s)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, s := range keys {
		st := r.slots[s]
		sr := SlotRecord{Slot: s, Promised: st.promised, Vote: st.vote}
		if st.learned {
			sr.Learned = st.value
		}
		if sr.Promised.IsZero() && sr.Vote.Ballot.IsZero() && sr.Learned == nil {
			continue
		}
		rec.Slots = append(rec.Slots, sr)
	}
	r.rd.Persist = nil
	r.rd.Snapshot = rec
}

// installSnapshot replaces the slots up to s.Index with the snapshot, when
// it is ahead of this replica's learned prefix.
func (r *Replica) installSnapshot(s Snapshot) error {
	if s.Index <= r.learnedTo {
		return nil
	}
	store, err := kv.ExecutorFromSnapshot(r.cfg, s.KV)
	if err != nil {
		return fmt.Errorf("%w: snapshot at slot %d: %w", paxos.ErrMalformed, s.Index, err)
	}
	r.stats["snapshot-installs"]++
	r.truncate(s.Index)
	r.snap, r.store, r.learnedTo = Snapshot{Index: s.Index}, store, s.Index
	r.maxSlot = max(r.maxSlot, s.Index)
	// Our proposals the snapshot executed: report their outputs, as a
	// retry would.
	kept := r.queue[:0]
	for _, q := range r.queue {
		if ex, done := r.store.Executed(&q.cmd); done && q.cmd.Client != 0 {
			r.done(ex)
			continue
		}
		kept = append(kept, q)
	}
	r.queue = kept
	r.execute()
	if r.snap.Index > s.Index {
		s = r.currentSnapshot() // execute took a later one
	}
	r.emitSnapshot(s)
	return nil
}

// done reports a command of ours executed by a snapshot.
func (r *Replica) done(ex paxos.Execution) {
	c := ex.Command
	if _, ok := r.waiting[c.ID()]; !ok {
		return
	}
	delete(r.waiting, c.ID())
	r.rd.Executed = append(r.rd.Executed, ex)
	r.rd.Committed = append(r.rd.Committed, paxos.Commit{ID: c.ID(), Path: paxos.PathSlow})
}

// restoreSnapshot starts from a SnapshotRecord.
func (r *Replica) restoreSnapshot(rec SnapshotRecord) error {
	store, err := kv.ExecutorFromSnapshot(r.cfg, rec.Snapshot.KV)
	if err != nil {
		return fmt.Errorf("%w: snapshot record: %w", ErrRestore, err)
	}
	r.promised = maxBallot(r.promised, rec.Promised)
	r.marker = rec.Rebuilding
	r.snap, r.store = Snapshot{Index: rec.Snapshot.Index}, store
	r.learnedTo, r.base, r.maxSlot = rec.Snapshot.Index, rec.Snapshot.Index, rec.Snapshot.Index
	for _, sr := range rec.Slots {
		if r.gone(sr.Slot) {
			continue
		}
		st := r.slot(sr.Slot)
		st.promised, st.vote = sr.Promised, sr.Vote
		if sr.Learned != nil {
			st.learned, st.value = true, sr.Learned
			r.rd.Decided = append(r.rd.Decided, paxos.Decision{Instance: paxos.Instance{Slot: sr.Slot}, Commands: sr.Learned})
		}
	}
	return nil
}
