package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/transport"
)

// countingConn counts the writes made to a connection.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// burstServer answers the requests on c in rounds: it waits until it has
// k of them, then answers all k in one write, as a replica answering a
// batch does. It returns how many rounds it served.
func burstServer(t *testing.T, c net.Conn, k int) int {
	br := bufio.NewReaderSize(c, 64<<10)
	var out, buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	rounds := 0
	for {
		out.Reset()
		for range k {
			frame, err := transport.ReadFrame(br, nil, MaxFrame)
			if err != nil {
				return rounds
			}
			var req Request
			if err := paxos.DecodeInto(frame, &req); err != nil {
				t.Errorf("burst server: %v", err)
				return rounds
			}
			buf.Reset()
			if err := enc.Encode(&Reply{Client: req.Client, Seq: req.Seq}); err != nil {
				t.Errorf("burst server: %v", err)
				return rounds
			}
			if err := transport.WriteFrame(&out, buf.Bytes()); err != nil {
				t.Errorf("burst server: %v", err)
				return rounds
			}
		}
		if _, err := c.Write(out.Bytes()); err != nil {
			return rounds
		}
		rounds++
	}
}

// TestSyncCallsOfOneBurstLeaveTogether: k goroutines each keep one
// synchronous call outstanding on one connection, and the replica answers
// them k at a time. The callers one burst of replies wakes send their
// next requests in a few writes, not one write each (flushLoop yields to
// them before it writes).
func TestSyncCallsOfOneBurstLeaveTogether(t *testing.T) {
	const k, calls = 64, 40 // calls per goroutine
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rounds := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			rounds <- 0
			return
		}
		defer c.Close()
		rounds <- burstServer(t, c, k)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingConn{Conn: nc}
	cn := newConn(cc, asyncSweep)
	var wg sync.WaitGroup
	for g := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				var rep Reply
				err := cn.call(ctx, 10*time.Second, &Request{Client: uint64(g + 1), Seq: uint64(i + 1), Op: paxos.OpPut, Key: "k", Value: "v"}, &rep)
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	writes := cc.writes.Load()
	cn.close(ErrClosed)
	if r := <-rounds; r != calls {
		t.Fatalf("the server answered %d rounds of %d, want %d", r, k, calls)
	}
	// The first round's requests leave as their callers start; each
	// later round's were woken by one burst of replies.
	perRound := float64(writes) / calls
	t.Logf("%d writes for %d rounds of %d calls: %.1f a round", writes, calls, k, perRound)
	if perRound > k/4 {
		t.Fatalf("%.1f writes a round of %d calls woken by one burst, want at most %d", perRound, k, k/4)
	}
}

// TestFirstCallsShareOneDial: goroutines that make their first call on a
// new client at once share one dial, so the replica sees one connection,
// not one per goroutine.
func TestFirstCallsShareOneDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				burstServer(t, c, 1)
			}()
		}
	}()
	cl, err := New([]string{ln.Addr().String()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const callers = 32
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cl.Put(ctx, fmt.Sprintf("k%d", g), "v"); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := accepted.Load(); n != 1 {
		t.Fatalf("%d callers opened %d connections, want 1", callers, n)
	}
}

// silentServer accepts one connection and reads it without ever
// answering; it returns the client's end.
func silentServer(t *testing.T) net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// waiting returns how many calls wait on cn.
func waiting(cn *conn) int {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.async.Len()
}

// TestSyncCallEndsWithItsContextOrTimeout: a synchronous call that gets
// no reply returns soon after its context is cancelled (long before its
// attempt timeout), and with context.DeadlineExceeded once its attempt
// timeout passes; either way it leaves no entry behind, and the
// connection goes on carrying calls.
func TestSyncCallEndsWithItsContextOrTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	cn := newConn(silentServer(t), sweepPeriod(timeout))
	defer cn.close(ErrClosed)
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		start := time.Now()
		var rep Reply
		err := cn.call(ctx, time.Minute, &Request{Client: 1, Seq: uint64(i + 1), Op: paxos.OpPut, Key: "k"}, &rep)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("call %d: %v after its context was cancelled, want context.Canceled", i, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("call %d returned %v after it started, its context cancelled after 10ms", i, d)
		}
		if n := waiting(cn); n != 0 {
			t.Fatalf("call %d: %d calls left waiting after it was cancelled", i, n)
		}
	}
	start := time.Now()
	var rep Reply
	err := cn.call(context.Background(), timeout, &Request{Client: 2, Seq: 1, Op: paxos.OpPut, Key: "k"}, &rep)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call with no reply returned %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d < timeout {
		t.Fatalf("a call with no reply timed out after %v, before its timeout %v", d, timeout)
	}
	if n := waiting(cn); n != 0 {
		t.Fatalf("%d calls left waiting after the timeout", n)
	}
}

// TestSecondCallOfOneCommandFailsAtOnce: a call whose client and sequence
// number are those of a call still waiting on the connection fails at once
// with ErrInFlight, synchronous or not, and leaves the first one waiting
// for its own reply (which the connection could not have told apart from
// the second's). Before, the second took the first's place and the first
// waited until its context ended, or for ever.
func TestSecondCallOfOneCommandFailsAtOnce(t *testing.T) {
	cn := newConn(silentServer(t), sweepPeriod(time.Minute))
	defer cn.close(ErrClosed)
	req := Request{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "k"}
	first := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		var rep Reply
		first <- cn.call(ctx, time.Minute, &req, &rep)
	}()
	for waiting(cn) != 1 {
		runtime.Gosched()
	}
	var rep Reply
	again := req
	bounded, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := cn.call(bounded, time.Minute, &again, &rep); !errors.Is(err, ErrInFlight) {
		t.Fatalf("a second call of one command returned %v, want ErrInFlight", err)
	}
	var w asyncEntry
	w.call = &syncCall{done: make(chan struct{}, 1)}
	if err := cn.callAsync(time.Now().Add(time.Minute), &again, &w); !errors.Is(err, ErrInFlight) {
		t.Fatalf("a second asynchronous call of one command returned %v, want ErrInFlight", err)
	}
	if n := waiting(cn); n != 1 {
		t.Fatalf("%d calls waiting, want the first one only", n)
	}
	select {
	case err := <-first:
		t.Fatalf("the first call returned %v while its command was still waiting", err)
	default:
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("the first call returned %v after its context was cancelled, want context.Canceled", err)
	}
}
