package replicatest

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/paxos-lab/paxos"
)

// A Filter picks messages: to deliver, drop, duplicate or lose.
type Filter func(paxos.Message) bool

// Is matches messages whose body is a T.
func Is[T any](m paxos.Message) bool { _, ok := m.Body.(T); return ok }

// From matches messages sent by any of ids.
func From(ids ...int) Filter {
	return func(m paxos.Message) bool { return slices.Contains(ids, int(m.From)) }
}

// To matches messages addressed to any of ids.
func To(ids ...int) Filter {
	return func(m paxos.Message) bool { return slices.Contains(ids, int(m.To)) }
}

// And matches messages every filter matches.
func And(fs ...Filter) Filter {
	return func(m paxos.Message) bool {
		for _, f := range fs {
			if !f(m) {
				return false
			}
		}
		return true
	}
}

// Or matches messages any filter matches.
func Or(fs ...Filter) Filter {
	return func(m paxos.Message) bool {
		for _, f := range fs {
			if f(m) {
				return true
			}
		}
		return false
	}
}

// Not matches messages f does not.
func Not(f Filter) Filter { return func(m paxos.Message) bool { return !f(m) } }

// Types maps message bodies to the names they are registered under with
// the codec (paxos.Register), and short names back to bodies, for one
// protocol: "PreAccept" means "epaxos.PreAccept" when the protocol's
// prefix is "epaxos".
type Types struct {
	prefix string
	byType map[reflect.Type]string
	byName map[string]reflect.Type
}

// NewTypes reads the codec registry. prefix is the protocol's part of the
// registered names ("basic", "multi", "epaxos", ...); it may be empty
// when every name is given in full.
func NewTypes(prefix string) *Types {
	ts := &Types{prefix: prefix, byType: map[reflect.Type]string{}, byName: map[string]reflect.Type{}}
	for name, zero := range paxos.RegisteredTypes() {
		t := reflect.TypeOf(zero)
		ts.byType[t] = name
		ts.byName[name] = t
	}
	return ts
}

// PrefixOf guesses a replica's registered-name prefix from its Go package:
// the last element of the package path of its type.
func PrefixOf(r paxos.Replica) string {
	t := reflect.TypeOf(r)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	p := t.PkgPath()
	return p[strings.LastIndex(p, "/")+1:]
}

// Name returns the name m's body is registered under, without the
// protocol's prefix.
func (ts *Types) Name(m paxos.Message) string {
	name, ok := ts.byType[reflect.TypeOf(m.Body)]
	if !ok {
		return fmt.Sprintf("%T", m.Body)
	}
	if short, ok := strings.CutPrefix(name, ts.prefix+"."); ok && ts.prefix != "" {
		return short
	}
	return name
}

// Named returns a filter for the message type registered as name, or as
// prefix.name; "*" matches every message.
func (ts *Types) Named(name string) (Filter, error) {
	if name == "*" {
		return func(paxos.Message) bool { return true }, nil
	}
	t, ok := ts.byName[name]
	if !ok && ts.prefix != "" {
		t, ok = ts.byName[ts.prefix+"."+name]
	}
	if !ok {
		var known []string
		for n := range ts.byName {
			if ts.prefix == "" || strings.HasPrefix(n, ts.prefix+".") {
				known = append(known, strings.TrimPrefix(n, ts.prefix+"."))
			}
		}
		sort.Strings(known)
		return nil, fmt.Errorf("no message type %q is registered with the codec; known: %s", name, strings.Join(known, " "))
	}
	return func(m paxos.Message) bool { return reflect.TypeOf(m.Body) == t }, nil
}
