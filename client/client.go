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
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
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

	mu     sync.Mutex
	conns  []*conn
	closed bool
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
	return &Client{addrs: append([]string(nil), addrs...), opts: opts, id: id, conns: make([]*conn, len(addrs))}, nil
}

// ID returns the client's id.
func (c *Client) ID() uint64 { return c.id }

// Prefer makes the client try replica i (an index into addrs) first.
func (c *Client) Prefer(i int) { c.pref.Store(int64(i % len(c.addrs))) }

// Put writes value to key.
func (c *Client) Put(ctx context.Context, key, value string) error {
	_, err := c.DoKV(ctx, paxos.OpPut, key, value)
	return err
}

// Get reads key ("" when it was never written).
func (c *Client) Get(ctx context.Context, key string) (string, error) {
	r, err := c.DoKV(ctx, paxos.OpGet, key, "")
	return r.Output, err
}

// DoKV runs one key-value command with the next sequence number (see Do).
func (c *Client) DoKV(ctx context.Context, op paxos.Op, key, value string) (Result, error) {
	return c.Do(ctx, paxos.Command{Op: op, Key: key, Value: value})
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
	return c.Exec(ctx, Request{Client: cmd.Client, Seq: cmd.Seq, Op: cmd.Op, Key: cmd.Key, Value: cmd.Value,
		Payload: cmd.Payload, Keys: cmd.Keys, ReadOnly: cmd.ReadOnly})
}

// NextSeq reserves and returns the next sequence number (for callers that
// build Requests themselves, e.g. to record histories).
func (c *Client) NextSeq() uint64 { return c.seq.Add(1) }

// Exec runs req as given (its Client and Seq must be set), retrying it
// across replicas until a replica answers without error or ctx ends. An
// authentication failure (ErrAuth: a missing or wrong token) ends it at
// once, since every replica would refuse the same way.
func (c *Client) Exec(ctx context.Context, req Request) (Result, error) {
	n := len(c.addrs)
	start := int(c.pref.Load())
	var last error
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			if last != nil {
				return Result{Attempts: attempt}, fmt.Errorf("client: %w (last failure: %w)", err, last)
			}
			return Result{Attempts: attempt}, err
		}
		i := (start + attempt) % n
		if attempt > 0 && attempt%n == 0 {
			// Every replica failed once; back off a little before the next
			// round (a leader election may be under way).
			backoff := min(time.Duration(attempt/n)*100*time.Millisecond, time.Second)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				continue
			}
		}
		rep, err := c.attempt(ctx, i, req)
		if err == nil && rep.Err == noTokenErr {
			err = fmt.Errorf("client: %w: replica %d: %s", ErrAuth, rep.Replica, rep.Err)
		} else if err == nil && rep.Err != "" {
			err = fmt.Errorf("replica %d: %s", rep.Replica, rep.Err)
		}
		if errors.Is(err, ErrAuth) {
			// A refused token (or none) is refused by every replica: retrying
			// cannot help, so say so at once.
			return Result{Attempts: attempt + 1}, err // already says "client: "
		}
		if err != nil {
			// An attempt cut short by the caller's own deadline says
			// nothing about the replicas: keep the failure before it.
			if last == nil || ctx.Err() == nil {
				last = err
			}
			continue
		}
		c.pref.Store(int64(i))
		res := Result{Output: rep.Output, Replica: paxos.NodeID(rep.Replica), Duplicate: rep.Duplicate, LocalRead: rep.LocalRead, Missing: rep.Missing, Attempts: attempt + 1, Err: rep.CmdErr}
		if rep.CmdErr != "" {
			return res, fmt.Errorf("%w: replica %d: %s", ErrCommand, rep.Replica, rep.CmdErr)
		}
		return res, nil
	}
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
	i := int(c.pref.Load())
	// retry runs Exec from the next replica, the failed attempt counted.
	retry := func() {
		c.pref.CompareAndSwap(int64(i), int64((i+1)%len(c.addrs)))
		go func() {
			res, err := c.Exec(ctx, req)
			res.Attempts++
			done(res, err)
		}()
	}
	cn, err := c.conn(i)
	if err != nil {
		retry()
		return
	}
	err = cn.callAsync(time.Now().Add(c.opts.AttemptTimeout), req, func(rep Reply, err error) {
		if err != nil || rep.Err != "" {
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				c.drop(i, cn)
			}
			retry()
			return
		}
		res := Result{Output: rep.Output, Replica: paxos.NodeID(rep.Replica), Duplicate: rep.Duplicate, LocalRead: rep.LocalRead, Missing: rep.Missing, Attempts: 1, Err: rep.CmdErr}
		if rep.CmdErr != "" {
			done(res, fmt.Errorf("%w: replica %d: %s", ErrCommand, rep.Replica, rep.CmdErr))
			return
		}
		done(res, nil)
	})
	if err != nil {
		if !errors.Is(err, errClosed) {
			c.drop(i, cn)
		}
		retry()
	}
}

var errClosed = errors.New("client closed")

func (c *Client) attempt(ctx context.Context, i int, req Request) (Reply, error) {
	cn, err := c.conn(i)
	if err != nil {
		return Reply{}, err
	}
	rep, err := cn.call(ctx, c.opts.AttemptTimeout, req)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		c.drop(i, cn)
	}
	return rep, err
}

func (c *Client) conn(i int) (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClosed
	}
	if cn := c.conns[i]; cn != nil {
		c.mu.Unlock()
		return cn, nil
	}
	c.mu.Unlock()
	nc, err := c.dial(c.addrs[i])
	if err != nil {
		return nil, fmt.Errorf("client: connect to replica at %s: %w", c.addrs[i], err)
	}
	cn := newConn(nc, sweepPeriod(c.opts.AttemptTimeout))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		cn.close(errClosed)
		return nil, errClosed
	}
	if old := c.conns[i]; old != nil {
		cn.close(errClosed)
		return old, nil
	}
	c.conns[i] = cn
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
	c.mu.Lock()
	if c.conns[i] == cn {
		c.conns[i] = nil
	}
	c.mu.Unlock()
	cn.close(errors.New("connection dropped after an error"))
}

// Close closes the client's connections; calls in progress fail.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	conns := c.conns
	c.conns = make([]*conn, len(c.addrs))
	c.mu.Unlock()
	for _, cn := range conns {
		if cn != nil {
			cn.close(errClosed)
		}
	}
	return nil
}

// conn is one connection to a replica, multiplexing calls by (client,
// seq).
type conn struct {
	nc  net.Conn
	wmu sync.Mutex
	bw  *bufio.Writer
	buf bytes.Buffer     // a request being encoded (under wmu)
	enc *msgpack.Encoder // writes to buf
	// writers counts calls waiting for wmu: a writer that sees another
	// waiting leaves the flush to it, so a burst of calls shares one write.
	writers atomic.Int32

	// kick wakes flushLoop after an asynchronous request was buffered:
	// the requests buffered meanwhile leave in one write.
	kick chan struct{}

	mu sync.Mutex
	// calls waiting for their reply, by (client, seq): one connection may
	// carry several clients' requests.
	calls map[paxos.CommandID]waiting
	sweep bool          // sweepLoop runs (under mu)
	every time.Duration // sweepLoop's period
	err   error
	done  chan struct{}
}

// waiting is a request sent on a connection, waiting for its reply: an
// asynchronous call (callAsync) is answered through done, a synchronous
// one (call) through ch. Whoever takes it out of conn.calls answers it,
// exactly once: the reader with the reply, the sweep at its deadline, or
// the connection's close.
type waiting struct {
	done     func(Reply, error)
	ch       chan answer
	deadline time.Time
}

// answer is a synchronous call's reply, or why it has none.
type answer struct {
	rep Reply
	err error
}

func (w waiting) answer(rep Reply, err error) {
	if w.ch != nil {
		w.ch <- answer{rep, err} // buffered, and answered once: never blocks
		return
	}
	w.done(rep, err)
}

// sweepPeriod is how often a connection looks for calls past their
// deadline: a tenth of the attempt timeout, between 1 ms and asyncSweep.
func sweepPeriod(timeout time.Duration) time.Duration {
	return min(max(timeout/10, time.Millisecond), asyncSweep)
}

func newConn(nc net.Conn, sweepEvery time.Duration) *conn {
	cn := &conn{nc: nc, bw: bufio.NewWriterSize(nc, 32<<10), every: sweepEvery,
		calls: map[paxos.CommandID]waiting{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	cn.enc = msgpack.NewEncoder(&cn.buf)
	go cn.readLoop()
	go cn.flushLoop()
	return cn
}

func (cn *conn) close(err error) {
	cn.mu.Lock()
	var failed []waiting
	if cn.err == nil {
		cn.err = err
		close(cn.done)
		for _, w := range cn.calls {
			failed = append(failed, w)
		}
		clear(cn.calls)
	}
	cn.mu.Unlock()
	cn.nc.Close()
	for _, w := range failed {
		w.answer(Reply{}, fmt.Errorf("client: %w", err))
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
		cn.wmu.Lock()
		var err error
		if cn.bw.Buffered() > 0 {
			cn.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			err = cn.bw.Flush()
		}
		cn.wmu.Unlock()
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
	var expired []waiting
	for {
		select {
		case <-cn.done:
			return
		case now := <-t.C:
			cn.mu.Lock()
			for id, w := range cn.calls {
				if now.After(w.deadline) {
					expired = append(expired, w)
					delete(cn.calls, id)
				}
			}
			idle := len(cn.calls) == 0
			if idle {
				cn.sweep = false
			}
			cn.mu.Unlock()
			for i, w := range expired {
				w.answer(Reply{}, context.DeadlineExceeded)
				expired[i] = waiting{}
			}
			expired = expired[:0]
			if idle {
				return
			}
		}
	}
}

// asyncSweep is the longest period of a connection's sweep for calls
// past their deadline.
const asyncSweep = 100 * time.Millisecond

// callAsync sends req and returns; done is called once with its reply
// (on the reader's goroutine), or with an error when the connection fails
// or deadline passes first. It returns an error, without calling done,
// when the request could not be sent.
func (cn *conn) callAsync(deadline time.Time, req Request, done func(Reply, error)) error {
	id := paxos.CommandID{Client: req.Client, Seq: req.Seq}
	cn.mu.Lock()
	if cn.err != nil {
		err := cn.err
		cn.mu.Unlock()
		return err
	}
	cn.register(id, waiting{done: done, deadline: deadline})
	cn.mu.Unlock()
	cn.wmu.Lock()
	cn.buf.Reset()
	err := req.EncodeMsgpack(cn.enc)
	if err != nil {
		err = fmt.Errorf("client: encode request: %w", err)
	} else if err = writeFrame(cn.bw, cn.buf.Bytes()); err != nil {
		err = fmt.Errorf("client: send request: %w", err)
	}
	cn.wmu.Unlock()
	if err != nil {
		if !cn.withdraw(id) {
			// The connection's close or the deadline sweep took the call
			// first and has answered done: answering again through the
			// error would complete it twice.
			return nil
		}
		return err
	}
	select {
	case cn.kick <- struct{}{}:
	default: // a flush is already due
	}
	return nil
}

func (cn *conn) readLoop() {
	br := bufio.NewReader(cn.nc)
	fd := newFrameDecoder()
	var buf []byte
	for {
		frame, err := readFrame(br, buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("replica closed the connection")
			}
			cn.close(err)
			return
		}
		buf = frame
		var rep Reply
		if err := fd.decode(frame, &rep); err != nil {
			cn.close(fmt.Errorf("malformed reply: %w", err))
			return
		}
		cn.mu.Lock()
		id := paxos.CommandID{Client: rep.Client, Seq: rep.Seq}
		w, ok := cn.calls[id]
		if ok {
			delete(cn.calls, id)
		}
		cn.mu.Unlock()
		if ok {
			w.answer(rep, nil)
		}
	}
}

// answerChans are synchronous calls' reply channels, reused once drained.
var answerChans = sync.Pool{New: func() any { return make(chan answer, 1) }}

// register adds a call waiting for its reply, and starts the deadline
// sweep if none runs (under mu).
func (cn *conn) register(id paxos.CommandID, w waiting) {
	cn.calls[id] = w
	if !cn.sweep {
		cn.sweep = true
		go cn.sweepLoop()
	}
}

// withdraw takes back a call that is still waiting; false means it was
// taken first (answered, expired or failed with the connection) and its
// answer is on its way.
func (cn *conn) withdraw(id paxos.CommandID) bool {
	cn.mu.Lock()
	_, ok := cn.calls[id]
	delete(cn.calls, id)
	cn.mu.Unlock()
	return ok
}

// call sends req and waits for its reply, for at most timeout (checked by
// the connection's sweep, to within a tenth of it), until ctx ends or the
// connection fails; it fails with context.DeadlineExceeded after timeout.
// No timer and no select over the connection's state per call: the
// reader, the sweep or the connection's close answers it on its channel.
func (cn *conn) call(ctx context.Context, timeout time.Duration, req Request) (Reply, error) {
	ch := answerChans.Get().(chan answer)
	id := paxos.CommandID{Client: req.Client, Seq: req.Seq}
	cn.mu.Lock()
	if cn.err != nil {
		err := cn.err
		cn.mu.Unlock()
		answerChans.Put(ch)
		return Reply{}, err
	}
	deadline := time.Now().Add(timeout)
	cn.register(id, waiting{ch: ch, deadline: deadline})
	// A call alone on its connection flushes at once; one among others
	// leaves the flush to flushLoop, so that the calls a burst of replies
	// woke leave in one write rather than one each.
	alone := len(cn.calls) == 1
	cn.mu.Unlock()
	cn.writers.Add(1)
	cn.wmu.Lock()
	cn.writers.Add(-1)
	cn.buf.Reset()
	err := req.EncodeMsgpack(cn.enc)
	if err != nil {
		if cn.writers.Load() == 0 {
			err = errors.Join(err, cn.bw.Flush()) // what earlier writers left
		}
		err = fmt.Errorf("client: encode request: %w", err)
	} else {
		if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
		cn.nc.SetWriteDeadline(deadline)
		err = writeFrame(cn.bw, cn.buf.Bytes())
		if err == nil && alone && cn.writers.Load() == 0 {
			err = cn.bw.Flush()
		}
		if err != nil {
			err = fmt.Errorf("client: send request: %w", err)
		}
	}
	cn.wmu.Unlock()
	if err == nil && !alone {
		select {
		case cn.kick <- struct{}{}:
		default: // a flush is already due
		}
	}
	if err != nil && cn.withdraw(id) {
		answerChans.Put(ch)
		return Reply{}, err
	}
	// Sent, or taken by the close that its failed write caused.
	if done := ctx.Done(); done != nil {
		select {
		case a := <-ch:
			answerChans.Put(ch)
			return a.rep, a.err
		case <-done:
			if cn.withdraw(id) {
				answerChans.Put(ch)
				return Reply{}, ctx.Err()
			}
			// Answered meanwhile: that answer is on its way.
		}
	}
	a := <-ch
	answerChans.Put(ch)
	return a.rep, a.err
}
