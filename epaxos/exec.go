package epaxos

import (
	"fmt"
	"slices"
	"sort"

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

type tarjan struct {
	r       *Replica
	counter int
	index   map[*instance]int
	low     map[*instance]int
	onStack map[*instance]bool
	failed  map[*instance]bool
	stack   []*instance
}

// execute runs whatever has become executable. It never waits: an instance
// with an uncommitted dependency stays pending, and the dependency is
// recovered by the timers if it stays uncommitted.
func (r *Replica) execute() {
	if !r.execDirty || len(r.pendingExec) == 0 {
		r.execDirty = false
		return
	}
	r.execDirty = false
	roots := make([]*instance, 0, len(r.pendingExec))
	for _, in := range r.pendingExec {
		roots = append(roots, in)
	}
	sort.Slice(roots, func(i, j int) bool {
		a, b := roots[i].id, roots[j].id
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		return a.Replica < b.Replica
	})
	t := &tarjan{r: r, index: map[*instance]int{}, low: map[*instance]int{}, onStack: map[*instance]bool{}, failed: map[*instance]bool{}}
	for _, in := range roots {
		if in.executed {
			continue
		}
		if _, seen := t.index[in]; seen {
			continue
		}
		t.visit(in)
	}
}

// edges calls fn for every instance v must not execute before (or that
// blocks v, when not committed). It returns false when fn asks to stop.
func (t *tarjan) deps(v *instance, fn func(w *instance) bool) bool {
	r := t.r
	for q := 0; q < r.n; q++ {
		hi := v.deps[q]
		for s := max(r.execUpTo[q], r.gcUpTo[q]) + 1; s <= hi; s++ {
			id := paxos.Instance{Replica: paxos.NodeID(q), Slot: s}
			if id == v.id {
				continue
			}
			w := r.inst[q][s]
			if w == nil {
				w = r.get(id) // unknown: wait for it, recover it if it stays so
				if w == nil {
					continue
				}
			}
			if w.executed {
				continue
			}
			if w.status != StatusCommitted {
				if realCommands(w.cmds) && !interferes(v.cmds, w.cmds) {
					continue // its command is fixed (or becomes a Nop): no edge
				}
				if !fn(w) {
					return false
				}
				continue
			}
			if !interferes(v.cmds, w.cmds) {
				continue
			}
			if w.deps[v.id.Replica] >= v.id.Slot && less(v, w) {
				continue // EPaxos Revisited: W runs after V regardless
			}
			if !fn(w) {
				return false
			}
		}
	}
	return true
}

func (t *tarjan) visit(v *instance) {
	t.index[v] = t.counter
	t.low[v] = t.counter
	t.counter++
	t.stack = append(t.stack, v)
	t.onStack[v] = true
	t.deps(v, func(w *instance) bool {
		if w.status != StatusCommitted {
			t.failed[v] = true
			return false
		}
		if _, seen := t.index[w]; !seen {
			t.visit(w)
			if t.failed[w] {
				t.failed[v] = true
				return false
			}
			t.low[v] = min(t.low[v], t.low[w])
		} else if t.onStack[w] {
			t.low[v] = min(t.low[v], t.index[w])
		} else if t.failed[w] {
			t.failed[v] = true
			return false
		}
		return true
	})
	if t.low[v] != t.index[v] && !t.failed[v] {
		return
	}
	if t.failed[v] && t.low[v] != t.index[v] {
		// v fails; its component's root will find out when it pops.
		return
	}
	// v is a component root: pop the component.
	i := len(t.stack) - 1
	for t.stack[i] != v {
		i--
	}
	comp := slices.Clone(t.stack[i:])
	t.stack = t.stack[:i]
	bad := false
	for _, w := range comp {
		t.onStack[w] = false
		if t.failed[w] {
			bad = true
		}
	}
	if bad {
		for _, w := range comp {
			t.failed[w] = true
		}
		return
	}
	sort.Slice(comp, func(i, j int) bool { return less(comp[i], comp[j]) })
	for _, w := range comp {
		t.r.apply(w)
	}
}

// apply executes one committed instance.
func (r *Replica) apply(in *instance) {
	for _, c := range in.cmds {
		if c.IsNop() {
			continue
		}
		ex := r.store.Apply(c)
		r.ready.Executed = append(r.ready.Executed, ex)
		ki := r.key(c.Key)
		if ki.execWrite == nil {
			ki.execWrite, ki.execRead = make([]uint64, r.n), make([]uint64, r.n)
		}
		q := in.id.Replica
		if c.Writes() {
			ki.execWrite[q] = max(ki.execWrite[q], in.id.Slot)
		} else {
			ki.execRead[q] = max(ki.execRead[q], in.id.Slot)
		}
	}
	in.executed = true
	delete(r.pendingExec, in.id)
	r.stats.Executed++
	r.sinceSnap++
	q := in.id.Replica
	for {
		next := r.inst[q][r.execUpTo[q]+1]
		if next == nil || !next.executed {
			break
		}
		r.execUpTo[q]++
	}
}

// ---- snapshots and restore ----

func (r *Replica) snapshot() SnapshotRecord {
	snap := SnapshotRecord{Store: r.store.Snapshot(), ExecUpTo: slices.Clone(r.execUpTo), GCUpTo: slices.Clone(r.gcUpTo), NextSlot: r.nextSlot}
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

func (r *Replica) restore(p *paxos.Persisted) error {
	if p.Snapshot != nil {
		snap, ok := p.Snapshot.(SnapshotRecord)
		if !ok {
			return fmt.Errorf("snapshot is %T, want epaxos.SnapshotRecord; was it written by another protocol?", p.Snapshot)
		}
		if len(snap.ExecUpTo) != r.n || len(snap.GCUpTo) != r.n {
			return fmt.Errorf("snapshot for %d replicas, cluster has %d", len(snap.ExecUpTo), r.n)
		}
		r.store = kv.FromSnapshot(snap.Store)
		copy(r.execUpTo, snap.ExecUpTo)
		copy(r.gcUpTo, snap.GCUpTo)
		r.nextSlot = max(r.nextSlot, snap.NextSlot)
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
		ir, ok := rec.(InstanceRecord)
		if !ok {
			return fmt.Errorf("record %d is %T, want epaxos.InstanceRecord", i, rec)
		}
		if err := r.applyRecord(ir); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
	}
	// Rebuild volatile state: the index, what awaits execution or recovery.
	for q := 0; q < r.n; q++ {
		for _, in := range r.inst[q] {
			if in.cmds != nil {
				r.indexAdd(in)
			}
			if in.status == StatusCommitted {
				r.reportDecided(in)
			}
			if in.executed {
				for _, c := range in.cmds {
					if c.IsNop() {
						continue
					}
					ki := r.key(c.Key)
					if ki.execWrite == nil {
						ki.execWrite, ki.execRead = make([]uint64, r.n), make([]uint64, r.n)
					}
					if c.Writes() {
						ki.execWrite[q] = max(ki.execWrite[q], in.id.Slot)
					} else {
						ki.execRead[q] = max(ki.execRead[q], in.id.Slot)
					}
				}
				continue
			}
			if in.status == StatusCommitted {
				r.pendingExec[in.id] = in
			} else {
				r.uncommitted[in.id] = in
				r.scheduleRecovery(in)
			}
		}
	}
	r.execDirty = true
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
	if r.gcd(id) {
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
	if in.executed || in.status == StatusCommitted && rec.Status != StatusCommitted {
		return nil
	}
	in.status, in.bal, in.vbal, in.orig = rec.Status, rec.Ballot, rec.VBallot, rec.Orig
	in.cmds, in.seq, in.deps = slices.Clone(rec.Cmds), rec.Seq, slices.Clone(rec.Deps)
	return nil
}

// realCommands reports whether cmds is a command leader's batch rather than
// nothing or a recovery's Nop: such a batch is final up to becoming a Nop,
// while a Nop accepted by a recovery may still be replaced by the leader's
// command.
func realCommands(cmds []paxos.Command) bool {
	for _, c := range cmds {
		if !c.IsNop() {
			return true
		}
	}
	return false
}
