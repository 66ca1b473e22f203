package transport_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/transport"
)

func TestTCPRequiresAuthenticationOrInsecure(t *testing.T) {
	peers := freeAddrs(t, 2)
	_, err := transport.NewTCP(transport.TCPConfig{Cluster: "c", ID: 0, Peers: peers, Logger: quiet()})
	require.ErrorIs(t, err, paxos.ErrConfig)
	assert.Contains(t, err.Error(), "no authentication")

	var logs lockedBuf
	tr, err := transport.NewTCP(transport.TCPConfig{Cluster: "c", ID: 0, Peers: peers, Insecure: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	defer tr.Close()
	assert.Contains(t, logs.String(), "INSECURE")
}

func TestTCPImpersonatorCannotDisplaceAuthenticatedLink(t *testing.T) {
	peers := freeAddrs(t, 3)
	a := newTCP(t, transport.TCPConfig{ID: 0, Peers: peers})
	b := newTCP(t, transport.TCPConfig{ID: 1, Peers: peers})
	b.Send(paxos.Message{From: 1, To: 0, Body: ping{N: 1}})
	assert.Equal(t, ping{N: 1}, recv(t, a).Body)
	require.Equal(t, uint64(1), a.Stats().Accepted)

	// Ten impersonators of replica 1 without the secret: all refused, and
	// the real link from replica 1 is never replaced.
	for i := 0; i < 10; i++ {
		c, reason := rawPeer(t, a.Addr().String(), "test", 1, 0, nil)
		assert.Contains(t, reason, "authentication failed")
		assert.True(t, closedByPeer(t, c))
	}
	assert.Equal(t, uint64(1), a.Stats().Accepted, "no impersonator completed a handshake")
	assert.Equal(t, uint64(10), a.GuardStats().RefusedHandshakes)
	b.Send(paxos.Message{From: 1, To: 0, Body: ping{N: 2}})
	assert.Equal(t, ping{N: 2}, recv(t, a).Body)
	assert.Equal(t, uint64(1), a.Stats().Accepted, "replica 1 still uses its first connection")

	// A connection that proves replica 1's key does replace the link (a
	// restarted replica 1 reconnects this way).
	c, reason := rawPeer(t, a.Addr().String(), "test", 1, 0, testSecret)
	require.Empty(t, reason)
	defer c.Close()
	assert.Equal(t, uint64(2), a.Stats().Accepted)
}

func TestTCPHandshakeAndReadDeadlinesCutSlowPeers(t *testing.T) {
	peers := freeAddrs(t, 3)
	lim := transport.Limits{HandshakeTimeout: 150 * time.Millisecond, ReadTimeout: 150 * time.Millisecond}
	a := newTCP(t, transport.TCPConfig{ID: 0, Peers: peers, Limits: lim})

	// A connection that never answers the challenge is cut.
	c, err := net.Dial("tcp", a.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	assert.True(t, closedByPeer(t, c))
	assert.Less(t, time.Since(start), 5*time.Second)

	// An authenticated peer that starts a frame and stalls is cut too.
	c, reason := rawPeer(t, a.Addr().String(), "test", 2, 0, testSecret)
	require.Empty(t, reason)
	_, err = c.Write([]byte{0, 0, 1, 0, 0x93}) // 256 bytes declared, 1 sent
	require.NoError(t, err)
	assert.True(t, closedByPeer(t, c))
	assert.GreaterOrEqual(t, a.GuardStats().Timeouts, uint64(2))
}

// admitted reports whether the server sent c its challenge (it admitted c)
// rather than closing it.
func admitted(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := transport.ReadFrame(c, nil, 4096)
	return err == nil
}

func TestTCPConnectionCapsEnforced(t *testing.T) {
	peers := freeAddrs(t, 2)
	a := newTCP(t, transport.TCPConfig{ID: 0, Peers: peers, Limits: transport.Limits{MaxConnsPerHost: 3, HandshakeTimeout: 10 * time.Second}})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", a.Addr().String())
		require.NoError(t, err)
		conns = append(conns, c)
		require.True(t, admitted(t, c), "connection %d within the cap", i)
	}
	// A 4th connection from the host takes the place of the oldest one
	// that has not authenticated: an attacker's idle connections cannot
	// keep a peer that authenticates out.
	c, err := net.Dial("tcp", a.Addr().String())
	require.NoError(t, err)
	conns = append(conns, c)
	assert.True(t, admitted(t, c), "the 4th connection is admitted")
	assert.Equal(t, uint64(1), a.GuardStats().Evicted)
	assert.Zero(t, a.GuardStats().RefusedConns)
	conns[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = conns[0].Read(make([]byte, 1))
	assert.False(t, transport.IsTimeout(err), "the oldest unauthenticated connection was closed: %v", err)
	conns[1].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = conns[1].Read(make([]byte, 1))
	assert.True(t, transport.IsTimeout(err), "the next one is still open: %v", err)
}

// failingListener fails its first n Accepts with EMFILE, as a process out
// of file descriptors does.
type failingListener struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.n > 0 {
		l.n--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

func TestTCPAcceptBacksOffOnDescriptorExhaustion(t *testing.T) {
	peers := freeAddrs(t, 2)
	ln, err := net.Listen("tcp", peers[0])
	require.NoError(t, err)
	var logs lockedBuf
	a := newTCP(t, transport.TCPConfig{ID: 0, Peers: peers, Listener: &failingListener{Listener: ln, n: 6},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	b := newTCP(t, transport.TCPConfig{ID: 1, Peers: peers, MinBackoff: 10 * time.Millisecond})
	b.Send(paxos.Message{From: 1, To: 0, Body: ping{N: 5}})
	assert.Equal(t, ping{N: 5}, recv(t, a).Body, "the transport keeps accepting once descriptors are back")
	assert.Equal(t, uint64(6), a.GuardStats().AcceptErrors)
	assert.Equal(t, 1, strings.Count(logs.String(), "out of file descriptors"), "one log line for six failures:\n%s", logs.String())
}

func TestTCPRefusalsLoggedRateLimited(t *testing.T) {
	peers := freeAddrs(t, 3)
	var logs lockedBuf
	a := newTCP(t, transport.TCPConfig{ID: 0, Peers: peers, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for i := 0; i < 30; i++ {
		c, reason := rawPeer(t, a.Addr().String(), "test", 2, 0, nil)
		require.Contains(t, reason, "authentication failed")
		c.Close()
	}
	assert.Equal(t, uint64(30), a.GuardStats().RefusedHandshakes)
	assert.Equal(t, 1, strings.Count(logs.String(), "handshake refused"), "one line, not one per attempt:\n%s", logs.String())
}

// stallReader serves its data and then ends, as a sender that declared a
// large frame and went away does.
type stallReader struct{ data []byte }

func (s *stallReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, s.data)
	s.data = s.data[n:]
	return n, nil
}

func TestReadFrameAllocatesAsDataArrives(t *testing.T) {
	// A frame declaring 4 MiB of which 10 bytes arrive: ReadFrame must not
	// allocate the declared size up front.
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], 4<<20)
	in := append(h[:], bytes.Repeat([]byte{1}, 10)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 100; i++ {
		_, err := transport.ReadFrame(&stallReader{data: in}, nil, 16<<20)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	}
	runtime.ReadMemStats(&after)
	perFrame := (after.TotalAlloc - before.TotalAlloc) / 100
	assert.Less(t, perFrame, uint64(64<<10), "bytes allocated per 4 MiB frame cut after 10 bytes")

	// A whole frame still reads correctly, through many growths.
	payload := bytes.Repeat([]byte("abcdefgh"), 100_000)
	var buf bytes.Buffer
	require.NoError(t, transport.WriteFrame(&buf, payload))
	got, err := transport.ReadFrame(&buf, nil, 16<<20)
	require.NoError(t, err)
	assert.Equal(t, payload, got)
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
