// Package fuzzin turns a fuzzer's bytes into replica inputs: message bodies
// of a protocol's registered types with arbitrary fields, senders, client
// commands and choices. It also checks that a replica's Ready is well formed.
// The protocols' fuzz targets (FuzzStep in basic, multi and epaxos;
// FuzzHonest in protocols) share it.
//
// Numbers are biased toward what finds bugs in consensus code: small values
// (slots and rounds near a fresh replica's state), the edges of the types,
// and the far-ahead slots of the forged messages the input bounds are for.
package fuzzin

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/paxos-lab/paxos"
)

// Input reads choices from fuzz bytes; once they run out every choice is
// zero.
type Input struct {
	b []byte
}

// New returns an Input reading data.
func New(data []byte) *Input { return &Input{b: data} }

// Done reports whether every byte was read.
func (in *Input) Done() bool { return len(in.b) == 0 }

// Byte returns the next byte (0 when exhausted).
func (in *Input) Byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

// Intn returns a choice in 0..n-1 (0 when n < 1).
func (in *Input) Intn(n int) int {
	if n < 1 {
		return 0
	}
	if n <= 256 {
		return int(in.Byte()) % n
	}
	return int((uint16(in.Byte())<<8 | uint16(in.Byte()))) % n
}

// Cluster returns a cluster size, 3 or 5, and whether the replica under
// test starts rebuilding after a lost disk (paxos.Config.Rebuild), for one
// input in eight. Both come from one byte whose low bit picks the size as
// Intn(2) did before, so a corpus entry written before keeps its meaning
// unless its first byte is 0xE0 or more.
func (in *Input) Cluster() (n int, rebuild bool) {
	c := in.Byte()
	return 3 + 2*int(c%2), c >= 0xE0
}

// AddCapped returns a+b, or the largest uint64 when the sum overflows: a
// limit a fuzz target derives from a replica's horizon (which is itself
// capped at 2^64-1) must not wrap around to a small number.
func AddCapped(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}

// Bool returns a choice.
func (in *Input) Bool() bool { return in.Byte()&1 == 1 }

// special are the uint64 values a forged message likes.
var special = []uint64{math.MaxUint64, math.MaxUint64 - 1, 1 << 63, 1 << 40, 1<<40 + 1, 4_000_000, 200_000, 1 << 32, 1000, 4097}

// Uint64 returns a number: small (0..15) most often, then up to 65535, then
// one of the edge values.
func (in *Input) Uint64() uint64 {
	switch c := in.Byte(); {
	case c < 160:
		return uint64(c % 16)
	case c < 224:
		return uint64(in.Byte())<<8 | uint64(in.Byte())
	default:
		return special[int(c-224)%len(special)]
	}
}

// Int returns a small signed number (-2..13), or an edge value now and then.
func (in *Input) Int() int64 {
	switch c := in.Byte(); {
	case c < 240:
		return int64(c%16) - 2
	case c < 248:
		return math.MaxInt32
	default:
		return math.MinInt32
	}
}

// Node returns a sender: a replica of 0..n-1 most often, or an id outside.
func (in *Input) Node(n int) paxos.NodeID {
	c := in.Byte()
	if c < 240 {
		return paxos.NodeID(int(c) % n)
	}
	return paxos.NodeID(int(c%4) - 2 + n*int(c%2))
}

// Command returns a client command over a few keys.
func (in *Input) Command() paxos.Command {
	c := paxos.Command{Client: uint64(in.Intn(4)), Seq: uint64(in.Intn(8)) + 1, Op: paxos.Op(in.Intn(4)),
		Key: fmt.Sprint("k", in.Intn(3))}
	if c.Op == paxos.OpPut {
		c.Value = fmt.Sprint("v", in.Byte())
	}
	return c
}

// Samples returns a sample of every type registered with the codec under a
// name starting with prefix (e.g. "multi."), by name.
func Samples(prefix string) []any {
	var names []string
	reg := paxos.RegisteredTypes()
	for name := range reg {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := make([]any, len(names))
	for i, name := range names {
		out[i] = reg[name]
	}
	return out
}

// Message returns a value of one of the sample types, its fields filled
// from the input.
func (in *Input) Message(samples []any) any {
	t := reflect.TypeOf(samples[in.Intn(len(samples))])
	v := reflect.New(t).Elem()
	in.fill(v, 0)
	return v.Interface()
}

// MaxLen is the most elements a slice of a Message holds.
const MaxLen = 4

// maxDepth bounds how deep fill goes into nested structures.
const maxDepth = 4

func (in *Input) fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(in.Bool())
	case reflect.Uint8:
		v.SetUint(uint64(in.Byte() % 5)) // statuses, ops, phases: small enums
	case reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		v.SetUint(in.Uint64())
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		v.SetInt(in.Int())
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(in.Byte()))
	case reflect.String:
		v.SetString(fmt.Sprint("k", in.Intn(3)))
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(paxos.Command{}) {
			v.Set(reflect.ValueOf(in.Command()))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				in.fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		if depth > maxDepth {
			return
		}
		n := in.Intn(MaxLen + 1)
		if n == 0 && in.Bool() {
			return // nil
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			in.fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		if depth > maxDepth {
			return
		}
		n := in.Intn(3)
		m := reflect.MakeMapWithSize(v.Type(), n)
		for i := 0; i < n; i++ {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			in.fill(k, depth+1)
			in.fill(e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		if depth > maxDepth || !in.Bool() {
			return
		}
		p := reflect.New(v.Type().Elem())
		in.fill(p.Elem(), depth+1)
		v.Set(p)
	}
	// Interfaces, channels and functions stay zero.
}

// CheckReady reports what is malformed in a Ready of replica id in a
// cluster of n replicas whose batches hold at most batch commands: a
// message not from id, to no other replica, with no body or one the codec
// cannot carry (one message of each type is encoded); a decision of slot 0, of an instance of no replica, without
// commands or with more than a batch, or with deps not for n replicas.
func CheckReady(rd paxos.Ready, id paxos.NodeID, n, batch int) error {
	encoded := map[reflect.Type]bool{} // one encoding per type is enough: a leader may send thousands
	for _, m := range rd.Messages {
		if m.From != id || m.To < 0 || int(m.To) >= n || m.To == id || m.Body == nil {
			return fmt.Errorf("replica %d sends %T from %d to %d in a cluster of %d", id, m.Body, m.From, m.To, n)
		}
		if t := reflect.TypeOf(m.Body); !encoded[t] {
			encoded[t] = true
			if _, err := paxos.EncodeMessage(m); err != nil {
				return fmt.Errorf("replica %d sends a message the codec cannot carry: %w", id, err)
			}
		}
	}
	for _, d := range rd.Decided {
		if d.Instance.Slot == 0 || d.Instance.Replica < 0 || int(d.Instance.Replica) >= n {
			return fmt.Errorf("replica %d decided instance %v in a cluster of %d", id, d.Instance, n)
		}
		if len(d.Commands) == 0 || len(d.Commands) > batch {
			return fmt.Errorf("replica %d decided %d commands for %v, batches hold 1..%d", id, len(d.Commands), d.Instance, batch)
		}
		if d.Deps != nil && len(d.Deps) != n {
			return fmt.Errorf("replica %d decided %v with %d deps for %d replicas", id, d.Instance, len(d.Deps), n)
		}
	}
	for i, p := range rd.Persist {
		if p == nil {
			return fmt.Errorf("replica %d persists a nil record at %d", id, i)
		}
	}
	return nil
}

// AddSeeds adds a few inputs to start a corpus from to f (a *testing.F).
func AddSeeds(f interface{ Add(args ...any) }) {
	for _, s := range [][]byte{
		{},
		{0, 1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		{1, 1, 1, 0, 1, 1, 2, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7, 0, 240, 1},
		[]byte("\x00\x02\x01\x05\x02\x01\xe5\x01\x00\x02\x04\x01\x01\x00\x06\x00\x03\x02\x02\xf0"),
	} {
		f.Add(s)
	}
}

// Drive feeds replica r, replica id of a cluster of n whose batches hold at
// most batch commands, up to maxSteps inputs read from in: a Tick, a
// Propose, or (most often) a message of one of the sample types with
// arbitrary fields from an arbitrary sender (now and then addressed to
// another replica). After each input it collects the Ready and checks it
// is well formed (CheckReady), then calls check. Before each input it
// calls before, if set. A Step error that does not wrap paxos.ErrMalformed,
// a malformed Ready or an error from check ends the run with that error.
func (in *Input) Drive(r paxos.Replica, n, batch, maxSteps int, samples []any, before func(), check func(step int) error) error {
	id := r.ID()
	for step := 0; step < maxSteps && !in.Done(); step++ {
		if before != nil {
			before()
		}
		switch c := in.Intn(16); {
		case c == 0:
			r.Tick()
		case c == 1:
			r.Propose(in.Command())
		default:
			to := id
			if in.Intn(16) == 0 {
				to = in.Node(n)
			}
			if err := r.Step(paxos.Message{From: in.Node(n), To: to, Body: in.Message(samples)}); err != nil && !errors.Is(err, paxos.ErrMalformed) {
				return fmt.Errorf("step %d: Step error does not wrap paxos.ErrMalformed: %w", step, err)
			}
		}
		if err := CheckReady(r.Ready(), id, n, batch); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		if err := check(step); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
	}
	return nil
}
