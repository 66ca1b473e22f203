package client_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/transport"
)

func TestServerWithoutAuthenticationRefusedUnlessInsecure(t *testing.T) {
	srv := client.NewServer(client.ServerConfig{Submitter: &store{kv: kv.NewExecutor(paxos.Config{})}, Logger: quiet()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	err = srv.Serve(ln)
	require.ErrorIs(t, err, paxos.ErrConfig)
	assert.Contains(t, err.Error(), "no authentication")
}

func TestClientWithoutTokenRefused(t *testing.T) {
	s := &store{kv: kv.NewExecutor(paxos.Config{})}
	addr, srv := serveCfg(t, client.ServerConfig{Submitter: s, Token: testToken})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()

	// No token: the replica answers with an error that says what to do.
	cl, err := client.New([]string{addr}, client.Options{AttemptTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer cl.Close()
	res, err := cl.DoKV(ctx, paxos.OpPut, "k", "forged")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "authentication required")
	assert.ErrorIs(t, err, client.ErrAuth)
	assert.NotContains(t, err.Error(), "client: client:")
	assert.Equal(t, 1, res.Attempts, "a refusal for a missing token is not retried")

	// A wrong token: refused at the handshake.
	bad, err := client.New([]string{addr}, client.Options{Token: "not-the-token", AttemptTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer bad.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	err = bad.Put(ctx2, "k", "forged")
	require.Error(t, err)
	assert.ErrorIs(t, err, client.ErrAuth)
	assert.True(t, strings.HasPrefix(err.Error(), "client: connect to replica"), err.Error())

	assert.Empty(t, s.commands(), "no command from an unauthenticated client executed")
	// Both stop at the first refusal (ErrAuth is not retried); the server
	// counts the token-less one when that client hangs up.
	cl.Close()
	bad.Close()
	assert.Eventually(t, func() bool { return srv.GuardStats().RefusedHandshakes >= 2 }, 5*time.Second, 10*time.Millisecond)

	// The right token works.
	good, err := client.New([]string{addr}, client.Options{Token: testToken})
	require.NoError(t, err)
	defer good.Close()
	require.NoError(t, good.Put(context.Background(), "k", "v"))
}

func TestClientRefusesReplicaWithoutToken(t *testing.T) {
	// A process posing as a replica that does not know the token cannot
	// prove it, so the client sends it nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = transport.ReadFrame(c, nil, 4096)
				b := []byte{0x82, 0xa1, 'n', 0xc4, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0xa1, 'a', 0xc4, 1, 0}
				_ = transport.WriteFrame(c, b)
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	cl, err := client.New([]string{ln.Addr().String()}, client.Options{Token: testToken, AttemptTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err = cl.Put(ctx, "k", "v")
	require.Error(t, err)
	assert.ErrorIs(t, err, client.ErrAuth)
}

func TestClientPortTLSWithClientCertificates(t *testing.T) {
	ca, err := transport.NewCA("test CA")
	require.NoError(t, err)
	replica, err := ca.IssueReplica(0, []string{"127.0.0.1"})
	require.NoError(t, err)
	clientCert, err := ca.Issue("client-0", nil, nil)
	require.NoError(t, err)
	s := &store{kv: kv.NewExecutor(paxos.Config{})}
	addr, _ := serveCfg(t, client.ServerConfig{Submitter: s, TLS: transport.MutualTLS(replica, ca.Pool())})

	withCert, err := client.New([]string{addr}, client.Options{TLS: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{clientCert}}})
	require.NoError(t, err)
	defer withCert.Close()
	require.NoError(t, withCert.Put(context.Background(), "k", "v"))

	// Without a client certificate the TLS handshake fails.
	noCert, err := client.New([]string{addr}, client.Options{TLS: &tls.Config{RootCAs: ca.Pool()}, AttemptTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer noCert.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.Error(t, noCert.Put(ctx, "k", "forged"))
	// Plain TCP is not served either.
	plain, err := client.New([]string{addr}, client.Options{AttemptTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer plain.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	require.Error(t, plain.Put(ctx2, "k", "forged"))
	assert.Len(t, s.commands(), 1)
}

// At the connection cap, a client that authenticates takes the place of
// the oldest connection that has not; once every open connection has
// authenticated, a newcomer is closed at once.
func TestClientPortConnectionCap(t *testing.T) {
	addr, srv := serveCfg(t, client.ServerConfig{Submitter: &store{kv: kv.NewExecutor(paxos.Config{})}, Token: testToken,
		Limits: transport.Limits{MaxConns: 5, HandshakeTimeout: time.Minute}})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 5; i++ { // an attacker's idle connections fill the port
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var clients []*client.Client
	for i := 0; i < 5; i++ { // clients with the token still get in, one by one
		cl, err := client.New([]string{addr}, client.Options{Token: testToken, AttemptTimeout: 5 * time.Second})
		require.NoError(t, err)
		defer cl.Close()
		require.NoError(t, cl.Put(ctx, fmt.Sprint("k", i), "v"), "client %d", i)
		clients = append(clients, cl)
	}
	assert.Equal(t, uint64(5), srv.GuardStats().Evicted)
	assert.Zero(t, srv.GuardStats().RefusedConns)
	conns[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := conns[0].Read(make([]byte, 1))
	assert.False(t, transport.IsTimeout(err), "the oldest idle connection was closed: %v", err)
	// Now every open connection has authenticated: a 6th is closed at once
	// (its read ends with EOF, not a timeout) and nobody is evicted.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err), "got %v", err)
	assert.Equal(t, uint64(1), srv.GuardStats().RefusedConns)
	for i, cl := range clients {
		got, err := cl.Get(ctx, fmt.Sprint("k", i))
		require.NoError(t, err, "client %d keeps its connection", i)
		assert.Equal(t, "v", got)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

func TestClientPortCutsIdleAndSlowConnections(t *testing.T) {
	lim := transport.Limits{HandshakeTimeout: 150 * time.Millisecond, IdleTimeout: 150 * time.Millisecond, ReadTimeout: 150 * time.Millisecond}
	addr, srv := serveCfg(t, client.ServerConfig{Submitter: &store{kv: kv.NewExecutor(paxos.Config{})}, Token: testToken, Limits: lim})
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.ReadAll(c)
		return err == nil || !transport.IsTimeout(err)
	}
	// Silent before the handshake (slowloris): cut.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	assert.True(t, closed(c))
	// Half a handshake frame, then silence: cut.
	c2, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c2.Close()
	_, err = c2.Write([]byte{0, 0, 0, 40, 0x82})
	require.NoError(t, err)
	assert.True(t, closed(c2))
	require.GreaterOrEqual(t, srv.GuardStats().Timeouts, uint64(2))

	// An authenticated client that goes idle is cut too, and reconnects
	// transparently on its next call.
	cl, err := client.New([]string{addr}, client.Options{Token: testToken})
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.Put(context.Background(), "k", "v1"))
	before := srv.GuardStats().Timeouts
	require.Eventually(t, func() bool { return srv.GuardStats().Timeouts > before }, 5*time.Second, 10*time.Millisecond)
	v, err := cl.Get(context.Background(), "k")
	require.NoError(t, err)
	assert.Equal(t, "v1", v)
}

func TestLargeFrameDeclarationsDoNotAllocate(t *testing.T) {
	// 500 connections each declare a 4 MiB request and send 10 bytes of
	// it. The server must not allocate the declared sizes (2 GiB); it
	// holds a small buffer per connection until the bytes arrive.
	const conns = 500
	addr, srv := serveCfg(t, client.ServerConfig{Submitter: &store{kv: kv.NewExecutor(paxos.Config{})}, Insecure: true,
		Limits: transport.Limits{MaxConnsPerHost: conns, ReadTimeout: time.Minute}})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	var cs []net.Conn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	msg := make([]byte, 14)
	binary.BigEndian.PutUint32(msg, client.MaxFrame)
	for i := 0; i < conns; i++ {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		cs = append(cs, c)
		_, err = c.Write(msg)
		require.NoError(t, err)
	}
	// Wait until the server serves every connection (two goroutines
	// each), then let it read what was sent.
	require.Eventually(t, func() bool { return runtime.NumGoroutine() >= goroutines+2*conns }, 20*time.Second, 10*time.Millisecond)
	var peak uint64
	for i := 0; i < 10; i++ {
		time.Sleep(20 * time.Millisecond)
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapAlloc)
	}
	grew := int64(peak) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d KiB for %d connections declaring 4 MiB each (%d bytes per connection)", grew>>10, conns, grew/conns)
	assert.Less(t, grew, int64(64<<20), "500 declared 4 MiB frames must not cost 2 GiB")
	assert.Zero(t, srv.GuardStats().RefusedConns)
}
