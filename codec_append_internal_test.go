package paxos

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// encoderBytes encodes through msgpack.Encoder writing to a bytes.Buffer,
// which the append path does not take.
func encoderBytes(t *testing.T, fn func(e *msgpack.Encoder) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	require.Nil(t, appendTarget(e), "a bytes.Buffer takes the encoder path")
	require.NoError(t, fn(e))
	return buf.Bytes()
}

// TestAppendCommandsMatchesEncoder checks the appended bytes of commands
// and uint64 lists against the encoder path's across every size class of
// their strings, payloads and lists.
func TestAppendCommandsMatchesEncoder(t *testing.T) {
	sizes := []int{0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536}
	var cmds []Command
	for _, n := range sizes {
		s := strings.Repeat("x", n)
		cmds = append(cmds,
			Command{Client: uint64(n), Seq: 1<<64 - 1, Op: OpPut, Key: s, Value: s},
			Command{Op: Op(n), Payload: []byte(s), ReadOnly: n%2 == 0},
			Command{Client: 1<<32 + 7, Op: OpGet, Keys: make([]string, n), ReadOnly: true},
			Command{Keys: []string{s, "k"}, Payload: []byte(s), Value: s},
		)
	}
	for _, c := range cmds {
		want := encoderBytes(t, c.EncodeMsgpack)
		require.Equal(t, want, appendCommand(nil, &c), "%+v", c.Op)
	}
	for _, n := range []int{0, 1, 15, 16, 65535, 65536} {
		list := make([]Command, n)
		for i := range list {
			list[i] = cmds[i%8] // strings of 0 and 1 bytes
		}
		want := encoderBytes(t, func(e *msgpack.Encoder) error { return EncodeCommands(e, list) })
		require.Equal(t, want, appendCommands([]byte{1}, list)[1:], "%d commands", n)
		u := make([]uint64, n)
		for i := range u {
			u[i] = uint64(i) * 0x0101010101
		}
		want = encoderBytes(t, func(e *msgpack.Encoder) error { return EncodeUint64s(e, u) })
		require.Equal(t, want, appendUint64s(nil, u), "%d uint64s", n)
	}
	require.Equal(t, encoderBytes(t, func(e *msgpack.Encoder) error { return EncodeCommands(e, nil) }), appendCommands(nil, nil))
	require.Equal(t, encoderBytes(t, func(e *msgpack.Encoder) error { return EncodeUint64s(e, nil) }), appendUint64s(nil, nil))
}

// BenchmarkCommands64 encodes and decodes a batch of 64 puts (16-byte
// values) through a pooled coder (the append and parse paths) and through
// an encoder writing to a bytes.Buffer and a decoder reading a
// bytes.Reader (the encoder and decoder paths).
func BenchmarkCommands64(b *testing.B) {
	cmds := make([]Command, 64)
	for i := range cmds {
		cmds[i] = Command{Client: uint64(i + 1), Seq: 1000, Op: OpPut, Key: "key-" + strings.Repeat("7", 6), Value: "0123456789abcdef"}
	}
	b.Run("encode/append", func(b *testing.B) {
		c := getCoder()
		defer putCoder(c)
		buf := make([]byte, 0, 8192)
		for i := 0; i < b.N; i++ {
			c.app.b = buf[:0]
			_ = EncodeCommands(c.aenc, cmds)
		}
	})
	b.Run("encode/encoder", func(b *testing.B) {
		var buf bytes.Buffer
		e := msgpack.NewEncoder(&buf)
		for i := 0; i < b.N; i++ {
			buf.Reset()
			_ = EncodeCommands(e, cmds)
		}
	})
	enc := appendCommands(nil, cmds)
	b.Run("decode/parse", func(b *testing.B) {
		c := getCoder()
		defer putCoder(c)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			c.rd.reset(enc)
			c.dec.Reset(&c.rd)
			_, _ = DecodeCommands(c.dec)
		}
	})
	b.Run("decode/decoder", func(b *testing.B) {
		var rd bytes.Reader
		d := msgpack.NewDecoder(&rd)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			rd.Reset(enc)
			d.Reset(&rd)
			_, _ = DecodeCommands(d)
		}
	})
}

// decodeBoth decodes a list of commands and a list of uint64s from b
// through a pooled coder (the parse path) and through a plain decoder
// (the decoder path).
func decodeBoth(b []byte) (fast, slow []any) {
	read := func(d *msgpack.Decoder) []any {
		cmds, err1 := DecodeCommands(d)
		u, err2 := DecodeUint64s(d)
		return []any{cmds, err1 != nil, u, err2 != nil}
	}
	c := getCoder()
	defer putCoder(c)
	c.rd.reset(b)
	c.dec.Reset(&c.rd)
	return read(c.dec), read(msgpack.NewDecoder(bytes.NewReader(b)))
}

// TestParseCommandsMatchesDecoder checks the parse path against the
// decoder path on commands of every shape (the short form it reads and the
// ones it leaves to the decoder), on every truncation of their encoding,
// and on the encoding with single bytes changed.
func TestParseCommandsMatchesDecoder(t *testing.T) {
	var cmds []Command
	for _, n := range []int{0, 1, 31, 32, 200, 255, 256, 3000} {
		s := strings.Repeat("y", n)
		cmds = append(cmds,
			Command{Client: uint64(n) << 40, Seq: 3, Op: OpPut, Key: s, Value: "v"},
			Command{Client: 1, Op: OpGet, Key: "k", Value: s},
			Command{Key: s, Value: s, Payload: []byte("p")},
			Command{Key: "a", Keys: []string{"b"}, ReadOnly: true},
		)
	}
	// Lists of the short shape only, which parseCommands reads whole.
	var short []Command
	for i, n := range []int{0, 1, 31, 32, 255} {
		s := strings.Repeat("x", n)
		short = append(short, Command{Client: uint64(i), Seq: 1 << 40, Op: OpPut, Key: s, Value: "v"},
			Command{Client: 7, Seq: uint64(n), Op: OpGet, Key: "k", Value: s}, Command{Op: Op(n), Key: s})
	}
	for _, list := range [][]Command{nil, {}, cmds[:1], cmds[:5], cmds, short[:1], short[:3], short} {
		for _, u := range [][]uint64{nil, {}, {1, 1 << 63}, make([]uint64, 15), make([]uint64, 16)} {
			b := appendUint64s(appendCommands(nil, list), u)
			fast, _ := decodeBoth(b)
			require.False(t, fast[1].(bool) || fast[3].(bool), "decodes")
			requireSameWhenDamaged(t, b, 2000, decodeBoth)
		}
	}
}

// requireSameWhenDamaged checks that decode's two paths agree on b, on
// every truncation of b, and, when b is at most mutateMax bytes, on b with
// any one byte changed.
func requireSameWhenDamaged(t *testing.T, b []byte, mutateMax int, decode func([]byte) (fast, slow []any)) {
	t.Helper()
	fast, slow := decode(b)
	require.Equal(t, slow, fast)
	for cut := 0; cut < len(b); cut += 1 + cut/64 {
		fast, slow := decode(b[:cut])
		require.Equal(t, slow, fast, "cut at %d", cut)
	}
	if len(b) > mutateMax {
		return
	}
	for i := range b {
		changed := bytes.Clone(b)
		changed[i] ^= 0x10
		fast, slow := decode(changed)
		require.Equal(t, slow, fast, "byte %d changed", i)
	}
}

// FuzzParseCommands: on any input, the parse path decodes a list of
// commands and a list of uint64s to what the decoder path decodes, or
// fails where it fails.
func FuzzParseCommands(f *testing.F) {
	f.Add(appendUint64s(appendCommands(nil, []Command{{Client: 1, Seq: 2, Op: OpPut, Key: "k", Value: "v"}, {Key: strings.Repeat("z", 40)}}), []uint64{1, 2, 3}))
	f.Add(appendUint64s(appendCommands(nil, []Command{{Op: OpGet, Key: "a", Payload: []byte{1}, Keys: []string{"b"}, ReadOnly: true}}), nil))
	f.Add([]byte{0x91, 0x85})
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, slow := decodeBoth(b)
		require.Equal(t, slow, fast)
	})
}

// TestDecodeIntoCommandMatchesDecoder checks Command.DecodeMsgpack through
// DecodeInto (the parse path for the short shape) against a plain decoder
// (the field-by-field path) on one command of every shape, on every
// truncation, on single changed bytes, and into a command that already
// holds a payload, keys and ReadOnly (which the short shape leaves alone).
func TestDecodeIntoCommandMatchesDecoder(t *testing.T) {
	both := func(b []byte, into Command) (fast, slow []any) {
		f, s := into, into
		errF := DecodeInto(b, &f)
		errS := s.DecodeMsgpack(msgpack.NewDecoder(bytes.NewReader(b)))
		return []any{f, errF != nil}, []any{s, errS != nil}
	}
	held := Command{Payload: []byte("held"), Keys: []string{"h"}, ReadOnly: true}
	for _, n := range []int{0, 1, 31, 32, 200, 255, 256, 3000} {
		s := strings.Repeat("y", n)
		for _, c := range []Command{
			{Client: uint64(n) << 40, Seq: 3, Op: OpPut, Key: s, Value: "v"},
			{Client: 1, Op: OpGet, Key: "k", Value: s},
			{Key: s, Value: s, Payload: []byte("p")},
			{Key: "a", Keys: []string{"b"}, ReadOnly: true},
		} {
			b := appendCommand(nil, &c)
			for _, into := range []Command{{}, held} {
				fast, _ := both(b, into)
				require.False(t, fast[1].(bool), "decodes")
				requireSameWhenDamaged(t, b, 600, func(b []byte) ([]any, []any) { return both(b, into) })
			}
		}
	}
}
