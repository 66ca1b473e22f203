package transport

import (
	"bufio"
	"encoding/binary"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFrameConnDropsLargeBuffers: a connection reuses its frame buffer for
// small frames, but does not keep a large frame's buffer after the next
// frame, so one large frame does not pin its size for the connection's life.
func TestFrameConnDropsLargeBuffers(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	sizes := []int{100, 200, 1 << 20, 50}
	go func() {
		for _, n := range sizes {
			frame := make([]byte, 4+n)
			binary.BigEndian.PutUint32(frame, uint32(n))
			frame[4] = byte(n)
			if _, err := a.Write(frame); err != nil {
				return
			}
		}
	}()
	g := NewGuard(Limits{}, nil, "test")
	f := g.NewFrameConn(b, bufio.NewReader(b), 4<<20, true)
	for i, n := range sizes {
		frame, err := f.Next()
		require.NoError(t, err)
		require.Len(t, frame, n)
		require.Equal(t, byte(n), frame[0])
		if n <= keepFrame {
			require.Equal(t, cap(frame), cap(f.buf), "frame %d: a small frame's buffer is kept", i)
		} else {
			require.Nil(t, f.buf, "frame %d: a %d-byte buffer is not kept", i, cap(frame))
		}
	}
	require.LessOrEqual(t, cap(f.buf), keepFrame)
}
