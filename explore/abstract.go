package explore

import (
	"fmt"
	"hash/maphash"
	"reflect"
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

// setAbs sets an entry, keeping the cell (a hash of the whole abstract
// state) up to date.
func (w *world) setAbs(k absKey, v uint64) {
	old, ok := w.abs[k]
	if ok && old == v {
		return
	}
	kh := mix(uint64(k.replica)*0x100000001b3 ^ k.topic)
	if ok {
		w.cell ^= mix(kh ^ mix(old))
	}
	w.abs[k] = v
	w.cell ^= mix(kh ^ mix(v))
}

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
	if v.Kind() == reflect.Struct {
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		for f := 0; f < c.NumField(); f++ {
			if fv := c.Field(f); fv.CanSet() && !coarseKeeps(fv) {
				fv.SetZero()
			}
		}
		v = c
	}
	w.setAbs(absKey{i, topic}, maphash.String(w.hs, fmt.Sprintf("%+v", v.Interface())))
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
			w.cell ^= mix(mix(uint64(k.replica)*0x100000001b3^k.topic) ^ mix(w.abs[k]))
			delete(w.abs, k)
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
