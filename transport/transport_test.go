package transport_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/transport"
)

type ping struct {
	N    int
	Text string
}

func init() { paxos.Register("transport_test.ping", ping{}) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func recv(t *testing.T, tr transport.Transport) paxos.Message {
	t.Helper()
	select {
	case m := <-tr.Recv():
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return paxos.Message{}
}

func TestLocalNetwork(t *testing.T) {
	nw := transport.NewNetwork(3, 4)
	a, b := nw.Endpoint(0), nw.Endpoint(1)
	a.Send(paxos.Message{From: 0, To: 1, Body: ping{N: 1}})
	m := recv(t, b)
	assert.Equal(t, paxos.Message{From: 0, To: 1, Body: ping{N: 1}}, m)
	// Unregistered bodies and unknown destinations are dropped.
	a.Send(paxos.Message{From: 0, To: 1, Body: struct{}{}})
	a.Send(paxos.Message{From: 0, To: 7, Body: ping{}})
	assert.Equal(t, uint64(2), a.Stats().Dropped)
	// A full queue drops.
	for i := 0; i < 6; i++ {
		a.Send(paxos.Message{From: 0, To: 2, Body: ping{N: i}})
	}
	assert.Equal(t, uint64(4), a.Stats().Dropped)
	// Closed endpoints drop and close their channel; reopened ones receive.
	require.NoError(t, b.Close())
	_, ok := <-b.Recv()
	assert.False(t, ok)
	a.Send(paxos.Message{From: 0, To: 1, Body: ping{N: 2}})
	b.Reopen()
	a.Send(paxos.Message{From: 0, To: 1, Body: ping{N: 3}})
	assert.Equal(t, ping{N: 3}, recv(t, b).Body)
	a.SetCut(true)
	a.Send(paxos.Message{From: 0, To: 1, Body: ping{N: 4}})
	assert.Empty(t, b.Recv())
}

// freeAddrs reserves n loopback ports (there is a small window in which
// another process could take one; tests accept that).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func newTCP(t *testing.T, cfg transport.TCPConfig) *transport.TCP {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	if cfg.Cluster == "" {
		cfg.Cluster = "test"
	}
	if cfg.TLS == nil && cfg.Secret == nil && !cfg.Insecure {
		cfg.Secret = testSecret
	}
	tr, err := transport.NewTCP(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestTCPExchangeInOrder(t *testing.T) {
	peers := freeAddrs(t, 3)
	trs := make([]*transport.TCP, 3)
	for i := range trs {
		trs[i] = newTCP(t, transport.TCPConfig{ID: paxos.NodeID(i), Peers: peers})
	}
	const n = 500
	for i := 0; i < n; i++ {
		trs[0].Send(paxos.Message{From: 0, To: 1, Body: ping{N: i}})
		trs[2].Send(paxos.Message{From: 2, To: 1, Body: ping{N: i}})
	}
	next := map[paxos.NodeID]int{}
	for i := 0; i < 2*n; i++ {
		m := recv(t, trs[1])
		assert.Equal(t, paxos.NodeID(1), m.To)
		assert.Equal(t, next[m.From], m.Body.(ping).N, "per-link FIFO order")
		next[m.From]++
	}
	// A message to oneself is delivered locally.
	trs[1].Send(paxos.Message{From: 1, To: 1, Body: ping{N: -1}})
	assert.Equal(t, ping{N: -1}, recv(t, trs[1]).Body)
	assert.GreaterOrEqual(t, trs[0].Stats().Sent, uint64(n))
}

func TestTCPReconnectsAfterPeerRestart(t *testing.T) {
	peers := freeAddrs(t, 2)
	a := newTCP(t, transport.TCPConfig{ID: 0, Peers: peers, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	b := newTCP(t, transport.TCPConfig{ID: 1, Peers: peers})
	a.Send(paxos.Message{From: 0, To: 1, Body: ping{N: 1}})
	assert.Equal(t, ping{N: 1}, recv(t, b).Body)
	require.NoError(t, b.Close())
	b2 := newTCP(t, transport.TCPConfig{ID: 1, Peers: peers})
	// Messages sent while the connection breaks may be lost; keep sending
	// until one gets through the new connection.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		a.Send(paxos.Message{From: 0, To: 1, Body: ping{N: 2}})
		select {
		case m := <-b2.Recv():
			assert.Equal(t, ping{N: 2}, m.Body)
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("no message after the peer restarted")
}

func TestTCPRTTDelay(t *testing.T) {
	peers := freeAddrs(t, 2)
	rtt := [][]float64{{0, 200}, {200, 0}}
	a := newTCP(t, transport.TCPConfig{ID: 0, Peers: peers, RTT: rtt})
	b := newTCP(t, transport.TCPConfig{ID: 1, Peers: peers, RTT: rtt})
	// Warm up the connection so dialing does not count.
	a.Send(paxos.Message{From: 0, To: 1, Body: ping{N: 0}})
	recv(t, b)
	start := time.Now()
	a.Send(paxos.Message{From: 0, To: 1, Body: ping{N: 1}})
	recv(t, b)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond, "one-way delay is half the RTT")

	_, err := transport.NewTCP(transport.TCPConfig{ID: 0, Peers: peers, RTT: [][]float64{{0}}})
	assert.ErrorIs(t, err, paxos.ErrConfig)
}

// testSecret is the cluster secret of the tests' transports.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// rawPeer dials addr and answers the handshake challenge as replica from,
// proving the key derived from secret (no proof when secret is nil); it
// returns the connection and the handshake reply's error text.
func rawPeer(t *testing.T, addr, cluster string, from, to paxos.NodeID, secret []byte) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	cb, err := transport.ReadFrame(c, nil, 4096)
	require.NoError(t, err)
	var ch struct {
		Magic string `msgpack:"m"`
		Nonce []byte `msgpack:"n"`
	}
	require.NoError(t, msgpack.Unmarshal(cb, &ch))
	nonce := bytes.Repeat([]byte{7}, transport.NonceBytes)
	hello := map[string]any{"m": ch.Magic, "c": cluster, "f": from, "t": to, "n": nonce}
	if secret != nil {
		hello["a"] = transport.Proof(transport.ReplicaKey(secret, from), "paxos-peer/2 dial",
			[]byte(cluster), []byte(fmt.Sprint(from)), []byte(fmt.Sprint(to)), ch.Nonce, nonce)
	}
	b, err := msgpack.Marshal(hello)
	require.NoError(t, err)
	require.NoError(t, transport.WriteFrame(c, b))
	reply, err := transport.ReadFrame(c, nil, 4096)
	require.NoError(t, err)
	var w struct {
		Err string `msgpack:"e"`
	}
	require.NoError(t, msgpack.Unmarshal(reply, &w))
	return c, w.Err
}

// closedByPeer reports whether the server closes c within 10s.
func closedByPeer(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.ReadAll(c)
	return err == nil || !transport.IsTimeout(err) // EOF, or reset when the server closed with bytes unread
}

func TestTCPRefusesBadPeers(t *testing.T) {
	peers := freeAddrs(t, 3)
	a := newTCP(t, transport.TCPConfig{ID: 0, Peers: peers, MaxFrame: 1024})
	b := newTCP(t, transport.TCPConfig{ID: 1, Peers: peers})
	addr := a.Addr().String()

	c, reason := rawPeer(t, addr, "other", 1, 0, testSecret)
	assert.Contains(t, reason, "wrong cluster")
	assert.True(t, closedByPeer(t, c))

	c, reason = rawPeer(t, addr, "test", 9, 0, testSecret)
	assert.Contains(t, reason, "unknown replica")
	assert.True(t, closedByPeer(t, c))

	c, reason = rawPeer(t, addr, "test", 0, 0, testSecret)
	assert.Contains(t, reason, "unknown replica", "a replica cannot claim to be the receiver")
	assert.True(t, closedByPeer(t, c))

	c, reason = rawPeer(t, addr, "test", 2, 1, testSecret)
	assert.Contains(t, reason, "addressed to replica 1")
	assert.True(t, closedByPeer(t, c))

	// Garbage instead of a handshake.
	g, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, err = g.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	assert.True(t, closedByPeer(t, g))
	g.Close()

	// An oversized frame after a valid handshake.
	c, reason = rawPeer(t, addr, "test", 2, 0, testSecret)
	require.Empty(t, reason)
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], 1<<30)
	_, err = c.Write(h[:])
	require.NoError(t, err)
	assert.True(t, closedByPeer(t, c))

	// Garbage bytes in a well-sized frame.
	c, reason = rawPeer(t, addr, "test", 2, 0, testSecret)
	require.Empty(t, reason)
	require.NoError(t, transport.WriteFrame(c, []byte{0xc1, 0xff, 0x00, 0x13}))
	assert.True(t, closedByPeer(t, c))

	// A valid message that claims another sender.
	c, reason = rawPeer(t, addr, "test", 2, 0, testSecret)
	require.Empty(t, reason)
	forged, err := paxos.EncodeMessage(paxos.Message{From: 1, To: 0, Body: ping{N: 66}})
	require.NoError(t, err)
	require.NoError(t, transport.WriteFrame(c, forged))
	assert.True(t, closedByPeer(t, c))

	// A forged peer without the secret, and one with another secret.
	c, reason = rawPeer(t, addr, "test", 2, 0, nil)
	assert.Contains(t, reason, "authentication failed")
	assert.True(t, closedByPeer(t, c))
	c, reason = rawPeer(t, addr, "test", 2, 0, []byte("not the cluster secret, guessed!"))
	assert.Contains(t, reason, "authentication failed")
	assert.True(t, closedByPeer(t, c))

	st := a.Stats()
	assert.Equal(t, uint64(7), st.Refused)
	assert.Equal(t, uint64(3), st.BadFrames)
	assert.Zero(t, st.Received)

	// The transport still works for a real peer.
	b.Send(paxos.Message{From: 1, To: 0, Body: ping{N: 7}})
	assert.Equal(t, ping{N: 7}, recv(t, a).Body)
}

func TestTCPWrongClusterPeerNeverDelivers(t *testing.T) {
	peers := freeAddrs(t, 2)
	a := newTCP(t, transport.TCPConfig{Cluster: "one", ID: 0, Peers: peers})
	b := newTCP(t, transport.TCPConfig{Cluster: "two", ID: 1, Peers: peers, MinBackoff: 10 * time.Millisecond})
	for i := 0; i < 20; i++ {
		b.Send(paxos.Message{From: 1, To: 0, Body: ping{N: i}})
		time.Sleep(10 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return a.Stats().Refused > 0 }, 10*time.Second, 10*time.Millisecond)
	assert.Empty(t, a.Recv())
}

func TestTCPMutualTLS(t *testing.T) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	leaf := func(serial int64, id paxos.NodeID, signer *ecdsa.PrivateKey, parent *x509.Certificate) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: transport.ReplicaCommonName(id)},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		if parent == nil {
			parent, signer = tmpl, key // self-signed: not trusted by the pool
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
		require.NoError(t, err)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	peers := freeAddrs(t, 4)
	a := newTCP(t, transport.TCPConfig{ID: 0, Peers: peers, TLS: transport.MutualTLS(leaf(2, 0, caKey, caCert), pool)})
	b := newTCP(t, transport.TCPConfig{ID: 1, Peers: peers, TLS: transport.MutualTLS(leaf(3, 1, caKey, caCert), pool)})
	b.Send(paxos.Message{From: 1, To: 0, Body: ping{N: 1}})
	assert.Equal(t, ping{N: 1}, recv(t, a).Body)
	a.Send(paxos.Message{From: 0, To: 1, Body: ping{N: 2}})
	assert.Equal(t, ping{N: 2}, recv(t, b).Body)

	// A replica whose certificate the CA did not sign is never heard.
	rogue := newTCP(t, transport.TCPConfig{ID: 2, Peers: peers, TLS: transport.MutualTLS(leaf(4, 2, nil, nil), pool), MinBackoff: 10 * time.Millisecond})
	for i := 0; i < 10; i++ {
		rogue.Send(paxos.Message{From: 2, To: 0, Body: ping{N: 99}})
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case m := <-a.Recv():
		t.Fatalf("message from an untrusted peer delivered: %v", m)
	case <-time.After(200 * time.Millisecond):
	}
	// Replica 1's certificate and key, used by a process claiming id 3:
	// refused, since the certificate names replica 1.
	refused := a.Stats().Refused
	impostor := newTCP(t, transport.TCPConfig{ID: 3, Peers: peers, TLS: transport.MutualTLS(leaf(5, 1, caKey, caCert), pool), MinBackoff: 10 * time.Millisecond})
	impostor.Send(paxos.Message{From: 3, To: 0, Body: ping{N: 98}})
	require.Eventually(t, func() bool { return a.Stats().Refused > refused }, 10*time.Second, 5*time.Millisecond)
	for i := 0; i < 5; i++ {
		impostor.Send(paxos.Message{From: 3, To: 0, Body: ping{N: 98}})
	}
	select {
	case m := <-a.Recv():
		t.Fatalf("message from replica 1's certificate claiming id 3 delivered: %v", m)
	case <-time.After(200 * time.Millisecond):
	}
	// The real replica 1 is still heard.
	b.Send(paxos.Message{From: 1, To: 0, Body: ping{N: 3}})
	assert.Equal(t, ping{N: 3}, recv(t, a).Body)
	// A plain TCP client cannot even complete a handshake.
	c, err := net.Dial("tcp", a.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	b2, _ := msgpack.Marshal(map[string]any{"m": "paxos-peer/2", "c": "test", "f": 1, "t": 0})
	_ = transport.WriteFrame(c, b2)
	assert.True(t, closedByPeer(t, c))
}

func TestReadFrame(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, transport.WriteFrame(&buf, []byte("hello")))
	require.NoError(t, transport.WriteFrame(&buf, []byte("world!")))
	f, err := transport.ReadFrame(&buf, nil, 5)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(f))
	_, err = transport.ReadFrame(&buf, nil, 5)
	assert.ErrorIs(t, err, transport.ErrFrameTooLarge)
	_, err = transport.ReadFrame(bytes.NewReader([]byte{0, 0, 0, 0}), nil, 5)
	assert.ErrorIs(t, err, transport.ErrEmptyFrame)
	_, err = transport.ReadFrame(bytes.NewReader([]byte{0, 0, 0, 4, 1}), nil, 5)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, err = transport.ReadFrame(bytes.NewReader(nil), nil, 5)
	assert.ErrorIs(t, err, io.EOF)
}

// FuzzReadFrame feeds arbitrary bytes to the frame reader and the message
// decoder, as a hostile peer could: neither may panic, and no frame may
// exceed the maximum.
func FuzzReadFrame(f *testing.F) {
	good, err := paxos.EncodeMessage(paxos.Message{From: 1, To: 0, Body: ping{N: 3, Text: "abc"}})
	require.NoError(f, err)
	var stream bytes.Buffer
	_ = transport.WriteFrame(&stream, good)
	_ = transport.WriteFrame(&stream, good[:len(good)-1])
	f.Add(stream.Bytes())
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		const max = 1 << 16
		for {
			frame, err := transport.ReadFrame(r, nil, max)
			if err != nil {
				return
			}
			if len(frame) == 0 || len(frame) > max {
				t.Fatalf("frame of %d bytes returned", len(frame))
			}
			if m, err := transport.DecodeFrame(frame); err == nil {
				// A decoded message must re-encode.
				if _, err := paxos.EncodeMessage(m); err != nil {
					t.Fatalf("decoded message %v does not re-encode: %v", m, err)
				}
			}
		}
	})
}
