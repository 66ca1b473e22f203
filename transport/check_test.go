package transport_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	_ "github.com/paxos-lab/paxos/protocols" // every protocol's message types
	"github.com/paxos-lab/paxos/transport"
)

type rich struct {
	I   int64
	U   uint64
	F   float64
	F32 float32
	S   string
	B   []byte
	L   []string
	M   map[string]int
	N   [][]uint64
	P   *rich
	Any any
}

func init() { paxos.Register("transport_test.rich", rich{}) }

func TestCheckFrameAcceptsEveryEncodedMessage(t *testing.T) {
	values := []any{
		rich{},
		rich{I: math.MinInt64, U: math.MaxUint64, F: -1.5, F32: 2.25, S: string(bytes.Repeat([]byte("s"), 300)),
			B: bytes.Repeat([]byte{1}, 70000), L: []string{"a", "", "ccc"}, M: map[string]int{"x": -1, "y": 1 << 40},
			N: [][]uint64{{1, 2, 1 << 33}, nil, {}}, P: &rich{S: "inner", Any: []any{1, "two", nil, true}},
			Any: map[string]any{"k": []any{map[string]any{}}}},
	}
	for name, zero := range paxos.RegisteredTypes() {
		values = append(values, zero)
		_ = name
	}
	require.Greater(t, len(values), 5, "protocol message types are registered")
	for _, v := range values {
		b, err := paxos.EncodeMessage(paxos.Message{From: 3, To: 1, Body: v})
		require.NoError(t, err)
		require.NoError(t, transport.CheckFrame(b), "%T", v)
		m, err := transport.DecodeFrame(b)
		require.NoError(t, err, "%T", v)
		assert.Equal(t, paxos.NodeID(3), m.From)
		// Every strict prefix is refused, and so is a trailing byte.
		for _, cut := range []int{0, 1, len(b) / 2, len(b) - 1} {
			assert.Error(t, transport.CheckFrame(b[:cut]), "%T cut at %d", v, cut)
		}
		assert.Error(t, transport.CheckFrame(append(append([]byte(nil), b...), 0)))
	}
}

func TestCheckFrameRefusesHostileFrames(t *testing.T) {
	deep := append(bytes.Repeat([]byte{0x91}, 100000), 0xc0)
	for name, b := range map[string][]byte{
		"deep nesting":        deep,
		"huge str32":          {0xdb, 0xb3, 0xa7, 0x30, 0x30, 'a'},
		"huge bin32":          {0xc6, 0xc6, 0xc6, 0xc6, 0xc6, 0},
		"huge array32":        {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0},
		"huge map16":          {0xde, 0xff, 0xff, 0xc0, 0xc0},
		"reserved byte":       {0xc1},
		"truncated uint64":    {0xcf, 1, 2},
		"truncated ext32 len": {0xc9, 0, 0},
		"empty":               {},
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, transport.CheckFrame(b), transport.ErrMalformed)
			_, err := transport.DecodeFrame(b)
			assert.Error(t, err)
		})
	}
	// Nesting up to the limit is fine.
	ok := append(bytes.Repeat([]byte{0x91}, transport.MaxDepth), 0xc0)
	assert.NoError(t, transport.CheckFrame(ok))
	var v any
	require.NoError(t, msgpack.Unmarshal(ok, &v))
}
