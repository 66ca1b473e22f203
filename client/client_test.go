package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/kv"
)

// store is a Submitter backed by a kv.Store; mode makes it fail or hang.
type store struct {
	mu   sync.Mutex
	kv   *kv.Executor
	mode string // "", "fail", "hang"
	seen []paxos.Command
}

func (s *store) Submit(ctx context.Context, cmd paxos.Command) (paxos.Execution, error) {
	s.mu.Lock()
	s.seen = append(s.seen, cmd)
	mode := s.mode
	s.mu.Unlock()
	switch mode {
	case "fail":
		return paxos.Execution{}, errors.New("not the leader")
	case "hang":
		<-ctx.Done()
		return paxos.Execution{}, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kv.Apply(&cmd), nil
}

func (s *store) commands() []paxos.Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]paxos.Command(nil), s.seen...)
}

// testToken is the client token of the tests' servers.
const testToken = "0123456789abcdef0123456789abcdef"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serve starts a client-protocol server for sub, requiring testToken, and
// returns its address.
func serve(t *testing.T, sub client.Submitter, id int) string {
	t.Helper()
	addr, _ := serveCfg(t, client.ServerConfig{Submitter: sub, Replica: paxos.NodeID(id), Token: testToken})
	return addr
}

// serveCfg starts a client-protocol server with cfg and returns its
// address and the server.
func serveCfg(t testing.TB, cfg client.ServerConfig) (string, *client.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	srv := client.NewServer(cfg)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), srv
}

func TestClientRetriesElsewhereWithSameSeq(t *testing.T) {
	shared := kv.NewExecutor(paxos.Config{})
	failing := &store{kv: shared, mode: "fail"}
	hanging := &store{kv: shared, mode: "hang"}
	good := &store{kv: shared}
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens here
	addrs := []string{deadAddr, serve(t, failing, 1), serve(t, hanging, 2), serve(t, good, 3)}
	cl, err := client.New(addrs, client.Options{Token: testToken, AttemptTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cl.DoKV(ctx, paxos.OpPut, "k", "v")
	require.NoError(t, err)
	assert.Equal(t, paxos.NodeID(3), res.Replica)
	assert.Equal(t, 4, res.Attempts)
	// Every replica saw the same (client, seq).
	for _, s := range []*store{failing, hanging, good} {
		seen := s.commands()
		require.Len(t, seen, 1)
		assert.Equal(t, paxos.CommandID{Client: cl.ID(), Seq: 1}, seen[0].ID())
	}
	// The client now prefers the replica that answered.
	v, err := cl.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	assert.Len(t, good.commands(), 2)

	// A retried (client, seq) is answered as a duplicate.
	res, err = cl.Exec(ctx, client.Request{Client: cl.ID(), Seq: 1, Op: paxos.OpPut, Key: "k", Value: "v"})
	require.NoError(t, err)
	assert.True(t, res.Duplicate)
}

func TestClientGivesUpWithContextError(t *testing.T) {
	addrs := []string{serve(t, &store{kv: kv.NewExecutor(paxos.Config{}), mode: "fail"}, 0)}
	cl, err := client.New(addrs, client.Options{Token: testToken, AttemptTimeout: time.Second})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = cl.Put(ctx, "k", "v")
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "not the leader")
}

func TestClientConcurrentUse(t *testing.T) {
	s := &store{kv: kv.NewExecutor(paxos.Config{})}
	addrs := []string{serve(t, s, 0), serve(t, s, 1)}
	cl, err := client.New(addrs, client.Options{Token: testToken})
	require.NoError(t, err)
	defer cl.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				key := fmt.Sprintf("g%d", g)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				assert.NoError(t, cl.Put(ctx, key, fmt.Sprint(i)))
				v, err := cl.Get(ctx, key)
				cancel()
				assert.NoError(t, err)
				assert.Equal(t, fmt.Sprint(i), v)
			}
		}(g)
	}
	wg.Wait()
	// 800 commands, each with its own seq: none taken for a duplicate.
	s.mu.Lock()
	assert.Equal(t, uint64(800), s.kv.Store().Applied())
	s.mu.Unlock()
}

func TestClientIDs(t *testing.T) {
	seen := map[uint64]bool{}
	for i := 0; i < 1000; i++ {
		id, err := client.NewClientID()
		require.NoError(t, err)
		assert.NotZero(t, id)
		assert.Less(t, id, uint64(1)<<63)
		assert.False(t, seen[id])
		seen[id] = true
	}
	_, err := client.New(nil, client.Options{Token: testToken})
	assert.Error(t, err)
	cl, err := client.New([]string{"127.0.0.1:1"}, client.Options{Token: testToken, ClientID: 42})
	require.NoError(t, err)
	assert.Equal(t, uint64(42), cl.ID())
}

func TestServerRefusesBadRequests(t *testing.T) {
	s := &store{kv: kv.NewExecutor(paxos.Config{})}
	// Without a token, so that raw connections reach the request decoder.
	addr, _ := serveCfg(t, client.ServerConfig{Submitter: s, Insecure: true})
	// Garbage: the server closes the connection.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte{0, 0, 0, 3, 0xc1, 0xc1, 0xc1})
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(c)
	assert.NoError(t, err, "connection closed by the server")
	// A deep nest in a small frame: refused before decoding.
	c2, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c2.Close()
	deep := append(bytes.Repeat([]byte{0x91}, 100000), 0xc0)
	_, err = c2.Write(append([]byte{0, 1, 0x86, 0xa1}, deep...))
	require.NoError(t, err)
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(c2)
	assert.NoError(t, err, "connection closed by the server")
	// Client 0 and unknown operations get an error reply, not a crash.
	cl, err := client.New([]string{addr}, client.Options{AttemptTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	defer cl.Close()
	// Exec retries an error reply until its context ends and reports the
	// last failure; on a loaded machine the attempt in flight when the
	// context ends may be a timeout instead of the reply, so a few calls
	// are allowed to see the reply.
	execErr := func(req client.Request) error {
		var err error
		for try := 0; try < 5; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, err = cl.Exec(ctx, req)
			cancel()
			if err == nil || !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "replica 0:") {
				return err
			}
		}
		return err
	}
	assert.ErrorContains(t, execErr(client.Request{Client: 0, Seq: 1, Op: paxos.OpPut, Key: "k"}), "reserved")
	assert.ErrorContains(t, execErr(client.Request{Client: 5, Seq: 1, Op: paxos.OpNop}), "unsupported")
	assert.Empty(t, s.commands())
}

// ExecAsync drives closed-loop clients from its callbacks (each reply
// sends that client's next command) and retries elsewhere, as Exec does,
// when the first replica refuses.
func TestClientExecAsync(t *testing.T) {
	shared := kv.NewExecutor(paxos.Config{})
	failing := &store{kv: shared, mode: "fail"}
	good := &store{kv: shared}
	cl, err := client.New([]string{serve(t, good, 0), serve(t, failing, 1)}, client.Options{Token: testToken})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	const clients, rounds = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, clients*rounds)
	var next func(c, seq int)
	next = func(c, seq int) {
		if seq > rounds {
			wg.Done()
			return
		}
		id := uint64(100 + c)
		cl.ExecAsync(ctx, client.Request{Client: id, Seq: uint64(seq), Op: paxos.OpPut, Key: fmt.Sprint("k", c), Value: fmt.Sprint(seq)},
			func(res client.Result, err error) {
				if err == nil && res.Replica != 0 {
					err = fmt.Errorf("answered by replica %d", res.Replica)
				}
				if err != nil {
					errs <- err
				}
				next(c, seq+1)
			})
	}
	wg.Add(clients)
	for c := range clients {
		next(c, 1)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.Len(t, good.commands(), clients*rounds)
	v, err := cl.Get(ctx, "k3")
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(rounds), v)

	// A refusal is retried at the next replica with the same (client, seq).
	cl.Prefer(1)
	done := make(chan client.Result, 1)
	cl.ExecAsync(ctx, client.Request{Client: 7, Seq: 1, Op: paxos.OpPut, Key: "r", Value: "x"}, func(res client.Result, err error) {
		assert.NoError(t, err)
		done <- res
	})
	res := <-done
	assert.Equal(t, paxos.NodeID(0), res.Replica)
	assert.Equal(t, 2, res.Attempts)
	seen := failing.commands()
	require.Len(t, seen, 1)
	assert.Equal(t, paxos.CommandID{Client: 7, Seq: 1}, seen[0].ID())
}

// TestClientCloseDuringCalls closes a client while goroutines keep calls
// outstanding on its connection (found without a lock): every call
// returns at once, those after the close fail with ErrClosed (not at
// their deadline), and none dials a connection after it.
func TestClientCloseDuringCalls(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var accepted sync.WaitGroup
	var accepts int
	var mu sync.Mutex
	accepted.Add(1)
	go func() {
		defer accepted.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepts++
			mu.Unlock()
			defer c.Close()
			go echo(c)
		}
	}()
	cl, err := client.New([]string{ln.Addr().String()}, client.Options{AttemptTimeout: time.Second})
	require.NoError(t, err)
	var started sync.WaitGroup
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for {
				// A ceiling only (a loaded CI machine): calls are answered
				// at once, and fail at once after the close.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := cl.Put(ctx, fmt.Sprint("k", g), "v")
				cancel()
				if first {
					first = false
					assert.NoError(t, err, "a call before the close")
					started.Done()
				}
				if err != nil {
					return
				}
			}
		}()
	}
	started.Wait() // every goroutine had a call answered
	mu.Lock()
	before := accepts // the connection the first callers' shared dial opened
	mu.Unlock()
	require.NoError(t, cl.Close())
	wg.Wait() // and each returned once the client closed
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = cl.Put(ctx, "after", "close")
	require.ErrorIs(t, err, client.ErrClosed)
	require.NoError(t, ctx.Err(), "a call after the close fails at once, not at its deadline")
	ln.Close()
	accepted.Wait()
	mu.Lock()
	assert.Equal(t, before, accepts, "connections dialled after the close")
	mu.Unlock()
}
