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
