// Package client is the Go client of a running cluster, and the server side
// of the client protocol that every replica serves on its client port.
//
// A Client sends each command to one replica and waits for its result. When
// the replica fails, refuses or does not answer within the attempt timeout,
// the client retries the same command, with the same (client, seq), at the
// next replica; replicas execute a (client, seq) at most once, so a retried
// Put takes effect once.
//
// Client ids must be unique across every process that talks to a cluster,
// for all time, or two clients' commands would be taken for retries of each
// other. New draws a random 63-bit id from crypto/rand (a collision among a
// million clients has probability about 1e-7); pass Options.ClientID only
// if you allocate ids yourself.
package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/idtable"
	"github.com/paxos-lab/paxos/transport"
)

// Options tunes a Client.
type Options struct {
	// ClientID, if non-zero, is the client's id; by default a random 63-bit
	// id is drawn (see the package comment).
	ClientID uint64
	// AttemptTimeout bounds one attempt at one replica before the client
	// moves on to the next (default 3s).
	AttemptTimeout time.Duration
	// DialTimeout bounds connecting to a replica, TLS and authentication
	// included (default 1s).
	DialTimeout time.Duration
	// Token is the cluster's client token (transport.ClientToken; `paxos
	// cluster` writes it to <data>/client.token), proved to every replica
	// without being sent. Empty: no token handshake.
	Token string
	// TLS, if set, is used to connect to the client ports: it must trust
	// the cluster's CA (RootCAs) and, if the cluster requires client
	// certificates, hold one (see transport.LoadMutualTLS). An empty
	// ServerName is set to each replica's host.
	TLS *tls.Config
}

// Result is the outcome of one command.
type Result struct {
	// Output is what a Get read ("" for a missing key or a Put).
	Output string
	// Replica is the replica that answered.
	Replica paxos.NodeID
	// Duplicate is set when an earlier attempt of this command had already
	// executed; Output is then that execution's.
	Duplicate bool
	// LocalRead is set when the replica answered a Get under a lease.
	LocalRead bool
	// Missing is set when a Get found no value under its key (see
	// paxos.Execution.Missing).
	Missing bool
	// Attempts is how many replicas were tried.
	Attempts int
	// Err is the command's own error (the state machine's, or why the
	// replicas refuse it); Exec and Do then also return an error wrapping
	// ErrCommand.
	Err string
}

// ErrCommand is wrapped by the error of a command that executed (or was
// refused by every replica) with an error of its own: retrying it returns
// the same error, so the client does not.
var ErrCommand = errors.New("client: the command failed")

// Client talks to a cluster through the client ports of its replicas. It is
// safe for concurrent use: each call takes the next sequence number.
type Client struct {
	addrs []string
	opts  Options
	id    uint64
	seq   atomic.Uint64
	pref  atomic.Int64 // the replica that answered last

	// conns holds each replica's connection, nil until dialled: a call
	// loads it without a lock; mu orders installing, dropping and closing
	// them (closed is written under mu).
	conns  []atomic.Pointer[conn]
	dials  singleflight.Group // by replica index: one dial at a time
	mu     sync.Mutex
	closed atomic.Bool
}

// NewClientID returns a random non-zero 63-bit client id from crypto/rand.
func NewClientID() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("client: draw a random client id: %w", err)
		}
		if id := binary.LittleEndian.Uint64(b[:]) >> 1; id != 0 {
			return id, nil
		}
	}
}

// New returns a client of the replicas at addrs (their client addresses).
// It connects lazily.
func New(addrs []string, opts Options) (*Client, error) {
	if len(addrs) == 0 {
		return nil, errors.New("client: no replica addresses; list every replica's client address")
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 3 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = time.Second
	}
	id := opts.ClientID
	if id == 0 {
		var err error
		if id, err = NewClientID(); err != nil {
			return nil, err
		}
	}
	return &Client{addrs: append([]string(nil), addrs...), opts: opts, id: id, conns: make([]atomic.Pointer[conn], len(addrs))}, nil
}

// ID returns the client's id.
func (c *Client) ID() uint64 { return c.id }

// Prefer makes the client try replica i (an index into addrs) first.
func (c *Client) Prefer(i int) { c.pref.Store(int64(i % len(c.addrs))) }

// Put writes value to key.
func (c *Client) Put(ctx context.Context, key, value string) error {
	req := Request{Client: c.id, Seq: c.seq.Add(1), Op: paxos.OpPut, Key: key, Value: value}
	return c.exec(ctx, &req, nil)
}

// Get reads key ("" when it was never written).
func (c *Client) Get(ctx context.Context, key string) (string, error) {
	r, err := c.DoKV(ctx, paxos.OpGet, key, "")
	return r.Output, err
}

// DoKV runs one key-value command with the next sequence number (see Do).
func (c *Client) DoKV(ctx context.Context, op paxos.Op, key, value string) (Result, error) {
	req := Request{Client: c.id, Seq: c.seq.Add(1), Op: op, Key: key, Value: value}
	var res Result
	err := c.exec(ctx, &req, &res)
	return res, err
}

// Do runs any command, retrying across replicas until one answers or ctx
// ends; after ctx's error the command may or may not have executed. Client
// and Seq are filled in (this client's id, the next sequence number) when
// zero. For an application state machine send Op paxos.OpApp with a
// Payload and the command's Keys (and ReadOnly for a read). The state
// machine's error comes back as an error wrapping ErrCommand, with Result.Err.
func (c *Client) Do(ctx context.Context, cmd paxos.Command) (Result, error) {
	if cmd.Client == 0 {
		cmd.Client = c.id
	}
	if cmd.Seq == 0 {
		cmd.Seq = c.seq.Add(1)
	}
	req := Request(cmd)
	var res Result
	err := c.exec(ctx, &req, &res)
	return res, err
}

// NextSeq reserves and returns the next sequence number (for callers that
// build Requests themselves, e.g. to record histories).
func (c *Client) NextSeq() uint64 { return c.seq.Add(1) }

// Exec runs req as given (its Client and Seq must be set), retrying it
// across replicas until a replica answers without error or ctx ends. An
// authentication failure (ErrAuth: a missing or wrong token) ends it at
// once, since every replica would refuse the same way, and so does Close
// (ErrClosed).
func (c *Client) Exec(ctx context.Context, req Request) (Result, error) {
	var res Result
	err := c.exec(ctx, &req, &res)
	return res, err
}

// exec is Exec, writing its result to *res unless res is nil. Its
// frame, and those of the calls under it, stay small (the failures'
// errors are made out of line): a goroutine waiting in a call that
// outgrows its stack copies it to a larger one, and after the collector
// shrank it, again.
func (c *Client) exec(ctx context.Context, req *Request, res *Result) error {
	n := len(c.addrs)
	start := int(c.pref.Load())
	var last error
	var rep Reply
	for attempt := 0; ; attempt++ {
		if c.closed.Load() {
			res.set(Result{Attempts: attempt})
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			res.set(Result{Attempts: attempt})
			return ctxFailure(err, last)
		}
		i := (start + attempt) % n
		if attempt > 0 && attempt%n == 0 {
			// Every replica failed once; back off a little before the next
			// round (a leader election may be under way).
			if !backOff(ctx, attempt/n) {
				continue
			}
		}
		rep = Reply{}
		err := c.attempt(ctx, i, req, &rep)
		if err == nil && rep.Err != "" {
			err = refusal(&rep)
		}
		if err != nil {
			if errors.Is(err, ErrAuth) || errors.Is(err, ErrInFlight) {
				// A refused token (or none) is refused by every replica:
				// retrying cannot help, so say so at once. So is a
				// command sent while an earlier call of it still waits
				// (the caller's mistake, see ErrInFlight).
				res.set(Result{Attempts: attempt + 1})
				return err // already says "client: "
			}
			// An attempt cut short by the caller's own deadline says
			// nothing about the replicas: keep the failure before it.
			if last == nil || ctx.Err() == nil {
				last = err
			}
			continue
		}
		c.pref.Store(int64(i))
		if res != nil {
			*res = Result{Output: rep.Output, Replica: paxos.NodeID(rep.Replica), Duplicate: rep.Duplicate, LocalRead: rep.LocalRead, Missing: rep.Missing, Attempts: attempt + 1, Err: rep.CmdErr}
		}
		if rep.CmdErr != "" {
			return cmdFailure(&rep)
		}
		return nil
	}
}

// set stores r in *res, unless res is nil.
func (res *Result) set(r Result) {
	if res != nil {
		*res = r
	}
}

// ctxFailure is the error of a call whose ctx ended (err), after the
// attempts' last failure, if any.
//
//go:noinline
func ctxFailure(err, last error) error {
	if last != nil {
		return fmt.Errorf("client: %w (last failure: %w)", err, last)
	}
	return err
}

// backOff waits before the round-th round of attempts (every replica
// failed round times); false if ctx ended first.
//
//go:noinline
func backOff(ctx context.Context, round int) bool {
	select {
	case <-time.After(min(time.Duration(round)*100*time.Millisecond, time.Second)):
		return true
	case <-ctx.Done():
		return false
	}
}

// refusal is the error of a reply with Err set: the replica refused the
// command (to be retried elsewhere), or the token (ErrAuth).
//
//go:noinline
func refusal(rep *Reply) error {
	if rep.Err == noTokenErr {
		return fmt.Errorf("client: %w: replica %d: %s", ErrAuth, rep.Replica, rep.Err)
	}
	return fmt.Errorf("replica %d: %s", rep.Replica, rep.Err)
}

// cmdFailure is the error of a command that executed with an error of
// its own (rep.CmdErr).
//
//go:noinline
func cmdFailure(rep *Reply) error {
	return fmt.Errorf("%w: replica %d: %s", ErrCommand, rep.Replica, rep.CmdErr)
}

// ExecAsync runs req as Exec does, without waiting: done is called
// exactly once with Exec's result. The first attempt goes to the replica
// that answered last, and its reply is handed to done on the connection's
// reader goroutine, so done must not block; it may call ExecAsync again
// (a closed-loop load generator does), and a burst of such requests
// leaves in one write. If that attempt fails (the replica refuses, does
// not answer within the attempt timeout, or its connection fails), the
// command is retried as Exec retries it, on a goroutine of its own that
// then calls done. done never runs on the caller's goroutine during this
// call, but may run before ExecAsync returns. ctx bounds the retries; an
// attempt already sent is answered or timed out whatever ctx does.
func (c *Client) ExecAsync(ctx context.Context, req Request, done func(Result, error)) {
	op := asyncOps.Get().(*asyncOp)
	*op = asyncOp{c: c, ctx: ctx, req: req, done: done, i: int(c.pref.Load())}
	op.wait.call = op
	cn, err := c.conn(op.i)
	if err != nil {
		op.retry()
		return
	}
	op.cn = cn
	if err := cn.callAsync(time.Now().Add(c.opts.AttemptTimeout), &op.req, &op.wait); err != nil {
		if errors.Is(err, ErrInFlight) {
			// Not the connection's fault, and every attempt would find the
			// same call waiting: fail at once, on a goroutine of its own
			// (done never runs on the caller's goroutine).
			go done(Result{Attempts: 1}, err)
			return
		}
		if !errors.Is(err, ErrClosed) {
			c.drop(op.i, cn)
		}
		op.retry()
	}
}

// asyncOp is one ExecAsync command: its first attempt, at replica i over
// cn, is answered by the connection (answer); a failed one is retried as
// Exec retries. It holds all the command needs; one answered at the first
// attempt is reused (asyncOps), one retried is left to the collector.
type asyncOp struct {
	c    *Client
	ctx  context.Context
	req  Request
	done func(Result, error)
	i    int
	cn   *conn
	wait asyncEntry // its entry among cn's waiting calls
}

// answer implements asyncCall.
func (op *asyncOp) answer(rep Reply, err error) {
	if err != nil || rep.Err != "" {
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			op.c.drop(op.i, op.cn)
		}
		op.retry()
		return
	}
	res := Result{Output: rep.Output, Replica: paxos.NodeID(rep.Replica), Duplicate: rep.Duplicate, LocalRead: rep.LocalRead, Missing: rep.Missing, Attempts: 1, Err: rep.CmdErr}
	// The connection answers a call once, having taken it from its map:
	// nothing else holds op now.
	done := op.done
	*op = asyncOp{}
	asyncOps.Put(op)
	if rep.CmdErr != "" {
		done(res, cmdFailure(&rep))
		return
	}
	done(res, nil)
}

// asyncOps holds asyncOps for reuse.
var asyncOps = sync.Pool{New: func() any { return new(asyncOp) }}

// retry runs Exec from the next replica, on a goroutine of its own, the
// failed attempt counted.
func (op *asyncOp) retry() {
	op.c.pref.CompareAndSwap(int64(op.i), int64((op.i+1)%len(op.c.addrs)))
	go func() {
		res, err := op.c.Exec(op.ctx, op.req)
		res.Attempts++
		op.done(res, err)
	}()
}

// ErrClosed is the error of a call on a Client after Close: it fails at
// once, without retrying.
var ErrClosed = errors.New("client closed")

// attempt sends req to replica i and waits for its reply, written to
// *rep (which must be zero).
func (c *Client) attempt(ctx context.Context, i int, req *Request, rep *Reply) error {
	cn, err := c.conn(i)
	if err != nil {
		return err
	}
	err = cn.call(ctx, c.opts.AttemptTimeout, req, rep)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrInFlight) {
		c.drop(i, cn)
	}
	return err
}

// conn returns the connection to replica i, dialling it if there is none.
// The common case, a connection in place, takes no lock: Close empties
// conns before closing the connections, so one loaded here either is open
// or fails its call with ErrClosed.
func (c *Client) conn(i int) (*conn, error) {
	if cn := c.conns[i].Load(); cn != nil {
		return cn, nil
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	// The callers that find no connection share one dial: a burst of
	// first calls would otherwise open a connection each and close all
	// but one.
	v, err, _ := c.dials.Do(strconv.Itoa(i), func() (any, error) { return c.connect(i) })
	if err != nil {
		return nil, err
	}
	return v.(*conn), nil
}

// connect dials replica i and installs the connection, unless one is in
// place already.
func (c *Client) connect(i int) (*conn, error) {
	if cn := c.conns[i].Load(); cn != nil {
		return cn, nil
	}
	nc, err := c.dial(c.addrs[i])
	if err != nil {
		return nil, fmt.Errorf("client: connect to replica at %s: %w", c.addrs[i], err)
	}
	cn := newConn(nc, sweepPeriod(c.opts.AttemptTimeout))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		cn.close(ErrClosed)
		return nil, ErrClosed
	}
	if old := c.conns[i].Load(); old != nil {
		cn.close(ErrClosed)
		return old, nil
	}
	c.conns[i].Store(cn)
	return cn, nil
}

// dial connects to addr and runs the TLS and token handshakes, all within
// the dial timeout.
func (c *Client) dial(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: c.opts.DialTimeout}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(c.opts.DialTimeout))
	if c.opts.TLS != nil {
		cfg := c.opts.TLS.Clone()
		if cfg.ServerName == "" {
			if host, _, e := net.SplitHostPort(addr); e == nil {
				cfg.ServerName = host
			}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS: %w", err)
		}
		nc = tc
	}
	if c.opts.Token != "" {
		if err := clientHandshake(nc, c.opts.Token); err != nil {
			nc.Close()
			return nil, err
		}
	}
	nc.SetDeadline(time.Time{})
	return nc, nil
}

func (c *Client) drop(i int, cn *conn) {
	c.conns[i].CompareAndSwap(cn, nil)
	cn.close(errors.New("connection dropped after an error"))
}

// Close closes the client's connections; calls in progress fail.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed.Store(true)
	conns := make([]*conn, 0, len(c.conns))
	for i := range c.conns {
		if cn := c.conns[i].Swap(nil); cn != nil {
			conns = append(conns, cn)
		}
	}
	c.mu.Unlock()
	for _, cn := range conns {
		cn.close(ErrClosed)
	}
	return nil
}

// conn is one connection to a replica, multiplexing calls by (client,
// seq).
type conn struct {
	nc net.Conn
	// Requests are appended, framed, to out (under wmu) and written out by
	// flush: by a synchronous call itself, by flushLoop for asynchronous
	// ones. sendMu orders the writes; the requests appended while one is
	// under way leave in the next.
	wmu    sync.Mutex
	out    []byte // frames not written yet (under wmu)
	spare  []byte // the buffer of the last write, reused (under wmu)
	sendMu sync.Mutex

	// kick wakes flushLoop after an asynchronous request was buffered:
	// the requests buffered meanwhile leave in one write.
	kick chan struct{}
	// replying is set while readLoop answers the replies one read brought
	// in: the requests their callbacks send are left for the kick it
	// gives after the last, so they leave together rather than the first
	// alone (flushLoop would wake at once on another core).
	replying atomic.Bool
	// callerKicked is set when a synchronous call kicked flushLoop: it
	// then lets the other callers runnable go first (see flushLoop).
	callerKicked atomic.Bool
	// readCap is the size of readLoop's buffer, for tests: a large reply
	// grows it, and it shrinks back once the reply is handled.
	readCap atomic.Int64

	mu sync.Mutex
	// async holds the calls waiting for their reply, by (client, seq): one
	// connection may carry several clients' requests. Whoever takes a call
	// out answers it, exactly once: the reader with its reply, the sweep
	// at its deadline, or the connection's close. (An open-addressing
	// table rather than a map: a call's insert and delete, under mu, are
	// the lock's hold time for the 1,024 callers and the reader that
	// share it.)
	async idtable.Table[*asyncEntry]
	sweep bool          // sweepLoop runs (under mu)
	every time.Duration // sweepLoop's period
	err   error
	done  chan struct{}
}

// asyncCall is what a call waiting on a connection is answered through:
// exactly once, with the reply, or with an error when the connection
// fails or the deadline passes first. callAsync's callers implement it; a
// synchronous call waits with a syncCall.
type asyncCall interface {
	answer(Reply, error)
}

// syncCall is what a synchronous call (conn.call) waits with: its entry
// among the connection's waiting calls, and its answer, stored before
// done is signalled (done has room for the one signal, so whoever
// answers does not wait).
type syncCall struct {
	wait asyncEntry
	rep  Reply
	err  error
	done chan struct{}
}

func (sc *syncCall) answer(rep Reply, err error) {
	sc.rep, sc.err = rep, err
	sc.done <- struct{}{}
}

// result moves the answer out, once done was received from.
func (sc *syncCall) result(rep *Reply) error {
	*rep = sc.rep
	err := sc.err
	sc.rep, sc.err = Reply{}, nil
	return err
}

// syncCalls are synchronous calls' entries and channels, reused once the
// signal was received (nothing else holds them then).
var syncCalls = sync.Pool{New: func() any {
	sc := &syncCall{done: make(chan struct{}, 1)}
	sc.wait.call = sc
	return sc
}}

// sweepPeriod is how often a connection looks for calls past their
// deadline: a tenth of the attempt timeout, between 1 ms and asyncSweep.
func sweepPeriod(timeout time.Duration) time.Duration {
	return min(max(timeout/10, time.Millisecond), asyncSweep)
}

// asyncEntry is a request sent on a connection, waiting for its reply.
// The connection holds a pointer to it (a table of pointers is probed
// faster than one of structs) until it takes the call out to answer it;
// the caller owns it again once answered.
type asyncEntry struct {
	call     asyncCall
	deadline time.Time
}

// Buffers of requests not written yet: a write of more than flushAt bytes
// is started by the caller that appends past it (so a fast producer waits
// for the socket, as a full bufio.Writer would make it); a written buffer
// of at most keepOut bytes is kept for reuse.
const (
	flushAt = 32 << 10
	keepOut = 256 << 10
)

func newConn(nc net.Conn, sweepEvery time.Duration) *conn {
	cn := &conn{nc: nc, every: sweepEvery, kick: make(chan struct{}, 1), done: make(chan struct{})}
	// The calls come and go in bursts (a batch of replies answers
	// hundreds at once, and their callers send again): a table shrinking
	// after each burst and growing before the next would allocate per
	// burst.
	cn.async.KeepSize()
	go cn.readLoop()
	go cn.flushLoop()
	return cn
}

// queue appends req's frame to the output; it reports how many bytes are
// waiting to be written, or an error (and appends nothing) for a request
// larger than a frame may be.
func (cn *conn) queue(req *Request) (int, error) {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	at := len(cn.out)
	b := append(cn.out, 0, 0, 0, 0)
	b = paxos.AppendCommand(b, (*paxos.Command)(req))
	n := len(b) - at - 4
	if n > MaxFrame {
		cn.out = b[:at]
		return 0, fmt.Errorf("request of %d bytes, at most %d accepted", n, MaxFrame)
	}
	binary.BigEndian.PutUint32(b[at:], uint32(n))
	cn.out = b
	return len(b), nil
}

// flush writes what was queued, bounding the write by deadline.
func (cn *conn) flush(deadline time.Time) error {
	cn.sendMu.Lock()
	defer cn.sendMu.Unlock()
	cn.wmu.Lock()
	out := cn.out
	cn.out, cn.spare = cn.spare[:0], nil
	cn.wmu.Unlock()
	var err error
	if len(out) > 0 {
		cn.nc.SetWriteDeadline(deadline)
		_, err = cn.nc.Write(out)
	}
	if cap(out) <= keepOut {
		cn.wmu.Lock()
		cn.spare = out[:0]
		cn.wmu.Unlock()
	}
	return err
}

func (cn *conn) close(err error) {
	cn.mu.Lock()
	var failed []asyncCall
	if cn.err == nil {
		cn.err = err
		close(cn.done)
		cn.async.All(func(_ idtable.ID, a *asyncEntry) { failed = append(failed, a.call) })
		cn.async.Clear()
	}
	cn.mu.Unlock()
	cn.nc.Close()
	for _, a := range failed {
		a.answer(Reply{}, fmt.Errorf("client: %w", err))
	}
}

// flushLoop writes out what asynchronous requests buffered, once per
// wake-up: a burst of requests sent from the reader's callbacks costs one
// write, not one each.
func (cn *conn) flushLoop() {
	for {
		select {
		case <-cn.kick:
		case <-cn.done:
			return
		}
		// A kick from a synchronous call: let the goroutines already
		// runnable go first. The callers that one burst of replies woke
		// queue their requests and kick this loop one after another, and
		// a kick hands it the processor at once (it runs next), so without
		// this each would leave in a write of its own. (The requests
		// callbacks send from readLoop are gathered by its own kick after
		// the burst: nothing to wait for then.)
		if cn.callerKicked.Swap(false) {
			runtime.Gosched()
		}
		err := cn.flush(time.Now().Add(10 * time.Second))
		if err != nil {
			cn.close(fmt.Errorf("send request: %w", err))
			return
		}
	}
}

// sweepLoop answers calls whose deadline passed with
// context.DeadlineExceeded; it runs while the connection has any.
func (cn *conn) sweepLoop() {
	t := time.NewTicker(cn.every)
	defer t.Stop()
	var expired []asyncCall
	var ids []idtable.ID
	for {
		select {
		case <-cn.done:
			return
		case now := <-t.C:
			cn.mu.Lock()
			cn.async.All(func(id idtable.ID, a *asyncEntry) {
				if now.After(a.deadline) {
					expired = append(expired, a.call)
					ids = append(ids, id)
				}
			})
			for _, id := range ids {
				cn.take(id)
			}
			ids = ids[:0]
			idle := cn.async.Len() == 0
			if idle {
				cn.sweep = false
			}
			cn.mu.Unlock()
			for i, a := range expired {
				a.answer(Reply{}, context.DeadlineExceeded)
				expired[i] = nil
			}
			expired = expired[:0]
			if idle {
				return
			}
		}
	}
}

// asyncSweep is the longest period of a connection's sweep for calls past
// their deadline.
const asyncSweep = 100 * time.Millisecond

// callAsync sends req and returns; call is answered once with its reply
// (on the reader's goroutine), or with an error when the connection fails
// or deadline passes first. It returns an error, without answering call,
// when the request could not be sent.
func (cn *conn) callAsync(deadline time.Time, req *Request, w *asyncEntry) error {
	id := idtable.ID{Client: req.Client, Seq: req.Seq}
	cn.mu.Lock()
	if cn.err != nil {
		err := cn.err
		cn.mu.Unlock()
		return err
	}
	w.deadline = deadline
	if !cn.register(id, w) {
		cn.mu.Unlock()
		return inFlight(id)
	}
	cn.mu.Unlock()
	queued, err := cn.queue(req)
	if err == nil && queued >= flushAt {
		// Write now rather than let the output grow: a failed write
		// closes the connection, which answers this call with the others.
		if err := cn.flush(time.Now().Add(10 * time.Second)); err != nil {
			cn.close(fmt.Errorf("send request: %w", err))
		}
		return nil
	}
	if err != nil {
		if !cn.withdraw(id) {
			// The connection's close or the deadline sweep took the call
			// first and has answered it: answering again through the
			// error would complete it twice.
			return nil
		}
		return fmt.Errorf("client: encode request: %w", err)
	}
	if !cn.replying.Load() {
		cn.wake()
	}
	return nil
}

// register adds a call waiting for its reply, and starts the deadline
// sweep if none runs (under mu). It refuses (false) a call whose client
// and sequence number are those of a call still waiting here: their
// replies could not be told apart, and the first caller would wait for
// an answer that never comes.
func (cn *conn) register(id idtable.ID, w *asyncEntry) bool {
	i := cn.async.Find(id)
	if cn.async.At(i) != nil {
		return false
	}
	cn.async.SetAt(i, id, w)
	if !cn.sweep {
		cn.sweep = true
		go cn.sweepLoop()
	}
	return true
}

// ErrInFlight is the error of a call whose client and sequence number are
// those of a call still waiting for its reply on the same connection (two
// goroutines sent the same Request at once). It is not retried: give each
// command its own sequence number (NextSeq), and retry one only after its
// earlier call returned.
var ErrInFlight = errors.New("a call with the same client and sequence number is still waiting for its reply")

// inFlight is ErrInFlight for id.
//
//go:noinline
func inFlight(id idtable.ID) error {
	return fmt.Errorf("client: %w (client %d, seq %d)", ErrInFlight, id.Client, id.Seq)
}

// withdraw takes back a call that is still waiting; false means it was
// taken first (answered, expired or failed with the connection) and its
// answer is given or on its way.
func (cn *conn) withdraw(id idtable.ID) bool {
	cn.mu.Lock()
	ok := cn.take(id) != nil
	cn.mu.Unlock()
	return ok
}

// wake makes flushLoop write what is queued.
func (cn *conn) wake() {
	select {
	case cn.kick <- struct{}{}:
	default: // a flush is already due
	}
}

// readLoop reads replies and answers their calls. Frames are taken
// straight from its read buffer: every complete frame a read brought in is
// handled before the next read.
func (cn *conn) readLoop() {
	buf := make([]byte, readBuf)
	r, w := 0, 0 // buf[r:w] holds bytes read and not handled yet
	for {
		// Handle the complete frames in buf[r:w].
		cn.replying.Store(true)
		for w-r >= 4 {
			n := int(binary.BigEndian.Uint32(buf[r:]))
			if n == 0 {
				cn.close(fmt.Errorf("malformed reply: %w", transport.ErrEmptyFrame))
				return
			}
			if n > MaxFrame {
				cn.close(fmt.Errorf("%w: %d bytes declared, at most %d accepted", transport.ErrFrameTooLarge, n, MaxFrame))
				return
			}
			if w-r-4 < n {
				if 4+n > len(buf) {
					// A frame larger than the buffer: grow it to fit.
					grown := make([]byte, max(4+n, 2*len(buf)))
					w = copy(grown, buf[r:w])
					buf, r = grown, 0
					cn.readCap.Store(int64(len(buf)))
				}
				break
			}
			frame := buf[r+4 : r+4+n]
			r += 4 + n
			var rep Reply
			if !parseReply(frame, &rep) {
				dec := new(Reply) // the decoder's, which escapes
				if err := paxos.DecodeInto(frame, dec); err != nil {
					cn.close(fmt.Errorf("malformed reply: %w", err))
					return
				}
				rep = *dec
			}
			cn.deliver(rep)
		}
		// A request queued while replying was set is written now. (One
		// queued after this store kicks flushLoop itself; one queued
		// before it is seen below.)
		cn.replying.Store(false)
		cn.wmu.Lock()
		queued := len(cn.out) > 0
		cn.wmu.Unlock()
		if queued {
			cn.wake()
		}
		if r == w {
			r, w = 0, 0
			if len(buf) > readBuf {
				// A large reply grew the buffer: give it back.
				buf = make([]byte, readBuf)
				cn.readCap.Store(readBuf)
			}
		} else if r > 0 && len(buf)-w < readBuf/4 {
			// Little room left after the partial frame: move it to the front.
			w = copy(buf, buf[r:w])
			r = 0
		}
		k, err := cn.nc.Read(buf[w:])
		w += k
		if err != nil && k == 0 {
			switch {
			case errors.Is(err, io.EOF) && r == w:
				err = errors.New("replica closed the connection")
			case errors.Is(err, io.EOF):
				err = io.ErrUnexpectedEOF
			}
			cn.close(err)
			return
		}
	}
}

// readBuf is the size of a connection's read buffer.
const readBuf = 64 << 10

// deliver answers the call rep answers, if any is waiting.
func (cn *conn) deliver(rep Reply) {
	cn.mu.Lock()
	a := cn.take(idtable.ID{Client: rep.Client, Seq: rep.Seq})
	cn.mu.Unlock()
	if a != nil {
		a.call.answer(rep, nil)
	}
}

// take removes the call waiting under id and returns it; nil if none
// waits (under mu).
func (cn *conn) take(id idtable.ID) *asyncEntry {
	i := cn.async.Find(id)
	a := cn.async.At(i)
	if a != nil {
		cn.async.Delete(i)
	}
	return a
}

// call sends req and waits for its reply, written to *rep, for at most
// timeout (checked by the connection's sweep, to within a tenth of it),
// until ctx ends or the connection fails; it fails with
// context.DeadlineExceeded after timeout. No timer and no select over the
// connection's state per call: the reader, the sweep or the connection's
// close answers it through its syncCall.
func (cn *conn) call(ctx context.Context, timeout time.Duration, req *Request, rep *Reply) error {
	sc := syncCalls.Get().(*syncCall)
	id := idtable.ID{Client: req.Client, Seq: req.Seq}
	cn.mu.Lock()
	if cn.err != nil {
		err := cn.err
		cn.mu.Unlock()
		syncCalls.Put(sc)
		return err
	}
	sc.wait.deadline = time.Now().Add(timeout)
	if !cn.register(id, &sc.wait) {
		cn.mu.Unlock()
		syncCalls.Put(sc)
		return inFlight(id)
	}
	// A call alone on its connection writes at once; one among others
	// leaves the write to flushLoop, so that the calls one burst of
	// replies woke leave in one write rather than one each.
	alone := cn.async.Len() == 1
	cn.mu.Unlock()
	queued, err := cn.queue(req)
	switch {
	case err != nil:
		err = fmt.Errorf("client: encode request: %w", err)
	case alone || queued >= flushAt:
		err = cn.send(ctx, sc.wait.deadline)
	case !cn.replying.Load():
		cn.callerKicked.Store(true)
		cn.wake()
	}
	if err != nil && cn.withdraw(id) {
		syncCalls.Put(sc)
		return err
	}
	// Sent, or answered by the close its failed write caused.
	if done := ctx.Done(); done != nil {
		select {
		case <-sc.done:
			err := sc.result(rep)
			syncCalls.Put(sc)
			return err
		case <-done:
			if cn.withdraw(id) {
				syncCalls.Put(sc)
				return ctx.Err()
			}
			// Answered meanwhile: that answer is on its way.
		}
	}
	<-sc.done
	err = sc.result(rep)
	syncCalls.Put(sc)
	return err
}

// send writes what is queued for a synchronous call, by deadline or ctx's
// deadline if earlier; a failed write closes the connection, failing
// every call on it.
func (cn *conn) send(ctx context.Context, deadline time.Time) error {
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := cn.flush(deadline); err != nil {
		// The connection cannot be written to (a part of a frame may
		// have left).
		cn.close(fmt.Errorf("send request: %w", err))
		return fmt.Errorf("client: send request: %w", err)
	}
	return nil
}
