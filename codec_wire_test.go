package paxos_test

import (
	"bytes"
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"testing/quick"
	"unsafe"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/multi"
	_ "github.com/paxos-lab/paxos/protocols"
)

// plainType returns a type with t's shape and struct tags but no methods, so
// msgpack encodes it by reflection: the reference for the hand-written
// methods.
func plainType(t reflect.Type) reflect.Type {
	switch t.Kind() {
	case reflect.Struct:
		var fs, last []reflect.StructField
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() { // msgpack skips unexported fields
				pf := reflect.StructField{Name: f.Name, Type: plainType(f.Type), Tag: f.Tag}
				if slices.Contains(wireLast[t], f.Name) {
					last = append(last, pf)
					continue
				}
				fs = append(fs, pf)
			}
		}
		return reflect.StructOf(append(fs, last...))
	case reflect.Slice:
		return reflect.SliceOf(plainType(t.Elem()))
	case reflect.Pointer:
		return reflect.PointerTo(plainType(t.Elem()))
	case reflect.Map:
		return reflect.MapOf(plainType(t.Key()), plainType(t.Elem()))
	case reflect.Array:
		return reflect.ArrayOf(t.Len(), plainType(t.Elem()))
	}
	return reflect.New(t).Elem().Convert(basicTypes[t.Kind()]).Type()
}

// wireLast names, per type, the fields declared early to fill padding
// (paxos.Command's ReadOnly sits after Op) that the encoding writes after
// all the others, as reflection did when they were declared last: the
// reference bytes keep that order.
var wireLast = map[reflect.Type][]string{
	reflect.TypeOf(paxos.Command{}):  {"ReadOnly"},
	reflect.TypeOf(client.Request{}): {"ReadOnly"},
}

var basicTypes = map[reflect.Kind]reflect.Type{
	reflect.Bool: reflect.TypeOf(false), reflect.String: reflect.TypeOf(""),
	reflect.Int: reflect.TypeOf(0), reflect.Int8: reflect.TypeOf(int8(0)), reflect.Int16: reflect.TypeOf(int16(0)),
	reflect.Int32: reflect.TypeOf(int32(0)), reflect.Int64: reflect.TypeOf(int64(0)),
	reflect.Uint: reflect.TypeOf(uint(0)), reflect.Uint8: reflect.TypeOf(uint8(0)), reflect.Uint16: reflect.TypeOf(uint16(0)),
	reflect.Uint32: reflect.TypeOf(uint32(0)), reflect.Uint64: reflect.TypeOf(uint64(0)),
	reflect.Float32: reflect.TypeOf(float32(0)), reflect.Float64: reflect.TypeOf(float64(0)),
}

// toPlain copies v into a value of plainType(v.Type()).
func toPlain(v reflect.Value) reflect.Value {
	pt := plainType(v.Type())
	out := reflect.New(pt).Elem()
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < pt.NumField(); i++ {
			out.Field(i).Set(toPlain(v.FieldByName(pt.Field(i).Name)))
		}
	case reflect.Slice:
		if v.IsNil() {
			return out
		}
		out.Set(reflect.MakeSlice(pt, v.Len(), v.Len()))
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(toPlain(v.Index(i)))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			p := reflect.New(pt.Elem())
			p.Elem().Set(toPlain(v.Elem()))
			out.Set(p)
		}
	case reflect.Map, reflect.Array:
		panic("not used by the hot types")
	default:
		out.Set(v.Convert(pt))
	}
	return out
}

// TestHandWrittenCodecMatchesReflection checks, for every type with
// hand-written msgpack methods, that they write exactly the bytes msgpack's
// reflection writes for the same struct tags, and read those bytes back to
// what reflection reads: on zero values and on random ones (empty and non-empty
// slices, omitempty fields both ways).
func TestHandWrittenCodecMatchesReflection(t *testing.T) {
	samples := []any{paxos.Command{}, paxos.Ballot{}, paxos.Instance{}, client.Request{}, client.Reply{}, multi.Entry{}}
	for _, v := range paxos.RegisteredTypes() {
		samples = append(samples, v)
	}
	checked := eachRandomValue(t, samples, 1, func(typ reflect.Type, v reflect.Value, want []byte) {
		got, err := msgpack.Marshal(v.Interface())
		require.NoError(t, err)
		require.Equal(t, want, got, "%v %+v", typ, v.Interface())
		back := reflect.New(typ)
		require.NoError(t, msgpack.Unmarshal(want, back.Interface()))
		requireReadAsReflection(t, typ, want, back.Elem())
	})
	require.GreaterOrEqual(t, checked, 15, "hand-written types found")
}

// eachRandomValue calls check with the zero value and 299 random values of
// every type in samples with hand-written msgpack methods, each with the
// bytes reflection writes for it, and returns how many such types there
// were.
func eachRandomValue(t *testing.T, samples []any, seed int64, check func(typ reflect.Type, v reflect.Value, want []byte)) int {
	rng := rand.New(rand.NewSource(seed))
	checked := 0
	for _, zero := range samples {
		typ := reflect.TypeOf(zero)
		if _, ok := zero.(msgpack.CustomEncoder); !ok {
			continue
		}
		checked++
		for i := 0; i < 300; i++ {
			v := reflect.ValueOf(zero)
			if i > 0 {
				v = randomValue(t, typ, rng)
			}
			want, err := msgpack.Marshal(toPlain(v).Interface())
			require.NoError(t, err)
			check(typ, v, want)
		}
	}
	return checked
}

// requireReadAsReflection requires back, decoded from want, to be what
// reflection reads from want.
func requireReadAsReflection(t *testing.T, typ reflect.Type, want []byte, back reflect.Value) {
	t.Helper()
	ref := reflect.New(plainType(typ))
	require.NoError(t, msgpack.Unmarshal(want, ref.Interface()))
	require.Equal(t, ref.Elem().Interface(), toPlain(back).Interface(), "%v", typ)
}

// TestHandWrittenDecodeSkipsUnknownFields: like reflection, the decoders
// skip fields they do not know and accept nil.
func TestHandWrittenDecodeSkipsUnknownFields(t *testing.T) {
	b, err := msgpack.Marshal(map[string]any{"c": uint64(3), "zz": []int{1, 2}, "k": "key"})
	require.NoError(t, err)
	var c paxos.Command
	require.NoError(t, msgpack.Unmarshal(b, &c))
	require.Equal(t, paxos.Command{Client: 3, Key: "key"}, c)
	require.NoError(t, msgpack.Unmarshal([]byte{0xc0}, &c))
	_, err = paxos.Decode([]byte{0x92, 0xa3, 'x', 'y', 'z', 0xc0})
	require.ErrorIs(t, err, paxos.ErrUnknownType)
}

// TestCommandDecodeHostileLengths: a string claiming more bytes than the
// input holds fails without allocating what it claims.
func TestCommandDecodeHostileLengths(t *testing.T) {
	for _, b := range [][]byte{
		{0x81, 0xa1, 'k', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'},
		{0x82, 0xa1, 'k', 0xa2, 'a', 'b', 0xa1, 'v', 0xda, 0x10, 0x00},
		{0x81, 0xa1, 'v', 0xdb, 0x00, 0x10, 0x00, 0x00},
	} {
		var c paxos.Command
		allocs := testing.AllocsPerRun(10, func() { c = paxos.Command{}; _ = msgpack.Unmarshal(b, &c) })
		require.Error(t, msgpack.Unmarshal(b, &c))
		require.Less(t, allocs, 40.0)
	}
	var c paxos.Command
	require.NoError(t, msgpack.Unmarshal([]byte{0x82, 0xa1, 'k', 0xa2, 'a', 'b', 0xa1, 'v', 0xa3, 'x', 'y', 'z'}, &c))
	require.Equal(t, paxos.Command{Key: "ab", Value: "xyz"}, c)
}

// randomValue returns a random value of typ. testing/quick cannot fill a
// struct with unexported fields (state a type keeps out of its encoding),
// so such a type is filled through its exported shape: a random value of
// plainType(typ), decoded into typ.
func randomValue(t *testing.T, typ reflect.Type, rng *rand.Rand) reflect.Value {
	t.Helper()
	exported := true
	if typ.Kind() == reflect.Struct {
		for i := range typ.NumField() {
			exported = exported && typ.Field(i).IsExported()
		}
	}
	if exported {
		v, ok := quick.Value(typ, rng)
		require.True(t, ok, typ.String())
		return v
	}
	pv, ok := quick.Value(plainType(typ), rng)
	require.True(t, ok, typ.String())
	b, err := msgpack.Marshal(pv.Interface())
	require.NoError(t, err)
	v := reflect.New(typ)
	require.NoError(t, msgpack.Unmarshal(b, v.Interface()), typ.String())
	return v.Elem()
}

// TestAppendMessageWritesOntoTheCallersBuffer: given a buffer with room,
// AppendMessage encodes onto it (no buffer of its own, no copy, no
// allocation for a hand-written body) and keeps what the buffer held;
// given none, it returns what EncodeMessage returns.
func TestAppendMessageWritesOntoTheCallersBuffer(t *testing.T) {
	cmds := []paxos.Command{{Client: 1, Seq: 2, Op: paxos.OpPut, Key: "k", Value: "v"}}
	m := paxos.Message{From: 1, To: 2, Body: multi.Accept{Slot: 7, Cmds: cmds}}
	want, err := paxos.EncodeMessage(m)
	require.NoError(t, err)
	buf := make([]byte, 0, 4096)
	buf = append(buf, 0xab, 0xcd)
	got, err := paxos.AppendMessage(buf, m)
	require.NoError(t, err)
	require.Equal(t, append([]byte{0xab, 0xcd}, want...), got)
	require.Same(t, &buf[:1][0], &got[0], "encoded onto the caller's array")
	again, err := paxos.AppendMessage(nil, m)
	require.NoError(t, err)
	require.Equal(t, want, again)
	if raceEnabled {
		return
	}
	allocs := testing.AllocsPerRun(100, func() { _, _ = paxos.AppendMessage(buf[:0], m) })
	require.Zero(t, allocs)
	allocs = testing.AllocsPerRun(100, func() { _, _ = paxos.AppendMessage(nil, m) })
	require.Equal(t, 1.0, allocs, "without a buffer: one copy of the pooled coder's")
}

// TestPooledEncoderMatchesReflection is TestHandWrittenCodecMatchesReflection
// through paxos.Encode and paxos.Decode, whose pooled coders take the
// append and parse paths for commands and uint64 lists (codec_append.go):
// the body after the type name is the bytes reflection writes, and it
// decodes to what reflection reads.
func TestPooledEncoderMatchesReflection(t *testing.T) {
	names := paxos.RegisteredNames()
	types := paxos.RegisteredTypes()
	samples := make([]any, 0, len(names))
	for _, name := range names {
		samples = append(samples, types[name])
	}
	checked := eachRandomValue(t, samples, 2, func(typ reflect.Type, v reflect.Value, want []byte) {
		got, err := paxos.Encode(v.Interface())
		require.NoError(t, err)
		d := msgpack.NewDecoder(bytes.NewReader(got))
		n, err := d.DecodeArrayLen()
		require.NoError(t, err)
		require.Equal(t, 2, n)
		name, err := d.DecodeString()
		require.NoError(t, err)
		rest := got[len(got)-d.Buffered().(*bytes.Reader).Len():]
		require.Equal(t, want, rest, "%s %+v", name, v.Interface())
		back, err := paxos.Decode(got)
		require.NoError(t, err)
		requireReadAsReflection(t, typ, want, reflect.ValueOf(back))
	})
	require.GreaterOrEqual(t, checked, 12, "hand-written registered types found")
}

// TestCommandSize pins paxos.Command's size on 64-bit platforms: ReadOnly
// fills the padding after Op, so that a batch of 64 commands (6,656 bytes)
// is allocated in the 6,784-byte size class instead of the 8,192-byte one
// that 112-byte commands (7,168 bytes) needed. A field added or moved that
// undoes it fails here.
func TestCommandSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are pinned for 64-bit platforms")
	}
	require.Equal(t, uintptr(104), unsafe.Sizeof(paxos.Command{}))
	require.Equal(t, unsafe.Sizeof(paxos.Command{}), unsafe.Sizeof(client.Request{}))
}
