package transport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/multi"
)

// checkMsgpackByCases is the frame check as first written (a chain of
// comparisons per code), kept as the reference for the table-driven
// checkMsgpack.
func checkMsgpackByCases(b []byte) error {
	var stackBuf [MaxDepth + 1]int
	stack := append(stackBuf[:0], 1)
	off := 0
	need := func(n uint64) error {
		if n > uint64(len(b)-off) {
			return fmt.Errorf("%w: value at offset %d declares %d bytes, %d remain", ErrMalformed, off, n, len(b)-off)
		}
		off += int(n)
		return nil
	}
	be := func(n int) (uint64, error) {
		if n > len(b)-off {
			return 0, fmt.Errorf("%w: truncated length at offset %d", ErrMalformed, off)
		}
		var v uint64
		for i := 0; i < n; i++ {
			v = v<<8 | uint64(b[off+i])
		}
		off += n
		return v, nil
	}
	for len(stack) > 0 {
		if stack[len(stack)-1] == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		stack[len(stack)-1]--
		if off >= len(b) {
			return fmt.Errorf("%w: truncated at offset %d", ErrMalformed, off)
		}
		c := b[off]
		off++
		var items uint64
		container := false
		var err error
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		case c >= 0x80 && c <= 0x8f:
			items, container = 2*uint64(c&0x0f), true
		case c >= 0x90 && c <= 0x9f:
			items, container = uint64(c&0x0f), true
		case c >= 0xa0 && c <= 0xbf:
			err = need(uint64(c & 0x1f))
		case c == 0xc1:
			return fmt.Errorf("%w: reserved byte 0xc1 at offset %d", ErrMalformed, off-1)
		case c == 0xc4 || c == 0xd9:
			var n uint64
			if n, err = be(1); err == nil {
				err = need(n)
			}
		case c == 0xc5 || c == 0xda:
			var n uint64
			if n, err = be(2); err == nil {
				err = need(n)
			}
		case c == 0xc6 || c == 0xdb:
			var n uint64
			if n, err = be(4); err == nil {
				err = need(n)
			}
		case c == 0xc7 || c == 0xc8 || c == 0xc9:
			var n uint64
			if n, err = be(1 << (c - 0xc7)); err == nil {
				err = need(n + 1)
			}
		case c == 0xca || c == 0xce || c == 0xd2:
			err = need(4)
		case c == 0xcb || c == 0xcf || c == 0xd3:
			err = need(8)
		case c == 0xcc || c == 0xd0:
			err = need(1)
		case c == 0xcd || c == 0xd1:
			err = need(2)
		case c >= 0xd4 && c <= 0xd8:
			err = need(1 + (1 << (c - 0xd4)))
		case c == 0xdc || c == 0xde:
			items, err, container = 0, nil, true
			if items, err = be(2); err == nil && c == 0xde {
				items *= 2
			}
		case c == 0xdd || c == 0xdf:
			items, err, container = 0, nil, true
			if items, err = be(4); err == nil && c == 0xdf {
				items *= 2
			}
		}
		if err != nil {
			return err
		}
		if container && items > 0 {
			if items > uint64(len(b)-off) {
				return fmt.Errorf("%w: container at offset %d declares %d values, %d bytes remain", ErrMalformed, off, items, len(b)-off)
			}
			if len(stack) > MaxDepth {
				return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
			}
			stack = append(stack, int(items))
		}
	}
	if off != len(b) {
		return fmt.Errorf("%w: %d bytes after the value", ErrMalformed, len(b)-off)
	}
	return nil
}

// TestCheckMsgpackMatchesCases: the table-driven check gives the same
// answer and the same error text as the reference on every input of up to
// two bytes, on every code followed by random bytes, and on encoded
// messages with bytes changed, cut and added.
func TestCheckMsgpackMatchesCases(t *testing.T) {
	same := func(b []byte) {
		t.Helper()
		want, got := checkMsgpackByCases(b), checkMsgpack(b)
		if want == nil || got == nil {
			require.Equal(t, want, got, "% x", b)
			return
		}
		require.True(t, errors.Is(got, ErrMalformed), "% x", b)
		require.Equal(t, want.Error(), got.Error(), "% x", b)
	}
	same(nil)
	for c := 0; c < 256; c++ {
		same([]byte{byte(c)})
		for d := 0; d < 256; d++ {
			same([]byte{byte(c), byte(d)})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for c := 0; c < 256; c++ {
		for range 200 {
			b := make([]byte, 1+rng.IntN(24))
			b[0] = byte(c)
			for i := 1; i < len(b); i++ {
				b[i] = byte(rng.IntN(256))
				if rng.IntN(3) == 0 {
					b[i] = byte(rng.IntN(8)) // small lengths, so values fit
				}
			}
			same(b)
		}
	}
	for _, b := range encodedSamples(t) {
		same(b)
		for range 300 {
			m := append([]byte(nil), b...)
			switch rng.IntN(3) {
			case 0:
				m[rng.IntN(len(m))] = byte(rng.IntN(256))
			case 1:
				m = m[:rng.IntN(len(m))]
			default:
				m = append(m, byte(rng.IntN(256)))
			}
			same(m)
		}
	}
}

// encodedSamples returns encoded messages and values using every kind of
// msgpack code the encoder writes.
func encodedSamples(t *testing.T) [][]byte {
	t.Helper()
	cmds := []paxos.Command{{Client: 1, Seq: 2, Op: paxos.OpPut, Key: "k", Value: string(make([]byte, 300))},
		{Client: 1 << 40, Seq: 3, Op: paxos.OpGet, Key: "key", Payload: make([]byte, 70000)}}
	var out [][]byte
	for _, body := range []any{
		multi.Accept{Ballot: paxos.Ballot{Round: 3, Node: 1}, Slot: 9, Cmds: cmds},
		multi.Accepted{Ballot: paxos.Ballot{Round: 3, Node: 1}, Slot: 9},
		multi.Heartbeat{Ballot: paxos.Ballot{Round: 1 << 33}, Commit: 7, Tick: 1},
	} {
		b, err := paxos.EncodeMessage(paxos.Message{From: 1, To: 2, Body: body})
		require.NoError(t, err)
		out = append(out, b)
	}
	for _, v := range []any{
		map[string]any{"f": -1.5, "f32": float32(2.25), "i": int64(-1 << 40), "n": nil, "t": true, "x": false,
			"l": []any{int8(-3), int16(-300), int32(-70000), uint16(300), uint32(70000), []byte{1, 2}}},
		msgpack.RawMessage{0xd4, 1, 2}, msgpack.RawMessage{0xd8, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		msgpack.RawMessage{0xc7, 2, 5, 1, 2}, msgpack.RawMessage{0xc8, 0, 2, 5, 1, 2}, msgpack.RawMessage{0xc9, 0, 0, 0, 1, 5, 1},
	} {
		b, err := msgpack.Marshal(v)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

// BenchmarkCheckFrame checks a Multi-Paxos Accept of 64 puts (16-byte
// values), the frame a follower reads most, with the table-driven check
// (table) and the reference (cases).
func BenchmarkCheckFrame(b *testing.B) {
	cmds := make([]paxos.Command, 64)
	for i := range cmds {
		cmds[i] = paxos.Command{Client: uint64(i + 1), Seq: 9, Op: paxos.OpPut, Key: fmt.Sprint("key-", 100000+i), Value: "0123456789abcdef"}
	}
	frame, err := paxos.EncodeMessage(paxos.Message{From: 0, To: 1, Body: multi.Accept{Ballot: paxos.Ballot{Round: 2}, Slot: 77, Cmds: cmds}})
	require.NoError(b, err)
	for _, c := range []struct {
		name  string
		check func([]byte) error
	}{{"table", checkMsgpack}, {"cases", checkMsgpackByCases}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			for range b.N {
				if err := c.check(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
