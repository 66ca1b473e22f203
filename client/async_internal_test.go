package client

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
)

// closingConn is a connection whose first write fails after the
// connection was closed from the reading side, as when a replica drops a
// connection while a request is being written to it.
type closingConn struct {
	net.Conn // nil: methods not overridden are not called
	cn       atomic.Pointer[conn]
	closed   chan struct{}
}

func (c *closingConn) Read([]byte) (int, error) { <-c.closed; return 0, errors.New("closed") }
func (c *closingConn) Write([]byte) (int, error) {
	c.cn.Load().close(errors.New("replica closed the connection"))
	return 0, errors.New("broken pipe")
}
func (c *closingConn) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return nil
}
func (c *closingConn) SetWriteDeadline(time.Time) error { return nil }

// TestCallAsyncAnswersOnceWhenClosedDuringWrite: a request whose write
// fails because the connection closed meanwhile is answered once, by the
// close, and callAsync then reports no error of its own (ExecAsync would
// otherwise retry it a second time and complete it twice).
func TestCallAsyncAnswersOnceWhenClosedDuringWrite(t *testing.T) {
	nc := &closingConn{closed: make(chan struct{})}
	cn := newConn(nc, asyncSweep)
	nc.cn.Store(cn)
	var answers atomic.Int32
	// A request larger than flushAt is written at once, by the caller.
	req := Request{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "k", Value: strings.Repeat("v", 64<<10)}
	err := cn.callAsync(time.Now().Add(time.Minute), &req, &asyncEntry{call: asyncFunc(func(_ Reply, err error) {
		if err == nil {
			t.Error("the call succeeded on a closed connection")
		}
		answers.Add(1)
	})})
	if err != nil {
		t.Fatalf("callAsync reported %v after the close had answered the call", err)
	}
	if n := answers.Load(); n != 1 {
		t.Fatalf("the call was answered %d times, want 1", n)
	}
}

// asyncFunc adapts a function to asyncCall, for tests that call callAsync
// directly.
type asyncFunc func(Reply, error)

func (f asyncFunc) answer(rep Reply, err error) { f(rep, err) }
