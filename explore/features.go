package explore

import (
	"fmt"
	"math/bits"
	"reflect"
	"slices"
	"strings"

	"github.com/paxos-lab/paxos"
)

// The search is guided by features, the way a coverage-guided fuzzer is
// guided by the branches its inputs reach. A feature is a named fact about
// the walk so far: an event that happened at least once (a coverage
// counter, a kind of restart, a stale copy, a Nop held by its leader), or
// a small count (1, 2, or 3 and more):
//
//   - the protocol's own coverage counters, summed over every replica and
//     incarnation (replicas that implement paxos.CoverageReporter: EPaxos
//     counts recoveries, TryPreAccepts, deferrals, uses of rules 3a and 4a,
//     Nops committed by recovery, refused messages);
//   - restarts, by what the replica held when it restarted, read from its
//     persisted records: a record of an instance that no replica has
//     decided yet, the replica's own or another's (it restarts after it
//     voted), or a record holding a Nop, its own instance's or another's
//     (it restarts after it learned that a command was replaced by a Nop);
//   - stale copies: an instance decided with one value while some replica
//     still holds a record with another (a Nop decided while a replica
//     holds the command, or the other way round), or with the same
//     command and other dependencies (a vote the decision did not use,
//     never updated), whether such a replica runs or is down, and the
//     most stale copies one replica holds;
//   - for each instance not decided yet, how many replicas hold a record
//     of it (a command that reached its leader and one more replica
//     only, say);
//   - how many replicas coordinated one instance (sent messages of one
//     type about it to two replicas or more: its leader, and recoverers),
//     the most over instances: competing recoveries;
//   - a replica holds a Nop for an instance it leads (its leader learned
//     that its command was replaced);
//   - how many instances were decided, how many as Nops, how many
//     commands without dependencies (Decision.Deps, EPaxos only), how
//     many commands were proposed, how many replicas are down.
//
// A cell is the set of features reached: a walk that reaches a new set
// has done something no walk did before (AFL's "new coverage"), and the
// archive keeps it. Walks restart from cells chosen by rarity (see
// archive.parent): a feature few cells have makes its cells likely picks,
// so a stage of a long scenario, once reached, is extended by many walks
// until the next stage adds a feature of its own. Everything here is read
// from what the contract exposes (records, decisions, coverage counters),
// with nothing specific to one protocol or one bug.

// recKey names a replica's latest record about an instance.
type recKey struct {
	replica int
	in      paxos.Instance
}

// kinds renders commands by their operations ("0" is a Nop): whether a
// replica holds a command, a Nop or nothing is what differs between
// replicas, not which command it is.
func kinds(cmds []paxos.Command) string {
	b := make([]byte, len(cmds))
	for i, c := range cmds {
		b[i] = byte(c.Op) + '0'
	}
	return string(b)
}

const nopKinds = "0"

// decision is what the features keep of an instance's first decision: its
// commands' kinds, and whether it names dependencies (EPaxos's Deps;
// other protocols have none).
type decision struct {
	kinds string
	deps  bool
}

func decisionOf(d paxos.Decision) decision {
	return decision{kinds: kinds(d.Commands), deps: slices.ContainsFunc(d.Deps, func(x uint64) bool { return x != 0 })}
}

var commandsType = reflect.TypeOf([]paxos.Command(nil))

// noteRecord updates what replica i holds about the instance rec names:
// the kinds of the commands of its latest record (records without commands
// leave it as it was).
func (w *world) noteRecord(i int, rec any) {
	if w.recs == nil {
		return // replaying: no guidance needed
	}
	in, ok := topicOf(rec)
	if !ok {
		return
	}
	w.shapes[recKey{i, in}] = recordShape(rec)
	v := reflect.ValueOf(rec)
	for f := 0; f < v.NumField(); f++ {
		if fv := v.Field(f); fv.Type() == commandsType {
			w.recs[recKey{i, in}] = kinds(fv.Interface().([]paxos.Command))
			w.recDeps[recKey{i, in}] = hasDeps(v)
			return
		}
	}
}

// hasDeps reports whether a record names dependencies: whether one of its
// integer slices holds anything but zeros (EPaxos's Deps).
func hasDeps(v reflect.Value) bool {
	for f := 0; f < v.NumField(); f++ {
		fv := v.Field(f)
		if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Uint64 {
			for i := 0; i < fv.Len(); i++ {
				if fv.Index(i).Uint() != 0 {
					return true
				}
			}
		}
	}
	return false
}

// forgetRecords forgets replica i's records: a snapshot replaced them.
func (w *world) forgetRecords(i int) {
	for k := range w.recs {
		if k.replica == i {
			delete(w.recs, k)
			delete(w.recDeps, k)
		}
	}
	for k := range w.shapes {
		if k.replica == i {
			delete(w.shapes, k)
		}
	}
}

// noteRestart counts the restart of replica i by what it holds.
func (w *world) noteRestart(i int) {
	if w.recs == nil {
		return
	}
	var got [4]bool
	for k, ks := range w.recs {
		if k.replica != i || ks == "" {
			continue
		}
		own := int(k.in.Replica) == i
		_, decided := w.decided[k.in]
		switch {
		case ks == nopKinds && own:
			got[0] = true
		case ks == nopKinds:
			got[1] = true
		case !decided && own:
			got[2] = true
		case !decided:
			got[3] = true
		}
	}
	for k, name := range [...]string{"restart/own-nop", "restart/nop", "restart/own-undecided", "restart/voted-undecided"} {
		if got[k] {
			w.events[name]++
		}
	}
}

// castKey names one replica's messages of one type about one instance.
type castKey struct {
	in   paxos.Instance
	from paxos.NodeID
	typ  reflect.Type
}

// noteSend records who broadcasts about which instance: a replica that
// sent messages of one type about an instance to two replicas or more
// coordinates it (leads it, or recovers it).
func (w *world) noteSend(m paxos.Message) {
	if w.recs == nil || m.From < 0 || m.From >= 64 || m.To < 0 || m.To >= 64 {
		return
	}
	in, ok := topicOf(m.Body)
	if !ok {
		return
	}
	k := castKey{in, m.From, reflect.TypeOf(m.Body)}
	to := w.casts[k] | 1<<uint(m.To)
	w.casts[k] = to
	if to&(to-1) != 0 {
		w.coords[in] |= 1 << uint(m.From)
	}
}

// noteCrash keeps the coverage of the incarnation that crashed.
func (w *world) noteCrash(r paxos.Replica) {
	if w.recs == nil {
		return
	}
	if cr, ok := r.(paxos.CoverageReporter); ok {
		w.deadCov.Add(cr.Coverage())
	}
}

// bucket maps a count to 1, 2 or 3 (3 or more).
func bucket(n uint64) int { return int(min(n, 3)) }

// features lists the features the walk has reached, sorted, each as
// "name=bucket".
func (w *world) features() []string {
	cov := paxos.Coverage{}
	cov.Add(w.deadCov)
	for _, r := range w.reps {
		if cr, ok := r.(paxos.CoverageReporter); ok && r != nil {
			cov.Add(cr.Coverage())
		}
	}
	var out []string
	add := func(name string, n uint64) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%s=%d", name, bucket(n)))
		}
	}
	// Events count once: how often a protocol recovered is noise; that
	// it recovered at all, in combination with the rest, is the news.
	for k, v := range cov {
		add("cov/"+k, min(v, 1))
	}
	for k, v := range w.events {
		add(k, uint64(min(v, 1)))
	}
	var nops, depFree, staleUp, staleDown, ownNop uint64
	stale := map[string]bool{}
	perHolder := map[int]uint64{} // stale copies per replica
	for _, d := range w.decided {
		switch {
		case d.kinds == nopKinds:
			nops++
		case !d.deps:
			depFree++
		}
	}
	for k, ks := range w.recs {
		if ks == nopKinds && int(k.in.Replica) == k.replica {
			ownNop++
		}
		d, ok := w.decided[k.in]
		dk := d.kinds
		if !ok || ks == "" || ks == dk && (dk == nopKinds || w.recDeps[k] == d.deps) {
			continue
		}
		switch {
		case dk == nopKinds:
			stale["stale/nop-decided"] = true
		case ks == dk:
			// The command decided, but its holder has other
			// dependencies than the decision (a vote from before
			// the decision, which the holder never learned).
			stale["stale/deps-decided"] = true
		default:
			stale["stale/value-decided"] = true
		}
		if w.reps[k.replica] != nil {
			staleUp++
		} else {
			staleDown++
		}
		perHolder[k.replica]++
	}
	holders := map[paxos.Instance]int{}
	for k, ks := range w.recs {
		if _, ok := w.decided[k.in]; !ok && ks != "" {
			holders[k.in]++
		}
	}
	for _, n := range holders {
		stale[fmt.Sprintf("undecided/holders=%d", n)] = true
	}
	// Decisions few replicas know: learned by one replica only, or by
	// none that runs now (whoever decided it went down before telling).
	for _, k := range w.knowers {
		if bits.OnesCount64(k) == 1 {
			stale["decided/one-knower"] = true
		}
		up := false
		for r := range w.reps {
			up = up || k&(1<<uint(r)) != 0 && w.reps[r] != nil
		}
		if !up {
			stale["decided/knowers-down"] = true
		}
	}
	for name := range stale {
		out = append(out, name)
	}
	coords := 0
	for _, c := range w.coords {
		coords = max(coords, bits.OnesCount64(c))
	}
	add("coordinators", uint64(coords))
	add("held/own-nop", min(ownNop, 1))
	add("stale/holder-up", min(staleUp, 1))
	add("stale/holder-down", min(staleDown, 1))
	most := uint64(0)
	for _, c := range perHolder {
		most = max(most, c)
	}
	add("stale/per-holder", most)
	add("decided", uint64(len(w.decided)))
	add("decided-nop", nops)
	add("decided-without-deps", depFree)
	add("proposed", uint64(sumProposed(w)))
	add("down", uint64(w.down))
	slices.Sort(out)
	return out
}

// cell is the archive's key for a feature set.
func cell(feats []string) uint64 { return strhash(strings.Join(feats, ",")) }

// cellOf is the archive's key for the walk's current position: its
// features and its abstract state (see shape).
func (w *world) cellOf(feats []string) uint64 { return mix(cell(feats) ^ strhash(w.shape())) }

// shape is the walk's abstract state, the same for states that differ
// only in the names of the replicas: for every instance some replica holds
// a record of, what each replica holds of it (the shape of its latest
// record: the kinds of its commands, its small enumerated and boolean
// fields, whether it names dependencies), whether each replica runs, and
// what was decided. Instances are ordered by a signature that does not
// depend on replica names (their slot, decision, their leader's record
// and the sorted records of the others), and replicas by their rows: a
// cheap canonical form that merges most relabelings (ties may keep two
// relabelings apart, which only splits a cell). Two states of one shape
// may still differ (ballots, sequence numbers, what is in flight), but a
// stage of a scenario (who holds a stale copy, who voted, who is down) is
// a shape of its own, so the archive keeps a schedule for each.
func (w *world) shape() string {
	if w.shapes == nil {
		return ""
	}
	n := len(w.reps)
	idx := map[paxos.Instance]int{}
	var insts []paxos.Instance
	addInst := func(in paxos.Instance) {
		if _, ok := idx[in]; !ok {
			idx[in] = len(insts)
			insts = append(insts, in)
		}
	}
	for k := range w.shapes {
		addInst(k.in)
	}
	for in := range w.decided {
		addInst(in)
	}
	if len(insts) == 0 {
		return w.upMask()
	}
	ent := make([][]string, len(insts)) // ent[instance][replica]
	for i := range ent {
		ent[i] = make([]string, n)
		for r := range ent[i] {
			ent[i][r] = "-"
		}
	}
	for k, s := range w.shapes {
		if k.replica < n {
			ent[idx[k.in]][k.replica] = s
		}
	}
	sig := make([]string, len(insts))
	for i, in := range insts {
		var others []string
		lead := "?"
		for r, e := range ent[i] {
			if r == int(in.Replica) {
				lead = e
			} else {
				others = append(others, e)
			}
		}
		slices.Sort(others)
		d, ok := w.decided[in]
		dec := "u"
		if ok {
			dec = fmt.Sprintf("%s/%t", d.kinds, d.deps)
		}
		sig[i] = fmt.Sprintf("%d:%s:%s:%s", in.Slot, dec, lead, strings.Join(others, ","))
	}
	order := make([]int, len(insts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(sig[a], sig[b]) })
	rows := make([]string, n)
	for r := 0; r < n; r++ {
		var b strings.Builder
		if w.reps[r] == nil {
			b.WriteString("down")
		}
		for _, i := range order {
			b.WriteByte('|')
			if int(insts[i].Replica) == r {
				b.WriteByte('L')
			}
			b.WriteString(ent[i][r])
		}
		rows[r] = b.String()
	}
	slices.Sort(rows)
	sorted := make([]string, len(order))
	for k, i := range order {
		sorted[k] = sig[i]
	}
	return strings.Join(sorted, ";") + "#" + strings.Join(rows, ";")
}

func (w *world) upMask() string {
	d := 0
	for _, r := range w.reps {
		if r == nil {
			d++
		}
	}
	return fmt.Sprintf("down=%d", d)
}

// recordShape abstracts a record: the kinds of its commands, the values of
// its boolean and small enumerated (8-bit) fields, and whether its integer
// slices (dependencies) hold anything but zeros. Ballots, sequence numbers
// and other wide values are left out.
func recordShape(rec any) string {
	v := reflect.ValueOf(rec)
	if v.Kind() != reflect.Struct {
		return ""
	}
	var b strings.Builder
	for f := 0; f < v.NumField(); f++ {
		fv := v.Field(f)
		switch {
		case fv.Type() == commandsType:
			b.WriteString("c")
			b.WriteString(kinds(fv.Interface().([]paxos.Command)))
		case fv.Kind() == reflect.Bool:
			if fv.Bool() {
				b.WriteString("t")
			} else {
				b.WriteString("f")
			}
		case fv.Kind() == reflect.Uint8:
			fmt.Fprintf(&b, "%d", fv.Uint())
		case fv.Kind() == reflect.Int8:
			fmt.Fprintf(&b, "%d", fv.Int())
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Uint64:
			nz := false
			for i := 0; i < fv.Len() && !nz; i++ {
				nz = fv.Index(i).Uint() != 0
			}
			if nz {
				b.WriteString("d")
			}
		}
		b.WriteByte('.')
	}
	return b.String()
}
