package check

import (
	"fmt"
	"sort"
	"strings"

	"github.com/paxos-lab/paxos"
)

// Learned is one decision a replica learned, as a driver observed it.
type Learned struct {
	Replica     paxos.NodeID
	Incarnation int
	Decision    paxos.Decision
}

// Applied is one command a replica executed, as a driver observed it.
type Applied struct {
	Replica     paxos.NodeID
	Incarnation int
	Exec        paxos.Execution
}

// fingerprint renders a decision's value (commands, seq, deps) canonically.
func fingerprint(d paxos.Decision) string {
	var b strings.Builder
	for _, c := range d.Commands {
		fmt.Fprintf(&b, "%d.%d:%s:%q=%q;", c.Client, c.Seq, c.Op, c.Key, c.Value)
	}
	if d.Seq != 0 || d.Deps != nil {
		fmt.Fprintf(&b, " seq=%d deps=%v", d.Seq, d.Deps)
	}
	return b.String()
}

// OneValuePerInstance checks that no two replicas (or incarnations) learned
// different values — commands, and for EPaxos seq and deps — for one
// instance. It returns one message per violating instance.
func OneValuePerInstance(learned []Learned) []string {
	type first struct {
		fp  string
		who Learned
	}
	seen := map[paxos.Instance]first{}
	bad := map[paxos.Instance]string{}
	var order []paxos.Instance
	for _, l := range learned {
		fp := fingerprint(l.Decision)
		f, ok := seen[l.Decision.Instance]
		if !ok {
			seen[l.Decision.Instance] = first{fp, l}
			continue
		}
		if f.fp != fp {
			if _, dup := bad[l.Decision.Instance]; !dup {
				order = append(order, l.Decision.Instance)
				bad[l.Decision.Instance] = fmt.Sprintf("instance %d.%d decided twice: replica %d learned [%s], replica %d learned [%s]",
					l.Decision.Instance.Replica, l.Decision.Instance.Slot, f.who.Replica, f.fp, l.Replica, fp)
			}
		}
	}
	out := make([]string, 0, len(order))
	for _, in := range order {
		out = append(out, bad[in])
	}
	return out
}

// DependenciesBetweenConflicts checks EPaxos's ordering invariant: of any two
// committed instances holding interfering commands, at least one depends on
// the other. Decisions without Deps (non-EPaxos) are ignored.
func DependenciesBetweenConflicts(learned []Learned) []string {
	uniq := map[paxos.Instance]paxos.Decision{}
	for _, l := range learned {
		if l.Decision.Deps == nil {
			continue
		}
		if _, ok := uniq[l.Decision.Instance]; !ok {
			uniq[l.Decision.Instance] = l.Decision
		}
	}
	// Group instances by key so only candidates are compared.
	byKey := map[string][]paxos.Instance{}
	for in, d := range uniq {
		keys := map[string]bool{}
		for _, c := range d.Commands {
			if !c.IsNop() && !keys[c.Key] {
				keys[c.Key] = true
				byKey[c.Key] = append(byKey[c.Key], in)
			}
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	reported := map[[2]paxos.Instance]bool{}
	var out []string
	for _, k := range keys {
		ins := byKey[k]
		sort.Slice(ins, func(i, j int) bool { return instLess(ins[i], ins[j]) })
		for i := range ins {
			for j := i + 1; j < len(ins); j++ {
				a, b := uniq[ins[i]], uniq[ins[j]]
				if !paxos.BatchesInterfere(a.Commands, b.Commands) || reported[[2]paxos.Instance{ins[i], ins[j]}] {
					continue
				}
				if dependsOn(a, ins[j]) || dependsOn(b, ins[i]) {
					continue
				}
				reported[[2]paxos.Instance{ins[i], ins[j]}] = true
				out = append(out, fmt.Sprintf("interfering instances %d.%d (deps %v) and %d.%d (deps %v) do not depend on each other",
					ins[i].Replica, ins[i].Slot, a.Deps, ins[j].Replica, ins[j].Slot, b.Deps))
			}
		}
	}
	return out
}

func instLess(a, b paxos.Instance) bool {
	if a.Replica != b.Replica {
		return a.Replica < b.Replica
	}
	return a.Slot < b.Slot
}

func dependsOn(d paxos.Decision, on paxos.Instance) bool {
	r := int(on.Replica)
	return r < len(d.Deps) && d.Deps[r] >= on.Slot
}

// allWrites groups the application writes that name no keys.
const allWrites = "(application writes on everything)"

// ExecutionAgrees checks that every replica incarnation executed each
// command at most once, and that all of them applied the writes to each key
// in the same order. A replica that started from or installed a snapshot
// skipped some writes, so sequences are compared on the writes they share.
func ExecutionAgrees(applied []Applied) []string {
	type inc struct {
		r paxos.NodeID
		i int
	}
	writes := map[string]map[inc][]paxos.CommandID{}
	once := map[inc]map[paxos.CommandID]bool{}
	everyKey := []string{allWrites}
	seen := map[string]bool{}
	for _, a := range applied {
		if ks, all := a.Exec.Command.ConflictKeys(); !all && a.Exec.Command.Writes() {
			for _, k := range ks {
				if !seen[k] {
					seen[k] = true
					everyKey = append(everyKey, k)
				}
			}
		}
	}
	var out []string
	for _, a := range applied {
		e := a.Exec
		if e.Duplicate || e.LocalRead || e.Command.IsNop() {
			continue
		}
		who := inc{a.Replica, a.Incarnation}
		if once[who] == nil {
			once[who] = map[paxos.CommandID]bool{}
		}
		id := e.Command.ID()
		if once[who][id] {
			out = append(out, fmt.Sprintf("replica %d (incarnation %d) executed command %d.%d twice", a.Replica, a.Incarnation, id.Client, id.Seq))
			continue
		}
		once[who][id] = true
		if !e.Command.Writes() {
			continue
		}
		// An application command is ordered under each key it names; one
		// that names none touches everything: under every key, and under
		// allWrites with the others like it.
		keys, all := e.Command.ConflictKeys()
		if all {
			keys = everyKey
		}
		for _, k := range keys {
			if writes[k] == nil {
				writes[k] = map[inc][]paxos.CommandID{}
			}
			writes[k][who] = append(writes[k][who], id)
		}
	}
	keys := make([]string, 0, len(writes))
	for k := range writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		seqs := writes[k]
		incs := make([]inc, 0, len(seqs))
		for w := range seqs {
			incs = append(incs, w)
		}
		sort.Slice(incs, func(i, j int) bool {
			if len(seqs[incs[i]]) != len(seqs[incs[j]]) {
				return len(seqs[incs[i]]) > len(seqs[incs[j]])
			}
			if incs[i].r != incs[j].r {
				return incs[i].r < incs[j].r
			}
			return incs[i].i < incs[j].i
		})
		ref := seqs[incs[0]]
		for _, w := range incs[1:] {
			if msg := agree(ref, seqs[w]); msg != "" {
				out = append(out, fmt.Sprintf("key %q: replica %d (incarnation %d) and replica %d (incarnation %d) applied writes in different orders: %s",
					k, incs[0].r, incs[0].i, w.r, w.i, msg))
			}
		}
	}
	return out
}

// agree checks that the writes a and b have in common appear in the same
// relative order. Gaps are allowed: a replica that installed a snapshot, or
// restarted from one, skips the writes the snapshot covers.
func agree(a, b []paxos.CommandID) string {
	pos := make(map[paxos.CommandID]int, len(a))
	for i, x := range a {
		pos[x] = i
	}
	last, lastID := -1, paxos.CommandID{}
	for _, x := range b {
		i, ok := pos[x]
		if !ok {
			continue
		}
		if i < last {
			return fmt.Sprintf("write %d.%d comes before %d.%d in one and after it in the other", x.Client, x.Seq, lastID.Client, lastID.Seq)
		}
		last, lastID = i, x
	}
	return ""
}
