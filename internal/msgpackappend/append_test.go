package msgpackappend

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestMatchesEncoder checks String, StringBytes and Uint against the encoder's methods
// at every size class's edges.
func TestMatchesEncoder(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536, 70000} {
		s := strings.Repeat("x", n)
		var want bytes.Buffer
		require.NoError(t, msgpack.NewEncoder(&want).EncodeString(s))
		assert.Equal(t, want.Bytes(), String(nil, s), "string of length %d", n)
		assert.Equal(t, want.Bytes(), StringBytes(nil, []byte(s)), "bytes of length %d", n)
	}
	for _, n := range []int{0, 1, 255, 256, 65535, 65536, 70000} {
		p := []byte(strings.Repeat("y", n))
		var want bytes.Buffer
		require.NoError(t, msgpack.NewEncoder(&want).EncodeBytes(p))
		assert.Equal(t, want.Bytes(), Bytes(nil, p), "bytes of length %d", n)
	}
	for _, n := range []int{0, 1, 15, 16, 65535, 65536, 1 << 31} {
		var want bytes.Buffer
		require.NoError(t, msgpack.NewEncoder(&want).EncodeArrayLen(n))
		assert.Equal(t, want.Bytes(), ArrayLen(nil, n), "array of %d", n)
	}
	for _, v := range []uint64{0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, 1<<64 - 1} {
		var want bytes.Buffer
		require.NoError(t, msgpack.NewEncoder(&want).EncodeUint(v))
		assert.Equal(t, want.Bytes(), Uint(nil, v), "uint %#x", v)
	}
}
