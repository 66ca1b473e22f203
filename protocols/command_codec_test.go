package protocols_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	_ "github.com/paxos-lab/paxos/protocols"
)

var commandType = reflect.TypeOf(paxos.Command{})

// appCommand uses every field of a Command, the application ones included.
var appCommand = paxos.Command{Client: 9, Seq: 3, Op: paxos.OpApp, Key: "k", Value: "v",
	Payload: []byte{0, 1, 0xff, 'x'}, Keys: []string{"a", "b"}, ReadOnly: true}

// holdsCommand reports whether values of t can contain a paxos.Command.
func holdsCommand(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == commandType {
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
			if t.Field(i).IsExported() && holdsCommand(t.Field(i).Type, seen) {
				r = true
			}
		}
	case reflect.Slice, reflect.Array, reflect.Pointer, reflect.Map:
		r = holdsCommand(t.Elem(), seen)
	}
	seen[t] = r
	return r
}

// fill puts appCommand everywhere v can hold a Command.
func fill(v reflect.Value) {
	t := v.Type()
	if !holdsCommand(t, map[reflect.Type]bool{}) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == commandType {
			v.Set(reflect.ValueOf(appCommand))
			return
		}
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(t, 2, 2))
		fill(v.Index(0))
		fill(v.Index(1))
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i))
		}
	case reflect.Pointer:
		v.Set(reflect.New(t.Elem()))
		fill(v.Elem())
	case reflect.Map:
		m := reflect.MakeMap(t)
		e := reflect.New(t.Elem()).Elem()
		fill(e)
		m.SetMapIndex(reflect.Zero(t.Key()), e)
		v.Set(m)
	}
}

// collect returns every Command in v.
func collect(v reflect.Value, out *[]paxos.Command) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == commandType {
			*out = append(*out, v.Interface().(paxos.Command))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				collect(v.Field(i), out)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			collect(v.Index(i), out)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collect(v.Elem(), out)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			collect(it.Value(), out)
		}
	}
}

// TestCommandFieldsSurviveEveryCodecPath sends an application command, with
// Payload, Keys and ReadOnly set, inside every registered message and record
// type that can carry commands (every protocol's Accept and Commit among
// them), through paxos.Encode/Decode and EncodeMessage/DecodeMessage. A
// hand-written encoder that drops a Command field fails here.
func TestCommandFieldsSurviveEveryCodecPath(t *testing.T) {
	carriers := map[string]bool{}
	for name, zero := range paxos.RegisteredTypes() {
		if !holdsCommand(reflect.TypeOf(zero), map[reflect.Type]bool{}) {
			continue
		}
		carriers[name] = true
		p := reflect.New(reflect.TypeOf(zero))
		fill(p.Elem())
		v := p.Elem().Interface()

		data, err := paxos.Encode(v)
		require.NoError(t, err, name)
		back, err := paxos.Decode(data)
		require.NoError(t, err, name)
		var got []paxos.Command
		collect(reflect.ValueOf(back), &got)
		require.NotEmpty(t, got, "%s: decoded value holds no command", name)
		for _, c := range got {
			assert.True(t, c.Equal(appCommand), "%s via Encode: got %+v", name, c)
		}

		data, err = paxos.EncodeMessage(paxos.Message{From: 1, To: 2, Body: v})
		require.NoError(t, err, name)
		m, err := paxos.DecodeMessage(data)
		require.NoError(t, err, name)
		got = got[:0]
		collect(reflect.ValueOf(m.Body), &got)
		require.NotEmpty(t, got, "%s: decoded message holds no command", name)
		for _, c := range got {
			assert.True(t, c.Equal(appCommand), "%s via EncodeMessage: got %+v", name, c)
		}
	}
	for _, name := range []string{"basic.Accept", "basic.Commit", "multi.Accept", "multi.Commit", "multi.Forward",
		"epaxos.PreAccept", "epaxos.Accept", "epaxos.Commit", "epaxos.InstanceRecord"} {
		assert.True(t, carriers[name], "%s carries commands and must be covered", name)
	}
}
