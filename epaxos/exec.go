package epaxos

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// Execution. The graph has an edge V -> W when W's slot is at most
// V.deps[W.replica] and their commands interfere. A committed V executes once
// every instance it reaches is committed; strongly connected components run
// in dependency order, members by (seq, replica, slot). Following EPaxos
// Revisited, the edge V -> W is ignored when W is committed, W depends on V
// and W comes after V in (seq, replica, slot): W executes after V in every
// replica's order anyway, so V need not wait for what W depends on. Whether
// an edge is ignored depends only on committed attributes, so every replica
// computes the same order.

// less orders instances inside a component.
func less(a, b *instance) bool {
	if a.seq != b.seq {
		return a.seq < b.seq
	}
	if a.id.Replica != b.id.Replica {
		return a.id.Replica < b.id.Replica
	}
	return a.id.Slot < b.id.Slot
}

// tarjan is the state of one execution pass. Its per-instance marks live
// in the instances themselves (walk), valid while walk.pass equals pass, so
// a pass allocates nothing per visited instance; the struct and its
// slices are kept on the Replica and reused.
type tarjan struct {
	r       *Replica
	pass    uint64
	counter int
	stack   []*instance
	comp    []*instance
}

// walk holds an instance's marks in the execution pass numbered pass.
type walk struct {
	pass    uint64
	index   int
	low     int
	onStack bool
	failed  *instance // the uncommitted instance it waits for
}

// seen reports whether the current pass visited v.
func (t *tarjan) seen(v *instance) bool { return v.walk.pass == t.pass }

// execute runs whatever has become executable. It never waits: an instance
// that reaches an uncommitted one is parked on it (blockedOn) and tried
// again when that one commits; the timers recover an instance that stays
// uncommitted. Only newly committed and newly unblocked instances are
// tried, so a long stall costs nothing per step.
func (r *Replica) execute() {
	if len(r.candidates) == 0 {
		return
	}
	roots := r.candidates
	r.candidates = r.spareCandidates[:0]
	slices.SortFunc(roots, func(a, b *instance) int {
		if a.id.Slot != b.id.Slot {
			return cmp.Compare(a.id.Slot, b.id.Slot)
		}
		return cmp.Compare(a.id.Replica, b.id.Replica)
	})
	t := &r.walk
	t.r = r
	t.pass++
	t.counter = 0
	for _, in := range roots {
		if in.executed || in.status != StatusCommitted {
			continue
		}
		if t.seen(in) {
			continue
		}
		t.visit(in)
	}
	clear(roots)
	r.spareCandidates = roots[:0]
	// Drop executed slots from the open lists now and then.
	for q, o := range r.open {
		if r.openDead[q] > 16 && 2*r.openDead[q] > len(o) {
			r.open[q] = slices.DeleteFunc(o, func(s uint64) bool {
				w := r.inst[q][s]
				return w == nil || w.executed
			})
			r.openDead[q] = 0
		}
	}
}

// deps calls fn for every instance v must not execute before (or that
// blocks v, when not committed), stopping when fn returns false.
func (t *tarjan) deps(v *instance, fn func(w *instance) bool) {
	r := t.r
	for q := 0; q < r.n; q++ {
		hi := v.deps[q]
		if hi <= r.execUpTo[q] {
			continue // every slot of q up to hi executed here (hi = 0 too)
		}
		if hi > r.maxSlot[q] && hi > r.gcUpTo[q] {
			r.get(paxos.Instance{Replica: paxos.NodeID(q), Slot: hi}) // unknown: wait for it
		}
		open := r.open[q]
		for i := 0; i < len(open) && r.depBelow(open[i], hi); i++ {
			w := r.inst[q][open[i]]
			if w == nil || w.executed || w == v {
				continue
			}
			if w.status != StatusCommitted {
				if r.planted.execSkipsPending {
					continue
				}
				if realCommands(w.cmds) && !paxos.BatchesInterfere(v.cmds, w.cmds) {
					continue // its command is fixed (or becomes a Nop): no edge
				}
				if !fn(w) {
					return
				}
				continue
			}
			if !paxos.BatchesInterfere(v.cmds, w.cmds) {
				continue
			}
			if r.ignoredEdge(v, w) {
				continue // EPaxos Revisited: W runs after V regardless
			}
			if !fn(w) {
				return
			}
		}
	}
}

func (t *tarjan) visit(v *instance) {
	vw := &v.walk
	*vw = walk{pass: t.pass, index: t.counter, low: t.counter, onStack: true}
	t.counter++
	t.stack = append(t.stack, v)
	t.deps(v, func(w *instance) bool {
		if w.status != StatusCommitted {
			vw.failed = w
			return false
		}
		if b := w.blockedOn; b != nil {
			if b.status != StatusCommitted {
				vw.failed = b // w still waits for b, so v does
				return false
			}
			w.blockedOn = nil
		}
		ww := &w.walk
		if !t.seen(w) {
			t.visit(w)
			if b := ww.failed; b != nil {
				vw.failed = b
				return false
			}
			if !t.r.planted.lowNotPropagated {
				vw.low = min(vw.low, ww.low)
			}
		} else if ww.onStack {
			vw.low = min(vw.low, ww.index)
		} else if b := ww.failed; b != nil {
			vw.failed = b
			return false
		}
		return true
	})
	if vw.low != vw.index {
		return // not a component root; a failure is settled when the root pops
	}
	i := len(t.stack) - 1
	for t.stack[i] != v {
		i--
	}
	comp := append(t.comp[:0], t.stack[i:]...)
	clear(t.stack[i:])
	t.stack = t.stack[:i]
	var blocker *instance
	for _, w := range comp {
		w.walk.onStack = false
		if b := w.walk.failed; b != nil && blocker == nil {
			blocker = b
		}
	}
	if blocker != nil {
		for _, w := range comp {
			w.walk.failed = blocker
			w.blockedOn = blocker
			t.r.waiters[blocker] = append(t.r.waiters[blocker], w)
		}
	} else {
		slices.SortFunc(comp, func(a, b *instance) int {
			switch {
			case t.r.order(a, b):
				return -1
			case t.r.order(b, a):
				return 1
			}
			return 0
		})
		for _, w := range comp {
			t.r.apply(w)
		}
	}
	clear(comp)
	t.comp = comp[:0]
}

// apply executes one committed instance.
func (r *Replica) apply(in *instance) {
	q := in.id.Replica
	// The executed prefix covers in once it is executed when in is next
	// above it (see the loop below).
	inPrefix := in.id.Slot <= r.execUpTo[q]+1
	// Facts of in's keys unchanged since they were stored, new, naming in's
	// write: noteExecuted would find them and leave them so.
	fresh := inPrefix && in.freshAt == r.index.rewrites+1
	if len(in.cmds) > 1 {
		r.store.Prefetch(in.cmds) // the store's misses overlap (kv.Executor.Prefetch)
	}
	for i := range in.cmds {
		c := &in.cmds[i]
		if c.IsNop() {
			continue
		}
		// built in place at the end of the list, not copied there
		r.rd.Executed = sized(r.rd.Executed, r.hint.executed)
		n := len(r.rd.Executed)
		r.rd.Executed = r.rd.Executed[:n+1]
		r.store.ApplyTo(&r.rd.Executed[n], c)
		r.batchChecked = false
		r.sinceSnapCmds++
		r.sincePruneCmds++
		if !fresh {
			r.noteExecuted(in.id, c, inPrefix)
		}
	}
	if !realCommands(in.cmds) {
		r.noteNop(int(q), in.id.Slot)
	}
	in.executed = true
	delete(r.pendingExec, in.id)
	r.stats.Executed++
	r.sinceSnap++
	for {
		next := r.inst[q][r.execUpTo[q]+1]
		if next == nil || !next.executed {
			break
		}
		r.execUpTo[q]++
	}
	r.openDead[q]++ // compacted by execute, never while a traversal reads open
}

// noteExecuted records an executed command of instance id in the per-key
// index; inPrefix says whether id is in the executed prefix of its replica
// once executed (execUpTo).
func (r *Replica) noteExecuted(id paxos.Instance, c *paxos.Command, inPrefix bool) {
	var one [1]string
	for _, k := range touched(c, &one) {
		old, ok, h := r.index.find(k)
		if q := int(id.Replica); ok && c.Writes() && old.kind() != factsFull && old.inlineReplica() == q {
			// Inline facts of this replica's write at the slot executed
			// (or a later one, with that one executed already): its
			// executed write is that slot, and the facts stay inline, now
			// marked executed (what expanding, updating and packing them
			// gives, without the expansion). In the executed prefix, facts
			// of kind factsPacked are marked by it (marks.go): no write.
			if w := old.inlineWrite(); id.Slot == w {
				if kind := old.kind(); kind != factsPackedExecuted && !(kind == factsPacked && (inPrefix || r.prefixMarked(old))) {
					r.index.put(k, h, old&^3|factsPackedExecuted, false)
				}
				continue
			} else if id.Slot < w && (old.kind() == factsPackedExecuted || r.prefixMarked(old)) {
				continue
			}
		}
		e, ki := r.editFound(k, old, ok, h)
		f := ki.rowFor(id.Replica)
		if c.Writes() {
			f.execWrite = max(f.execWrite, id.Slot)
		} else {
			f.execRead = max(f.execRead, id.Slot)
		}
		r.save(e, ki)
	}
}

// ---- snapshots and restore ----

func (r *Replica) snapshot() SnapshotRecord {
	snap := SnapshotRecord{Store: r.store.Snapshot(), ExecUpTo: slices.Clone(r.execUpTo), GCUpTo: slices.Clone(r.gcUpTo), NextSlot: r.nextSlot,
		Keys: r.indexSnapshot(), Rebuilding: r.rb != nil, Rebuilt: r.rebuilt, Reserved: r.reserved}
	snap.Floor = r.floor.persisted()
	for q := 0; q < r.n; q++ {
		slots := make([]uint64, 0, len(r.inst[q]))
		for s := range r.inst[q] {
			slots = append(slots, s)
		}
		slices.Sort(slots)
		for _, s := range slots {
			in := r.inst[q][s]
			snap.Instances = append(snap.Instances, r.record(in))
			if in.executed {
				snap.Executed = append(snap.Executed, in.id)
			}
		}
	}
	return snap
}

// indexEntry is the persisted form of one key's index entry (unchanged
// since the index was dense: a slot per replica).
func (r *Replica) indexEntry(kf keyFacts) IndexEntry {
	var ki keyIndex
	r.expand(kf, &ki)
	e := IndexEntry{Write: make([]uint64, r.n), Read: make([]uint64, r.n), WriteSeq: ki.writeSeq, ReadSeq: ki.readSeq}
	for _, f := range ki.rows {
		e.Write[f.replica], e.Read[f.replica] = f.write, f.read
		if f.execWrite != 0 || f.execRead != 0 {
			if e.ExecWrite == nil {
				e.ExecWrite, e.ExecRead = make([]uint64, r.n), make([]uint64, r.n)
			}
			e.ExecWrite[f.replica], e.ExecRead[f.replica] = f.execWrite, f.execRead
		}
	}
	return e
}

// fromIndexEntry rebuilds a key's index entry from its persisted form,
// whose slices restore has checked to cover every replica.
func (r *Replica) fromIndexEntry(e IndexEntry) keyFacts {
	ki := &keyIndex{writeSeq: e.WriteSeq, readSeq: e.ReadSeq}
	for q := range e.Write {
		f := keyRow{replica: paxos.NodeID(q), write: e.Write[q], read: e.Read[q]}
		if e.ExecWrite != nil {
			f.execWrite, f.execRead = e.ExecWrite[q], e.ExecRead[q]
		}
		if f.write != 0 || f.read != 0 || f.execWrite != 0 || f.execRead != 0 {
			ki.rows = append(ki.rows, f)
		}
	}
	return r.pack(ki, 0)
}

func (r *Replica) restore(p *paxos.Persisted) error {
	if p.Snapshot != nil {
		snap, ok := p.Snapshot.(SnapshotRecord)
		if !ok {
			return fmt.Errorf("snapshot is %T, want epaxos.SnapshotRecord; was it written by another protocol?", p.Snapshot)
		}
		if len(snap.ExecUpTo) != r.n || len(snap.GCUpTo) != r.n {
			return fmt.Errorf("snapshot for %d replicas, cluster has %d", len(snap.ExecUpTo), r.n)
		}
		store, err := kv.ExecutorFromSnapshot(r.cfg, snap.Store)
		if err != nil {
			return err
		}
		r.store = store
		copy(r.execUpTo, snap.ExecUpTo)
		copy(r.gcUpTo, snap.GCUpTo)
		r.nextSlot = max(r.nextSlot, snap.NextSlot)
		r.rebuilt = r.rebuilt || snap.Rebuilt
		r.reserved = max(r.reserved, snap.Reserved)
		if err := r.floor.restore(snap.Floor, snap.GCUpTo); err != nil {
			return err
		}
		for k, e := range snap.Index {
			if len(e.Write) != r.n || len(e.Read) != r.n || (e.ExecWrite != nil && (len(e.ExecWrite) != r.n || len(e.ExecRead) != r.n)) {
				return fmt.Errorf("snapshot index entry for key %q does not cover %d replicas", k, r.n)
			}
			r.index.set(k, r.fromIndexEntry(e))
		}
		err = snap.Keys.each(func(k string, ki *keyIndex) error {
			for _, f := range ki.rows {
				if f.replica < 0 || int(f.replica) >= r.n {
					return fmt.Errorf("snapshot index entry for key %q names replica %d of a cluster of %d", k, f.replica, r.n)
				}
			}
			old, _ := r.index.get(k)
			r.index.set(k, r.pack(ki, old))
			return nil
		})
		if err != nil {
			return err
		}
		for _, rec := range snap.Instances {
			if err := r.applyRecord(rec); err != nil {
				return err
			}
		}
		for _, id := range snap.Executed {
			if int(id.Replica) < 0 || int(id.Replica) >= r.n {
				return fmt.Errorf("snapshot names instance %v outside the cluster", id)
			}
			if in := r.inst[id.Replica][id.Slot]; in != nil {
				in.executed = true
				delete(r.pendingExec, id)
			}
		}
	}
	for i, rec := range p.Records {
		if _, ok := rec.(RebuildRecord); ok {
			continue // read by rebuildMarkers
		}
		ir, ok := rec.(InstanceRecord)
		if !ok {
			return fmt.Errorf("record %d is %T, want epaxos.InstanceRecord", i, rec)
		}
		if err := r.applyRecord(ir); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
	}
	// Rebuild volatile state: the index, the open slots (creating the
	// unknown ones below the highest known), what awaits execution or
	// recovery.
	for q := 0; q < r.n; q++ {
		for s := r.gcUpTo[q] + 1; s <= r.maxSlot[q]; s++ {
			in := r.inst[q][s]
			if in == nil {
				in = &instance{id: paxos.Instance{Replica: paxos.NodeID(q), Slot: s}}
				r.inst[q][s] = in
			}
			if in.cmds != nil {
				r.indexAdd(in)
			}
			if in.status == StatusCommitted {
				r.reportDecided(in)
			}
			if in.executed {
				if !realCommands(in.cmds) {
					r.noteNop(q, s)
				}
				for i := range in.cmds {
					if c := &in.cmds[i]; !c.IsNop() {
						r.noteExecuted(in.id, c, s <= r.execUpTo[q])
					}
				}
				continue
			}
			r.open[q] = append(r.open[q], s)
			if in.status == StatusCommitted {
				r.pendingExec[in.id] = in
				r.candidates = append(r.candidates, in)
			} else {
				r.uncommitted[in.id] = in
				r.scheduleRecovery(in)
				if in.id.Replica == r.id {
					r.hold(in)
				}
			}
		}
	}
	return nil
}

func (r *Replica) applyRecord(rec InstanceRecord) error {
	id := rec.Inst
	if id.Replica < 0 || int(id.Replica) >= r.n || id.Slot == 0 {
		return fmt.Errorf("record of instance %v outside the cluster (N=%d)", id, r.n)
	}
	if (len(rec.Cmds) > 0 || rec.Status >= StatusPreAccepted) && len(rec.Deps) != r.n {
		return fmt.Errorf("record of instance %v has %d deps for %d replicas", id, len(rec.Deps), r.n)
	}
	if r.collected(id) {
		return nil
	}
	in := r.inst[id.Replica][id.Slot]
	if in == nil {
		in = &instance{id: id}
		r.inst[id.Replica][id.Slot] = in
		r.maxSlot[id.Replica] = max(r.maxSlot[id.Replica], id.Slot)
		if id.Replica == r.id {
			r.nextSlot = max(r.nextSlot, id.Slot+1)
		}
	}
	cmds := rec.Cmds
	if rec.Same {
		// The commands this replica held when it wrote the record: those
		// of the instance's earlier record, or of the snapshot.
		if in.cmds == nil {
			return fmt.Errorf("record of instance %v keeps the commands of an earlier record, and no earlier record or snapshot holds any; was the log truncated in the middle?", id)
		}
		cmds = in.cmds
	}
	// Every record counts in the index, not only an instance's latest: the
	// index must cover whatever it covered before the crash (rule 4a in
	// recovery.go), including commands since replaced by a Nop.
	if !r.opts.forgetOverwrittenKeys {
		r.indexCmds(id, cmds, rec.Seq)
	}
	if in.executed || in.status == StatusCommitted && rec.Status != StatusCommitted {
		return nil
	}
	in.status, in.bal, in.vbal, in.orig = rec.Status, rec.Ballot, rec.VBallot, rec.Orig
	in.cmds, in.seq, in.deps = slices.Clone(cmds), rec.Seq, slices.Clone(rec.Deps)
	return nil
}

// realCommands reports whether cmds is a command leader's batch rather than
// nothing or a recovery's Nop: such a batch is final up to becoming a Nop,
// while a Nop accepted by a recovery may still be replaced by the leader's
// command.
func realCommands(cmds []paxos.Command) bool {
	for i := range cmds {
		if !cmds[i].IsNop() {
			return true
		}
	}
	return false
}
