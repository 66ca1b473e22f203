package explore

import (
	"fmt"
	"hash/maphash"
	"reflect"
	"slices"

	"github.com/paxos-lab/paxos"
)

// The search is guided by an abstraction of the state, built only from
// what the contract exposes: the records each replica persists. A record
// whose type has a paxos.Instance field is about that instance; the
// abstract state maps (replica, instance) to the content of the latest
// such record (for a record without an instance, the key is its type),
// wide integers left out (see coarseKeeps). A replica's incarnation (0,
// 1, 2, 3 or more) and whether it runs are two more entries. A cell is
// the hash of the whole abstract state: "replica 4 holds instance 1.1
// pre-accepted with its leader's attributes, replicas 0, 2 and 3 hold it
// committed as a Nop, replica 1 restarted twice, ...". Explore keeps, for
// every cell reached, a schedule that reaches it, and starts most walks
// from a cell chosen seldom so far (see archive).

// absKey names an entry of the abstract state.
type absKey struct {
	replica int
	topic   uint64
}

const (
	topicInc = iota + 1 // the replica's incarnation, capped at 3
	topicUp             // whether the replica runs
)

// setAbs sets an entry.
func (w *world) setAbs(k absKey, v uint64) { w.abs[k] = v }

// absRecord updates the abstract state for a record replica i persisted.
func (w *world) absRecord(i int, rec any) {
	if w.abs == nil {
		return // replaying: no guidance needed
	}
	v := reflect.ValueOf(rec)
	topic := maphash.String(w.hs, v.Type().String())
	if in, ok := topicOf(rec); ok {
		topic = mix(topic ^ mix(uint64(in.Replica)<<32|in.Slot))
	}
	// The value: the kept fields, with commands reduced to their kinds
	// (which command an instance holds is fixed by its leader; whether it
	// holds one, a Nop or nothing is what differs between replicas).
	var b, cb []byte
	if v.Kind() == reflect.Struct {
		for f := 0; f < v.NumField(); f++ {
			fv := v.Field(f)
			switch {
			case fv.Type() == commandsType:
				cb = cb[:0]
				for _, c := range fv.Interface().([]paxos.Command) {
					cb = append(cb, byte(c.Op)+'0')
				}
				b = append(append(b, cb...), ';')
			case coarseKeeps(fv):
				b = fmt.Appendf(b, "%v;", fv.Interface())
			}
		}
	} else {
		b = fmt.Appendf(b, "%v", rec)
	}
	k := absKey{i, topic}
	w.content[k] = maphash.Bytes(w.hs, cb)
	w.setAbs(k, maphash.Bytes(w.hs, b))
}

var commandsType = reflect.TypeOf([]paxos.Command(nil))

// symCell is the cell: a coarse summary of the abstract state, blind to
// which replica or instance is which. Each instance contributes the set of
// values the replicas hold for it (so "committed as a Nop somewhere, held
// with its command elsewhere" is one situation however many replicas are
// on each side), and the cell adds how many restarts happened (up to 3)
// and how many replicas are down. Go-explore needs cells this coarse: an
// archive of a few thousand cells lets its selection find the rare ones
// again; a finer abstraction grows by tens of thousands of cells a minute.
func (w *world) symCell() uint64 {
	restarts, down := uint64(0), uint64(0)
	per := map[uint64][]uint64{}
	for k, v := range w.abs {
		switch k.topic {
		case topicInc:
			restarts += v
		case topicUp:
			if v == 0 {
				down++
			}
		default:
			if !slices.Contains(per[k.topic], v) {
				per[k.topic] = append(per[k.topic], v)
			}
		}
	}
	all := make([]uint64, 0, len(per))
	for _, xs := range per {
		slices.Sort(xs)
		all = append(all, hashAll(xs))
	}
	slices.Sort(all)
	all = slices.Compact(all)
	return mix(hashAll(all) ^ mix(min(restarts, 3)<<8|down))
}

func hashAll(xs []uint64) uint64 {
	h := uint64(len(xs))
	for _, x := range xs {
		h = mix(h*0x100000001b3 ^ x)
	}
	return h
}

// score rates the abstract state for the archive: how much the replicas
// disagree. Per instance, each value (a command, a Nop, nothing) beyond
// the first that some replica holds counts 3, and each state beyond the
// first 1; each restart counts 1 (up to 2 per replica). A command
// committed as a Nop at some replicas while another still holds it, or
// held with different attributes, scores high: the situations where
// safety bugs hide.
func (w *world) score() int {
	type seen struct{ full, content map[uint64]bool }
	by := map[uint64]*seen{}
	sc := 0
	for k, v := range w.abs {
		if k.topic == topicInc {
			sc += int(min(v, 2))
			continue
		}
		if k.topic == topicUp {
			continue
		}
		s := by[k.topic]
		if s == nil {
			s = &seen{map[uint64]bool{}, map[uint64]bool{}}
			by[k.topic] = s
		}
		s.full[v] = true
		s.content[w.content[k]] = true
	}
	for _, s := range by {
		sc += 3*(len(s.content)-1) + len(s.full) - 1
	}
	return sc
}

// coarseKeeps reports whether the abstraction keeps a record field:
// booleans, small integers (statuses, kinds), strings and slices of structs
// (the commands) stay; wide integers (ballots, sequence numbers, slots)
// and integer slices (dependencies) go, so that the abstract state has few
// values and a new pair of them means a new situation, not a new number.
func coarseKeeps(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Bool, reflect.Uint8, reflect.Int8, reflect.String:
		return true
	case reflect.Slice:
		return v.Type().Elem().Kind() == reflect.Struct
	}
	return false
}

// absSnapshot forgets replica i's record entries: a snapshot replaced them.
func (w *world) absSnapshot(i int) {
	if w.abs == nil {
		return
	}
	for k := range w.abs {
		if k.replica == i && k.topic != topicInc && k.topic != topicUp {
			delete(w.abs, k)
			delete(w.content, k)
		}
	}
}

// absLife updates replica i's incarnation and liveness entries.
func (w *world) absLife(i int) {
	if w.abs == nil {
		return
	}
	w.setAbs(absKey{i, topicInc}, uint64(min(w.inc[i], 3)))
	up := uint64(0)
	if w.reps[i] != nil {
		up = 1
	}
	w.setAbs(absKey{i, topicUp}, up)
}
