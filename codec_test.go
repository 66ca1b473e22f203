package paxos_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	_ "github.com/paxos-lab/paxos/protocols"
)

// Test types registered with the codec, covering the shapes protocol
// messages use: nested structs, slices, maps, pointers, byte strings.

type TestPing struct {
	Ballot   uint64          `msgpack:"b"`
	From     paxos.NodeID    `msgpack:"f"`
	Commands []paxos.Command `msgpack:"c,omitempty"`
	Deps     []uint64        `msgpack:"d"`
	Votes    map[paxos.NodeID]bool
	Instance *paxos.Instance
	Payload  []byte
	Note     string
}

type TestRecord struct {
	Slot  uint64
	Value paxos.Command
	Seen  map[string]uint64
	Grid  [3]int32
	Ok    bool
	Ratio float64
}

type testUnregistered struct{ X int }

func init() {
	paxos.Register("paxostest.Ping", TestPing{})
	paxos.Register("paxostest.Record", TestRecord{})
}

func samplePing() TestPing {
	return TestPing{
		Ballot: 7, From: 3,
		Commands: []paxos.Command{{Client: 1, Seq: 2, Op: paxos.OpPut, Key: "k", Value: "v"}, {Client: 9, Seq: 1, Op: paxos.OpGet, Key: "k"}},
		Deps:     []uint64{0, 4, 0},
		Votes:    map[paxos.NodeID]bool{1: true},
		Instance: &paxos.Instance{Replica: 2, Slot: 5},
		Payload:  []byte{0, 1, 255},
		Note:     "héllo",
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, v := range []any{
		samplePing(), TestPing{},
		TestRecord{Slot: 1, Value: paxos.Command{Op: paxos.OpNop}, Seen: map[string]uint64{"a": 1}, Grid: [3]int32{1, -2, 3}, Ok: true, Ratio: 0.25},
		TestRecord{},
	} {
		data, err := paxos.Encode(v)
		require.NoError(t, err)
		got, err := paxos.Decode(data)
		require.NoError(t, err)
		assert.Equal(t, v, got)
	}
}

func TestEncodeDecodeMessageRoundTrip(t *testing.T) {
	m := paxos.Message{From: 4, To: 1, Body: samplePing()}
	data, err := paxos.EncodeMessage(m)
	require.NoError(t, err)
	got, err := paxos.DecodeMessage(data)
	require.NoError(t, err)
	assert.Equal(t, m, got)
	_, isValue := got.Body.(TestPing)
	assert.True(t, isValue, "decoding yields the registered value type, not a pointer")
}

func TestEncodeUnregistered(t *testing.T) {
	for _, v := range []any{testUnregistered{1}, &TestPing{}, nil, 42, "str"} {
		_, err := paxos.Encode(v)
		require.Error(t, err, "%T", v)
		assert.ErrorIs(t, err, paxos.ErrUnknownType)
		_, err = paxos.EncodeMessage(paxos.Message{Body: v})
		require.Error(t, err, "%T", v)
		assert.ErrorIs(t, err, paxos.ErrUnknownType)
		assert.Contains(t, err.Error(), "paxos.Register")
	}
}

func TestDecodeUnknownTypeName(t *testing.T) {
	body, err := msgpack.Marshal(TestRecord{Slot: 3})
	require.NoError(t, err)
	frame, err := msgpack.Marshal([]any{1, 2, "nosuch.Type", msgpack.RawMessage(body)})
	require.NoError(t, err)
	_, err = paxos.DecodeMessage(frame)
	require.Error(t, err)
	assert.ErrorIs(t, err, paxos.ErrUnknownType)
	assert.Contains(t, err.Error(), "nosuch.Type")

	rec, err := msgpack.Marshal([]any{"nosuch.Type", msgpack.RawMessage(body)})
	require.NoError(t, err)
	_, err = paxos.Decode(rec)
	assert.ErrorIs(t, err, paxos.ErrUnknownType)

	// A registered name with a body of the wrong shape.
	frame, err = msgpack.Marshal([]any{1, 2, "paxostest.Record", "not a struct"})
	require.NoError(t, err)
	_, err = paxos.DecodeMessage(frame)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "paxostest.Record")
}

func TestDecodeGarbage(t *testing.T) {
	for _, data := range [][]byte{
		nil, {}, {0xc1}, {0xff, 0xff, 0xff}, []byte("hello world"),
		{0x94, 0x01},                                  // array of 4 with one element
		{0xdd, 0xff, 0xff, 0xff, 0xff},                // array32 claiming 4G elements
		{0x94, 0x01, 0x02, 0xa3, 'a', 'b', 'c', 0xc0}, // unknown name "abc" with nil body
		{0x92, 0xc0, 0xc0},                            // envelope of nils
		bytes.Repeat([]byte{0x91}, 10000),             // deep nesting
	} {
		assert.NotPanics(t, func() {
			_, err := paxos.DecodeMessage(data)
			assert.Error(t, err, "%x", data)
			_, err = paxos.Decode(data)
			assert.Error(t, err, "%x", data)
		})
	}
}

// TestDecodeTruncated: every strict prefix of a valid frame is an error.
func TestDecodeTruncated(t *testing.T) {
	msg, err := paxos.EncodeMessage(paxos.Message{From: 1, To: 2, Body: samplePing()})
	require.NoError(t, err)
	rec, err := paxos.Encode(samplePing())
	require.NoError(t, err)
	for i := 0; i < len(msg); i++ {
		_, err := paxos.DecodeMessage(msg[:i])
		assert.Error(t, err, "DecodeMessage of %d of %d bytes", i, len(msg))
	}
	for i := 0; i < len(rec); i++ {
		_, err := paxos.Decode(rec[:i])
		assert.Error(t, err, "Decode of %d of %d bytes", i, len(rec))
	}
}

func TestRegisterMisuse(t *testing.T) {
	assert.Panics(t, func() { paxos.Register("paxostest.Ptr", &TestRecord{}) })
	assert.Panics(t, func() { paxos.Register("paxostest.Nil", nil) })
	assert.Panics(t, func() { paxos.Register("paxostest.Ping", struct{ Y int }{}) }, "duplicate name")
	assert.Panics(t, func() { paxos.Register("paxostest.Other", TestPing{}) }, "duplicate type")
	names := paxos.RegisteredNames()
	assert.True(t, sortedStrings(names))
	assert.Contains(t, names, "paxostest.Ping")
	assert.NotContains(t, names, "paxostest.Other")
}

func sortedStrings(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] > s[i] {
			return false
		}
	}
	return true
}

// TestEveryRegisteredTypeRoundTrips round-trips the zero value and a
// populated value of every type registered by every protocol package, as a
// record and as a message body.
func TestEveryRegisteredTypeRoundTrips(t *testing.T) {
	types := paxos.RegisteredTypes()
	require.NotEmpty(t, paxos.Protocols(), "protocols registers no protocol")
	var protocolTypes int
	for name := range types {
		if !strings.HasPrefix(name, "paxostest.") {
			protocolTypes++
		}
	}
	require.Positive(t, protocolTypes, "no protocol registered a message type")
	assert.Len(t, paxos.RegisteredNames(), len(types))

	for _, name := range paxos.RegisteredNames() {
		zero := types[name]
		t.Run(name, func(t *testing.T) {
			full := reflect.New(reflect.TypeOf(zero)).Elem()
			fill(full, 0)
			for _, v := range []any{zero, full.Interface()} {
				data, err := paxos.Encode(v)
				require.NoError(t, err)
				got, err := paxos.Decode(data)
				require.NoError(t, err)
				assert.Equal(t, v, got, "record")

				m := paxos.Message{From: 2, To: 0, Body: v}
				data, err = paxos.EncodeMessage(m)
				require.NoError(t, err)
				gotm, err := paxos.DecodeMessage(data)
				require.NoError(t, err)
				assert.Equal(t, m, gotm, "message")
			}
		})
	}
}

// fill sets every settable field of v to a distinct non-zero value, to a
// bounded depth. Interface fields stay nil (their dynamic type cannot round
// trip through msgpack), as do fields msgpack ignores.
func fill(v reflect.Value, depth int) {
	counter++
	c := counter
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(c%100 + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(uint64(c%100 + 1))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(c) + 0.5)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", c))
	case reflect.Slice:
		if depth > 4 {
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i), depth+1)
		}
	case reflect.Map:
		if depth > 4 {
			return
		}
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fill(k, depth+1)
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		if depth > 4 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Tag.Get("msgpack") == "-" || !v.Field(i).CanSet() {
				continue
			}
			fill(v.Field(i), depth+1)
		}
	}
}

var counter int

// FuzzDecodeMessage: no input makes DecodeMessage panic, and whatever it
// accepts re-encodes to an equal message.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range []paxos.Message{
		{From: 1, To: 2, Body: samplePing()},
		{From: 0, To: 0, Body: TestRecord{Slot: 9, Seen: map[string]uint64{"x": 1}}},
		{From: 3, To: 4, Body: TestPing{}},
	} {
		data, err := paxos.EncodeMessage(m)
		require.NoError(f, err)
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x94, 0x01, 0x02, 0xa3, 'a', 'b', 'c', 0xc0})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := paxos.DecodeMessage(data)
		if err != nil {
			if m.Body != nil {
				t.Fatalf("error %v with a non-nil body", err)
			}
			return
		}
		again, err := paxos.EncodeMessage(m)
		if err != nil {
			t.Fatalf("decoded %#v but cannot re-encode it: %v", m, err)
		}
		m2, err := paxos.DecodeMessage(again)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !reflect.DeepEqual(m, m2) && fmt.Sprint(m) != fmt.Sprint(m2) { // Sprint: NaN != NaN
			t.Fatalf("round trip changed the message: %#v -> %#v", m, m2)
		}
	})
}

func TestErrUnknownTypeIsSentinel(t *testing.T) {
	_, err := paxos.Encode(testUnregistered{})
	assert.True(t, errors.Is(err, paxos.ErrUnknownType))
}

// ExampleEncodeMessage shows a message crossing the wire: any registered
// body type encodes with its name and decodes back to the same value.
func ExampleEncodeMessage() {
	m := paxos.Message{From: 0, To: 2, Body: TestRecord{Slot: 4, Value: paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "x", Value: "1"}}}
	data, err := paxos.EncodeMessage(m)
	if err != nil {
		panic(err)
	}
	back, err := paxos.DecodeMessage(data)
	fmt.Println(err, back.From, back.To, back.Body.(TestRecord).Slot, back.Body.(TestRecord).Value.Key)

	_, err = paxos.DecodeMessage(data[:len(data)-3])
	fmt.Println(err != nil)
	// Output:
	// <nil> 0 2 4 x
	// true
}
