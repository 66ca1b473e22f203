package paxos

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestDecodeBallotSlot checks the direct read of {"b": Ballot, "s":
// uint64} against DecodeFields, and that any other shape is left to it.
func TestDecodeBallotSlot(t *testing.T) {
	encode := func(fn func(e *msgpack.Encoder)) []byte {
		c := getCoder()
		defer putCoder(c)
		c.start(nil)
		fn(c.aenc)
		return c.result(nil)
	}
	decode := func(b []byte) (Ballot, uint64, bool) {
		c := getCoder()
		defer putCoder(c)
		c.rd.reset(append(b, 0xc3)) // something after the map
		c.dec.Reset(&c.rd)
		var bal Ballot
		var slot uint64
		fast := DecodeBallotSlot(c.dec, &bal, &slot)
		if !fast {
			require.NoError(t, DecodeFields(c.dec, func(d *msgpack.Decoder, key string) (bool, error) {
				var err error
				switch key {
				case "b":
					err = bal.DecodeMsgpack(d)
				case "s":
					slot, err = d.DecodeUint64()
				default:
					return false, nil
				}
				return true, err
			}))
		}
		v, err := c.dec.DecodeBool()
		require.NoError(t, err, "the decoder stops right after the map")
		require.True(t, v)
		return bal, slot, fast
	}
	for _, want := range []struct {
		b    Ballot
		slot uint64
	}{{Ballot{}, 0}, {Ballot{Round: 7, Node: 2}, 1 << 40}, {Ballot{Round: 1<<64 - 1, Node: -1}, 1<<64 - 1}} {
		b, slot, fast := decode(encode(func(e *msgpack.Encoder) {
			_ = e.EncodeMapLen(2)
			_ = e.EncodeString("b")
			_ = want.b.EncodeMsgpack(e)
			_ = e.EncodeString("s")
			_ = e.EncodeUint64(want.slot)
		}))
		require.True(t, fast)
		require.Equal(t, want.b, b)
		require.Equal(t, want.slot, slot)
	}
	// Other orders, widths and fields: the same values through DecodeFields.
	ballot := func(e *msgpack.Encoder) {
		_ = e.EncodeString("b")
		_ = Ballot{Round: 3, Node: 1}.EncodeMsgpack(e)
	}
	for _, fn := range []func(e *msgpack.Encoder){
		func(e *msgpack.Encoder) { // "s" first
			_ = e.EncodeMapLen(2)
			_ = e.EncodeString("s")
			_ = e.EncodeUint64(9)
			ballot(e)
		},
		func(e *msgpack.Encoder) { // a compact slot
			_ = e.EncodeMapLen(2)
			ballot(e)
			_ = e.EncodeString("s")
			_ = e.EncodeUint(9)
		},
		func(e *msgpack.Encoder) { // a third field
			_ = e.EncodeMapLen(3)
			ballot(e)
			_ = e.EncodeString("s")
			_ = e.EncodeUint64(9)
			_ = e.EncodeString("c")
			_ = e.EncodeNil()
		},
	} {
		b, slot, fast := decode(encode(fn))
		require.False(t, fast)
		require.Equal(t, Ballot{Round: 3, Node: 1}, b)
		require.Equal(t, uint64(9), slot)
	}
}
