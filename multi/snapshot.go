package multi

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// record is the durable state with snap (the replica's latest snapshot,
// at r.snap.Index).
func (r *Replica) record(snap Snapshot) SnapshotRecord {
	rec := SnapshotRecord{Promised: r.promised, Snapshot: snap, Rebuilding: r.rb != nil}
	if r.bug.snapshotDropsPromise {
		rec.Promised = Ballot{}
	}
	for s := snap.Index + 1; s <= r.lastSlot(); s++ {
		if e := r.at(s); e.cmds != nil && (e.committed || !r.bug.snapshotDropsAccepted) {
			rec.Entries = append(rec.Entries, Entry{Slot: s, Ballot: e.ballot, Cmds: e.cmds, Committed: e.committed})
		}
	}
	return rec
}

// emitSnapshot replaces every record of this Ready with a snapshot record
// holding all durable state, snap being the snapshot at r.snap.Index.
// The replica keeps only the index of its snapshot, not its data: the
// store shares its data with a snapshot copy on write, so keeping one
// would hold a second copy of every shard written since (see
// currentSnapshot).
func (r *Replica) emitSnapshot(snap Snapshot) {
	r.rd.Persist = nil
	r.rd.Snapshot = r.record(snap)
	r.snap = Snapshot{Index: snap.Index}
}

// currentSnapshot is a snapshot of the store at the execution point, for
// a peer that needs one (catch-up, a Promise): it shares the store's data
// copy on write, so it costs a copy of a shard only when the store next
// writes that shard, and only while the peer's message is alive. The
// execution point is at or past r.snap.Index and r.base, so it covers
// everything the log no longer holds.
func (r *Replica) currentSnapshot() Snapshot {
	snap := Snapshot{Index: r.executed, KV: r.store.Snapshot()}
	if r.bug.snapshotDropsDedup {
		snap.KV.Sessions = nil
	}
	return snap
}

// truncate drops the log up to slot index (> base).
func (r *Replica) truncate(index uint64) {
	var keep []entry
	if index < r.lastSlot() {
		keep = append(make([]entry, 0, r.lastSlot()-index+64), r.log[index-r.base:]...)
	}
	r.log = keep
	r.base = index
}

// trim drops the executed slots more than SnapshotEvery slots below the
// execution point as execution passes them (executeReady), however long ago
// the latest snapshot was taken: the log keeps every slot above the
// execution point and a tail of at most SnapshotEvery executed ones, for
// catch-up. A peer further behind (heartbeat reply, or a Prepare whose
// commit point is below base) gets a snapshot of the store at the execution
// point instead (currentSnapshot), which covers every slot dropped here,
// also those after the latest routine snapshot. Only memory is dropped:
// what is durable is the latest SnapshotRecord and the records after it.
// With snapshots off (SnapshotEvery < 0) nothing is dropped, so that a
// state machine that cannot be snapshotted still catches up by log.
//
// The dropped entries are cleared, so that the collector reclaims their
// commands, and cut off the front of the slice without copying the rest;
// appending copies what is left once the slice's capacity runs out.
func (r *Replica) trim() {
	if r.every == 0 || r.executed-r.base <= r.every {
		return
	}
	k := r.executed - r.every - r.base
	clear(r.log[:k])
	r.log = r.log[k:]
	r.base += k
}

// takeSnapshot snapshots the store at the execution point. It drops no
// log: trim keeps the log to SnapshotEvery executed slots already. A
// snapshot costs time and memory in proportion to the store, so one is
// taken after SnapshotEvery executed slots once at least as many commands
// executed since the last one as the store held keys when it was taken:
// the cost per command stays bounded however much the store holds (a
// store of 1M distinct keys is written out once per 1M commands, not once
// per 10,000). The store's size when the last one was taken, not its size
// now: with every command on a new key, the commands since the last
// snapshot never reach the store's current size, and no snapshot would be
// taken again.
//
// A routine snapshot (background) keeps the records of its Ready, which
// follow it in storage: restoring them after the snapshot changes nothing
// (a promise or an accepted value the snapshot already holds), and they
// hold the same state if a crash comes before the snapshot is on disk, so
// a storage may write it on a goroutine of its own
// (SnapshotRecord.BackgroundSnapshot). The snapshot that ends a rebuild is
// not one: what it holds was learned from the peers and is in no record.
func (r *Replica) takeSnapshot(background bool) {
	r.sinceSnap, r.snapKeys, r.snapDelay = 0, r.store.Len(), 0
	recs := r.rd.Persist
	r.emitSnapshot(r.currentSnapshot())
	if background {
		r.rd.Persist = recs
		rec := r.rd.Snapshot.(SnapshotRecord)
		rec.background = true
		r.rd.Snapshot = rec
	}
}

func (r *Replica) installSnapshot(s Snapshot) {
	if s.Index <= r.executed && !(r.bug.installStaleSnapshot && s.Index >= r.base) {
		return
	}
	store, err := kv.ExecutorFromSnapshot(r.cfg, s.KV)
	if err != nil {
		return // a snapshot this state machine cannot restore: catch up by log instead
	}
	if s.Index < r.lastSlot() {
		r.truncate(s.Index)
	} else {
		r.log, r.base = nil, s.Index
	}
	r.snap = Snapshot{Index: s.Index}
	r.store = store
	r.executed = s.Index
	if r.next != 0 && r.next <= s.Index {
		r.next = s.Index + 1
	}
	// Proposals of ours that the snapshot already executed: report their
	// (first) outputs, as a retry would.
	r.pending.each(func(id paxos.CommandID, p *proposal) {
		if ex, done := r.store.Executed(&p.cmd); done {
			r.rd.Executed = append(r.rd.Executed, ex)
			r.dropPending(id)
		}
	})
	r.emitSnapshot(s)
	r.executeReady()
}

func (r *Replica) restore(p *paxos.Persisted, rebuilding, rebuilt *bool) error {
	if p.Snapshot != nil {
		rec, ok := p.Snapshot.(SnapshotRecord)
		if !ok {
			return fmt.Errorf("multi: restore: snapshot is %T, want multi.SnapshotRecord; was it written by another protocol?", p.Snapshot)
		}
		if err := r.applyRecord(rec); err != nil {
			return err
		}
		*rebuilding = rec.Rebuilding
	}
	for i, rec := range p.Records {
		switch v := rec.(type) {
		case PromiseRecord:
			if r.promised.Less(v.Ballot) {
				r.promised = v.Ballot
			}
		case AcceptRecord:
			if v.Slot == 0 || len(v.Cmds) == 0 {
				return fmt.Errorf("multi: restore: record %d: accept record for slot %d with %d commands is corrupt", i, v.Slot, len(v.Cmds))
			}
			if v.Slot > r.base {
				e := r.ensure(v.Slot)
				if !e.committed && !v.Ballot.Less(e.ballot) {
					e.ballot, e.cmds = v.Ballot, v.Cmds
				}
			}
		case SnapshotRecord:
			if err := r.applyRecord(v); err != nil {
				return err
			}
			*rebuilding = v.Rebuilding
		case RebuildRecord:
			*rebuilding, *rebuilt = !v.Done, v.Done
		default:
			return fmt.Errorf("multi: restore: record %d is %T, not a multi record; was it written by another protocol?", i, rec)
		}
	}
	r.maxSeen = r.promised
	r.executeReady()
	return nil
}

func (r *Replica) applyRecord(rec SnapshotRecord) error {
	if r.promised.Less(rec.Promised) {
		r.promised = rec.Promised
	}
	r.snap = Snapshot{Index: rec.Snapshot.Index}
	store, err := kv.ExecutorFromSnapshot(r.cfg, rec.Snapshot.KV)
	if err != nil {
		return fmt.Errorf("multi: restore: %w", err)
	}
	r.store = store
	r.executed = rec.Snapshot.Index
	r.log, r.base = nil, rec.Snapshot.Index
	for _, e := range rec.Entries {
		if e.Slot <= r.snap.Index || len(e.Cmds) == 0 {
			continue
		}
		x := r.ensure(e.Slot)
		x.ballot, x.cmds, x.committed = e.Ballot, e.Cmds, e.Committed
	}
	return nil
}
