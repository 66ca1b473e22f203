package basic

import (
	"fmt"
	"maps"
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// DefaultSnapshotEvery is the snapshot interval, in executed slots, used
// when Config.SnapshotEvery is 0.
const DefaultSnapshotEvery = 1000

// SnapshotRecord is the one record a replica writes when it takes or
// installs a snapshot; the records before it are no longer needed. It
// holds the snapshot and the durable state of every slot above its Index.
// Rebuilding is set when it was written during a rebuild after a lost disk
// (a restart resumes the rebuild), Rebuilt once such a rebuild completed.
type SnapshotRecord struct {
	Snapshot   Snapshot     `msgpack:"s"`
	Slots      []SlotRecord `msgpack:"l,omitempty"`
	Rebuilding bool         `msgpack:"rb,omitempty"`
	Rebuilt    bool         `msgpack:"rd,omitempty"`
}

// SlotRecord is one slot's durable state in a SnapshotRecord: the
// acceptor's promise and accepted proposal, and whether the slot was
// decided here. Learned is the decided value when it differs from Value
// (as in DecisionRecord, it is omitted when they are the same).
type SlotRecord struct {
	Slot     uint64          `msgpack:"s"`
	Promised Ballot          `msgpack:"p"`
	Accepted Ballot          `msgpack:"a"`
	Value    []paxos.Command `msgpack:"v,omitempty"`
	Decided  bool            `msgpack:"d,omitempty"`
	Learned  []paxos.Command `msgpack:"l,omitempty"`
}

// Snapshot is the state machine, the clients' dedup sessions included,
// after executing every slot up to Index.
type Snapshot struct {
	Index uint64      `msgpack:"i"`
	KV    kv.Snapshot `msgpack:"kv"`
}

// InstallSnapshot answers a Prepare, Accept or CatchUp about a slot this
// replica compacted away: a snapshot at its execution point, which the
// receiver installs in place of every slot up to its Index.
type InstallSnapshot struct {
	Snapshot Snapshot `msgpack:"s"`
}

func init() {
	paxos.Register("basic.InstallSnapshot", InstallSnapshot{})
	paxos.Register("basic.SnapshotRecord", SnapshotRecord{})
}

// Log compaction. Every `every` executed slots (and no more often than
// once per as many executed commands as the store held keys at the
// previous snapshot) the replica snapshots its state machine at its
// execution point, emits a SnapshotRecord holding all its durable state,
// and drops the per-slot state up to its previous snapshot, keeping one
// interval of decided slots for peers that catch up from the log. A slot
// at or below base is gone: no state is ever created for it again; a
// Prepare, Accept or CatchUp about it is answered with InstallSnapshot,
// and any other message about it is ignored. The package doc argues why
// this is safe.

// gone reports whether slot s was compacted away.
func (r *Replica) gone(s uint64) bool { return s <= r.base }

// LogLen returns how many slots this replica holds in memory (compaction
// drops those up to its previous snapshot).
func (r *Replica) LogLen() int { return len(r.slots) }

// Base returns the highest slot compacted away (0 if none).
func (r *Replica) Base() uint64 { return r.base }

// behind answers a message about a compacted slot: its sender is behind
// our compaction point, so it gets a snapshot, at most once per RetryTicks.
func (r *Replica) behind(from paxos.NodeID) {
	if at, ok := r.snapSent[from]; ok && r.now-at < int64(r.cfg.RetryTicks) {
		return
	}
	if r.snapSent == nil {
		r.snapSent = map[paxos.NodeID]int64{}
	}
	r.snapSent[from] = r.now
	r.stats.snapshotsSent++
	r.send(from, InstallSnapshot{Snapshot: r.snapshotNow()})
}

// snapshotDue reports whether the slot just executed calls for a snapshot:
// `every` slots past the previous one, and at least as many commands since
// as the store held keys then. Writing a snapshot takes time in proportion
// to the store's size, so the second condition keeps that time per
// command bounded as the store grows.
func (r *Replica) snapshotDue() bool {
	switch {
	case r.every == 0, r.executed-r.snapIndex < r.every:
		return false
	default:
		return r.sinceSnapCmds >= r.snapKeys
	}
}

// maybeSnapshot snapshots the execution point when one is due, and drops
// the slots up to the previous snapshot (at most `every` slots behind the
// execution point stay, for peers that catch up from the log).
func (r *Replica) maybeSnapshot() {
	if !r.snapshotDue() {
		return
	}
	keep := min(r.executed, r.every)
	r.truncate(max(r.snapIndex, r.executed-keep))
	r.sinceSnapCmds, r.snapKeys = 0, r.store.Len()
	r.stats.snapshots++
	r.emitSnapshot(r.snapshotNow())
}

// snapshotNow is the state at the execution point. The store's data is
// shared copy on write: a shard is copied only if the store writes it
// while the snapshot is still referenced.
func (r *Replica) snapshotNow() Snapshot {
	return Snapshot{Index: r.executed, KV: r.storeSnapshot()}
}

// truncate forgets slots 1..index (those above base, the rest are gone
// already). Each was executed here or is covered by an installed
// snapshot. Should a proposal of ours still run in one (a snapshot
// installed over it), its commands go back to the queue, as when a slot
// is lost.
func (r *Replica) truncate(index uint64) {
	if r.base >= index {
		return
	}
	// In slot order: forget requeues proposals, and the queue's order
	// decides which command a later slot carries, so a map's order here
	// made runs of one seed differ.
	for _, s := range slices.Sorted(maps.Keys(r.slots)) {
		if s > index {
			break
		}
		r.forget(s, r.slots[s])
	}
	r.base = index
}

// forget drops slot s, requeueing the commands of a proposal still in it.
func (r *Replica) forget(s uint64, st *slot) {
	delete(r.slots, s)
	pr := st.prop
	st.prop = nil
	if pr == nil || pr.own == nil {
		return
	}
	r.inflight--
	r.requeue(pr.own, pr.level, pr.losses, r.now)
}

// emitSnapshot replaces this Ready's records with a SnapshotRecord holding
// all durable state, snap being the replica's latest snapshot. Only its
// index is kept (r.snapIndex), not its data, which would hold a second copy
// of every shard of the store written since; a peer that is behind gets
// snapshotNow.
func (r *Replica) emitSnapshot(snap Snapshot) {
	r.snapIndex = snap.Index
	rec := SnapshotRecord{Snapshot: snap, Rebuilding: r.rb != nil, Rebuilt: r.rebuilt}
	keys := make([]uint64, 0, len(r.slots))
	for s := range r.slots {
		if s > snap.Index {
			keys = append(keys, s)
		}
	}
	slices.Sort(keys)
	for _, s := range keys {
		st := r.slots[s]
		sr := SlotRecord{Slot: s, Promised: st.acc.Promised, Accepted: st.acc.Accepted, Value: st.acc.Value, Decided: st.learned}
		if st.learned && !paxos.SameCommands(st.acc.Value, st.value) {
			sr.Learned = st.value
		}
		if sr.Promised.IsZero() && sr.Accepted.IsZero() && !sr.Decided {
			continue
		}
		rec.Slots = append(rec.Slots, sr)
	}
	r.rd.Persist = nil
	r.rd.Snapshot = rec
}

// installSnapshot puts a peer's snapshot in place of every slot up to its
// Index, unless this replica already executed that far.
func (r *Replica) installSnapshot(s Snapshot) error {
	if s.Index <= r.executed {
		return nil
	}
	if s.Index > paxos.MaxSlot {
		return fmt.Errorf("%w: snapshot at slot %d, above %d", paxos.ErrMalformed, s.Index, uint64(paxos.MaxSlot))
	}
	store, err := kv.ExecutorFromSnapshot(r.cfg, s.KV)
	if err != nil {
		return fmt.Errorf("%w: snapshot at slot %d: %w", paxos.ErrMalformed, s.Index, err)
	}
	r.truncate(s.Index)
	r.store = store
	r.executed, r.snapIndex = s.Index, s.Index
	r.maxLearned, r.maxSlot = max(r.maxLearned, s.Index), max(r.maxSlot, s.Index)
	r.sinceSnapCmds, r.snapKeys = 0, store.Len()
	r.stats.snapshotInstalls++
	// Queued commands of ours that the snapshot executed are answered from
	// its dedup sessions, as a retry would be.
	r.queue = slices.DeleteFunc(r.queue, func(q pending) bool {
		ex, done := r.store.Executed(&q.cmd)
		if done && q.cmd.Client != 0 {
			r.done(ex)
		}
		return done && q.cmd.Client != 0
	})
	r.execute()
	if r.snapIndex > s.Index {
		s = r.snapshotNow() // execute took a later one
	}
	r.emitSnapshot(s)
	r.rebuildDone()
	return nil
}

// done reports a command of ours that a snapshot executed.
func (r *Replica) done(ex paxos.Execution) {
	id := ex.Command.ID()
	if _, ok := r.waiting[id]; !ok {
		return
	}
	delete(r.waiting, id)
	r.rd.Executed = append(r.rd.Executed, ex)
	r.rd.Committed = append(r.rd.Committed, paxos.Commit{ID: id, Path: paxos.PathClassic})
}

// restoreSnapshot starts from a SnapshotRecord: the store at its index,
// and the acceptor and learned state of the slots above it.
func (r *Replica) restoreSnapshot(rec SnapshotRecord, rebuilding, rebuilt *bool) error {
	store, err := kv.ExecutorFromSnapshot(r.cfg, rec.Snapshot.KV)
	if err != nil {
		return fmt.Errorf("%w: snapshot record: %w", ErrRestore, err)
	}
	idx := rec.Snapshot.Index
	r.store, r.snapIndex, r.snapKeys = store, idx, store.Len()
	r.executed, r.base, r.maxLearned, r.maxSlot = idx, idx, idx, idx
	*rebuilding, *rebuilt = rec.Rebuilding, rec.Rebuilt
	for i, sr := range rec.Slots {
		if sr.Slot == 0 {
			return fmt.Errorf("%w: snapshot record: slot record %d is for slot 0", ErrRestore, i)
		}
		if r.gone(sr.Slot) {
			continue
		}
		st := r.slot(sr.Slot)
		st.acc.Promised = maxBallot(sr.Promised, sr.Accepted)
		st.acc.Accepted, st.acc.Value = sr.Accepted, sr.Value
		if !sr.Decided {
			continue
		}
		val := sr.Learned
		if val == nil {
			val = sr.Value
		}
		if len(val) == 0 {
			return fmt.Errorf("%w: snapshot record: slot %d decided without a value", ErrRestore, sr.Slot)
		}
		st.learned, st.value = true, val
		r.maxLearned = max(r.maxLearned, sr.Slot)
		r.rd.Decided = append(r.rd.Decided, paxos.Decision{Instance: paxos.Instance{Slot: sr.Slot}, Commands: val})
	}
	return nil
}
