package protocols_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
	_ "github.com/paxos-lab/paxos/protocols"
)

var commandType = reflect.TypeOf(paxos.Command{})

// target is the type the walkers below look for, and sample the value they
// put everywhere it can go.
type target struct {
	typ    reflect.Type
	sample reflect.Value
}

var commandTarget = target{commandType, reflect.ValueOf(appCommand)}

// appCommand uses every field of a Command, the application ones included.
var appCommand = paxos.Command{Client: 9, Seq: 3, Op: paxos.OpApp, Key: "k", Value: "v",
	Payload: []byte{0, 1, 0xff, 'x'}, Keys: []string{"a", "b"}, ReadOnly: true}

// holds reports whether values of t can contain a value of type want.
func holds(t, want reflect.Type, seen map[reflect.Type]bool) bool {
	if t == want {
		return true
	}
	if done, ok := seen[t]; ok {
		return done
	}
	seen[t] = false
	var r bool
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() && holds(t.Field(i).Type, want, seen) {
				r = true
			}
		}
	case reflect.Slice, reflect.Array, reflect.Pointer, reflect.Map:
		r = holds(t.Elem(), want, seen)
	}
	seen[t] = r
	return r
}

// fill puts tg.sample everywhere v can hold a value of type tg.typ.
func fill(v reflect.Value, tg target) {
	t := v.Type()
	if t == tg.typ {
		v.Set(tg.sample)
		return
	}
	if !holds(t, tg.typ, map[reflect.Type]bool{}) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				fill(v.Field(i), tg)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(t, 2, 2))
		fill(v.Index(0), tg)
		fill(v.Index(1), tg)
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i), tg)
		}
	case reflect.Pointer:
		v.Set(reflect.New(t.Elem()))
		fill(v.Elem(), tg)
	case reflect.Map:
		m := reflect.MakeMap(t)
		e := reflect.New(t.Elem()).Elem()
		fill(e, tg)
		m.SetMapIndex(reflect.Zero(t.Key()), e)
		v.Set(m)
	}
}

// collect returns every value of type want in v.
func collect(v reflect.Value, want reflect.Type, out *[]any) {
	if v.Type() == want {
		*out = append(*out, v.Interface())
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				collect(v.Field(i), want, out)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			collect(v.Index(i), want, out)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collect(v.Elem(), want, out)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			collect(it.Value(), want, out)
		}
	}
}

// roundTrip fills every registered type that can hold tg.typ with
// tg.sample, sends it through both codec paths, checks every decoded
// occurrence with same, and returns the names of the types covered.
func roundTrip(t *testing.T, tg target, same func(any) bool) map[string]bool {
	carriers := map[string]bool{}
	for name, zero := range paxos.RegisteredTypes() {
		if !holds(reflect.TypeOf(zero), tg.typ, map[reflect.Type]bool{}) {
			continue
		}
		carriers[name] = true
		p := reflect.New(reflect.TypeOf(zero))
		fill(p.Elem(), tg)
		v := p.Elem().Interface()

		data, err := paxos.Encode(v)
		require.NoError(t, err, name)
		back, err := paxos.Decode(data)
		require.NoError(t, err, name)
		data, err = paxos.EncodeMessage(paxos.Message{From: 1, To: 2, Body: v})
		require.NoError(t, err, name)
		m, err := paxos.DecodeMessage(data)
		require.NoError(t, err, name)
		for path, decoded := range map[string]any{"Encode": back, "EncodeMessage": m.Body} {
			var got []any
			collect(reflect.ValueOf(decoded), tg.typ, &got)
			require.NotEmpty(t, got, "%s via %s: decoded value holds no %v", name, path, tg.typ)
			for _, g := range got {
				assert.True(t, same(g), "%s via %s: got %+v", name, path, g)
			}
		}
	}
	return carriers
}

// TestCommandFieldsSurviveEveryCodecPath sends an application command, with
// Payload, Keys and ReadOnly set, inside every registered message and record
// type that can carry commands (every protocol's Accept and Commit among
// them), through paxos.Encode/Decode and EncodeMessage/DecodeMessage. A
// hand-written encoder that drops a Command field fails here.
func TestCommandFieldsSurviveEveryCodecPath(t *testing.T) {
	carriers := roundTrip(t, commandTarget, func(g any) bool { c := g.(paxos.Command); return c.Equal(&appCommand) })
	for _, name := range []string{"basic.Accept", "basic.Commit", "multi.Accept", "multi.Commit", "multi.Forward",
		"epaxos.PreAccept", "epaxos.Accept", "epaxos.Commit", "epaxos.InstanceRecord"} {
		assert.True(t, carriers[name], "%s carries commands and must be covered", name)
	}
}

// TestApplicationSnapshotSurvivesEveryCodecPath: an application state
// machine's snapshot (kv.Snapshot.App) survives every record and message
// that carries a kv.Snapshot (Multi-Paxos snapshots and InstallSnapshot,
// EPaxos snapshot records).
func TestApplicationSnapshotSurvivesEveryCodecPath(t *testing.T) {
	sample := kv.Snapshot{App: []byte{1, 2, 0, 3}}
	carriers := roundTrip(t, target{reflect.TypeOf(sample), reflect.ValueOf(sample)},
		func(g any) bool { return bytes.Equal(g.(kv.Snapshot).App, sample.App) })
	for _, name := range []string{"multi.SnapshotRecord", "multi.InstallSnapshot", "epaxos.SnapshotRecord"} {
		assert.True(t, carriers[name], "%s carries a kv.Snapshot and must be covered", name)
	}
}
