package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/transport"
)

// Submitter executes a command at one replica and returns its execution;
// *node.Node implements it.
type Submitter interface {
	Submit(ctx context.Context, cmd paxos.Command) (paxos.Execution, error)
}

// AsyncSubmitter is a Submitter that can also take a command without a
// goroutine waiting for it (*node.Node implements it): done is called
// exactly once, on the replica's goroutine, with the execution or an error
// (the deadline passed, the replica stopped), and must not block. The
// server then spends no goroutine, context or timer per request.
type AsyncSubmitter interface {
	Submitter
	SubmitAsync(cmd paxos.Command, deadline time.Time, done func(paxos.CommandID, paxos.Execution, error))
}

// BatchSubmitter is an AsyncSubmitter that also takes several commands in
// one call (*node.Node implements it), handed to the replica together;
// done is called once per command, as for SubmitAsync. The server submits
// so the requests of one connection that arrived together (read into its
// buffer at once), up to maxSubmitBatch, instead of one hand-off each.
type BatchSubmitter interface {
	AsyncSubmitter
	SubmitAsyncBatch(cmds []paxos.Command, deadline time.Time, done func(paxos.CommandID, paxos.Execution, error))
}

// maxSubmitBatch bounds the requests the server hands to a BatchSubmitter
// in one call.
const maxSubmitBatch = 256

// ServerConfig configures a Server.
type ServerConfig struct {
	// Submitter executes the commands.
	Submitter Submitter
	// Replica is this replica's id, reported in replies.
	Replica paxos.NodeID
	// Timeout bounds one request at the replica (default 5s); the reply is
	// then an error and the client retries elsewhere.
	Timeout time.Duration
	// MaxInFlight bounds the requests one connection may have outstanding
	// (default DefaultMaxInFlight); further requests wait, and the
	// connection is not read meanwhile.
	MaxInFlight int
	// Token, if set, is the client token every connection must prove
	// (see transport.ClientToken) before its first request.
	Token string
	// TLS, if set, is the server side of TLS on the client port; with
	// ClientAuth = tls.RequireAndVerifyClientCert (transport.MutualTLS)
	// every client must present a certificate the CA signed.
	TLS *tls.Config
	// Insecure allows a server with neither Token nor TLS client
	// certificates: anyone who reaches the client port may submit
	// commands. NewServer refuses to run without authentication unless it
	// is set.
	Insecure bool
	// Limits bound the client port's connections; IdleTimeout defaults to
	// DefaultIdleTimeout here (negative: none).
	Limits transport.Limits
	// Logger receives connection errors (default slog.Default()).
	Logger *slog.Logger
}

// DefaultMaxInFlight is the default of ServerConfig.MaxInFlight.
const DefaultMaxInFlight = 1024

// DefaultIdleTimeout is how long a client connection may stay silent
// before the replica closes it, unless ServerConfig.Limits says otherwise.
const DefaultIdleTimeout = 5 * time.Minute

// Server serves the client protocol on a replica's client port.
type Server struct {
	cfg    ServerConfig
	cfgErr error // a configuration Serve refuses
	guard  *transport.Guard
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	closed bool
}

// NewServer returns a server; call Serve with a listener. A configuration
// without authentication (no Token, no TLS client certificates) is refused
// by Serve unless Insecure is set; NewServer logs a warning then.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	switch {
	case cfg.Limits.IdleTimeout == 0:
		cfg.Limits.IdleTimeout = DefaultIdleTimeout
	case cfg.Limits.IdleTimeout < 0:
		cfg.Limits.IdleTimeout = 0
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	var cfgErr error
	certs := cfg.TLS != nil && cfg.TLS.ClientAuth == tls.RequireAndVerifyClientCert
	if cfg.Token == "" && !certs {
		if cfg.Insecure {
			lg.Warn("client server: INSECURE: clients are not authenticated; anyone who reaches the client port can read and write")
		} else {
			cfgErr = fmt.Errorf("client server: %w: no authentication: set ServerConfig.Token or TLS with client certificates, or Insecure to let anyone who reaches the client port submit commands", paxos.ErrConfig)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, cfgErr: cfgErr, guard: transport.NewGuard(cfg.Limits, lg, "client port"), log: lg, ctx: ctx, cancel: cancel,
		lns: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
}

// GuardStats returns the client port's abuse counters.
func (s *Server) GuardStats() transport.GuardStats { return s.guard.Stats() }

// Serve accepts connections on ln until Close. It returns nil after Close,
// and an error wrapping paxos.ErrConfig (closing ln) for a server without
// authentication that is not Insecure.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfgErr != nil {
		ln.Close()
		return s.cfgErr
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	failures := 0
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			failures++
			if !s.guard.AcceptFailed(s.ctx, err, failures) {
				return nil
			}
			continue
		}
		failures = 0
		release, ok := s.guard.Admit(c)
		if !ok {
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			release()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer release()
			s.serveConn(c)
		}()
	}
}

// Close stops accepting, cancels outstanding requests, closes every
// connection and waits for the server's goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cancel()
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	// Authenticate before allocating anything per connection.
	br := bufio.NewReader(c)
	if !s.authenticate(c, br) {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		return
	}
	s.guard.Authenticated(c)
	var inflight sync.WaitGroup
	// sem bounds the requests in flight plus the replies queued.
	sem := make(chan struct{}, s.cfg.MaxInFlight)
	// Replies queue in out for the connection's writer, which wake rouses
	// when out goes from empty to not empty; it then takes every reply
	// queued at once. An asynchronous answer, sent from the replica's
	// goroutine, never blocks, and a burst of answers costs one wake-up
	// and one flush, not a channel hand-off each.
	var outMu sync.Mutex
	var out []Reply
	closed := false
	wake := make(chan struct{}, 1)
	send := func(rep Reply) {
		outMu.Lock()
		if !closed { // late asynchronous answers are dropped
			out = append(out, rep)
			if len(out) == 1 {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
		outMu.Unlock()
	}
	writerDone := make(chan struct{})
	// One writer per connection; it flushes when no reply is queued, so
	// replies batch under load without delaying any.
	go func() {
		defer close(writerDone)
		bw := bufio.NewWriter(c)
		enc := msgpack.NewEncoder(nil)
		var buf bytes.Buffer
		broken := false
		fail := func(err error) {
			if err != nil && !broken {
				broken = true
				c.Close()
			}
		}
		var batch []Reply // the replies taken from out, encoded in place
		for {
			_, open := <-wake
			for {
				outMu.Lock()
				batch, out = out, batch[:0]
				outMu.Unlock()
				if len(batch) == 0 {
					break
				}
				for i := range batch {
					<-sem
					if broken {
						continue
					}
					buf.Reset()
					enc.Reset(&buf)
					err := enc.Encode(&batch[i])
					if err == nil {
						err = writeFrame(bw, buf.Bytes())
					}
					fail(err)
				}
				clear(batch)
				if cap(batch) > 4096 {
					batch = nil // a burst's array is not kept for good
				}
			}
			if !broken && bw.Buffered() > 0 {
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				fail(bw.Flush())
			}
			if !open {
				return
			}
		}
	}()
	defer func() {
		c.Close()
		inflight.Wait()
		outMu.Lock()
		closed = true
		close(wake)
		outMu.Unlock()
		<-writerDone
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	async, _ := s.cfg.Submitter.(AsyncSubmitter)
	replica := int32(s.cfg.Replica)
	done := func(id paxos.CommandID, ex paxos.Execution, err error) {
		rep := Reply{Client: id.Client, Seq: id.Seq, Replica: replica}
		if err != nil {
			rep.Err = err.Error()
		} else {
			rep.Output, rep.Duplicate, rep.LocalRead, rep.Missing, rep.CmdErr = ex.Output, ex.Duplicate, ex.LocalRead, ex.Missing, ex.Err
		}
		send(rep)
	}
	batcher, _ := s.cfg.Submitter.(BatchSubmitter)
	var pend []paxos.Command // requests read, for batcher, not yet submitted
	submit := func() {
		if len(pend) > 0 {
			batcher.SubmitAsyncBatch(pend, time.Now().Add(s.cfg.Timeout), done)
			clear(pend)
			pend = pend[:0]
		}
	}
	fd := newFrameDecoder()
	frames := s.guard.NewFrameConn(c, br, MaxFrame, true)
	var req Request // one per connection: decoding takes its address
	for first := true; ; first = false {
		if len(pend) > 0 && !frames.FrameBuffered() {
			submit() // the next frame is not here yet: hand on what is read
		}
		frame, err := frames.Next()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && s.ctx.Err() == nil && !isEOF(err) && !transport.IsTimeout(err) {
				s.guard.Warn("closing client connection", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		if first && s.cfg.Token == "" && isHello(frame) {
			reason := s.serverHandshake(c, br, frame)
			s.guard.RefusedHandshake(reason, "remote", c.RemoteAddr().String())
			return
		}
		req = Request{}
		err = transport.CheckFrame(frame) // bounds what hostile bytes can make the decoder do
		if err == nil {
			err = fd.decode(frame, &req)
		}
		if err != nil {
			s.guard.Warn("malformed request; closing client connection", "remote", c.RemoteAddr().String(), "err", err)
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			submit() // what is read may hold the replies that free room
			select {
			case sem <- struct{}{}:
			case <-s.ctx.Done():
				return
			}
		}
		if rep, bad := s.check(req); bad {
			send(rep)
			continue
		}
		cmd := paxos.Command{Client: req.Client, Seq: req.Seq, Op: req.Op, Key: req.Key, Value: req.Value,
			Payload: req.Payload, Keys: req.Keys, ReadOnly: req.ReadOnly}
		if batcher != nil {
			// Requests that arrived together go to the replica together:
			// they are submitted once no further frame is buffered (at
			// the top of the loop), or when the batch is full.
			pend = append(pend, cmd)
			if len(pend) >= maxSubmitBatch {
				submit()
			}
			continue
		}
		if async != nil {
			async.SubmitAsync(cmd, time.Now().Add(s.cfg.Timeout), done)
			continue
		}
		inflight.Add(1)
		// Not cmd.ID(): taking cmd's address (a pointer receiver) would make
		// the closure capture cmd by reference and move it to the heap.
		id := paxos.CommandID{Client: cmd.Client, Seq: cmd.Seq}
		go func() {
			defer inflight.Done()
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
			defer cancel()
			ex, err := s.cfg.Submitter.Submit(ctx, cmd)
			done(id, ex, err)
		}()
	}
}

// authenticate runs the TLS handshake and the token handshake (when
// configured) under the handshake deadline; it reports false, with the
// refusal counted and logged (rate-limited), when the client is refused.
func (s *Server) authenticate(c net.Conn, br *bufio.Reader) bool {
	lim := s.guard.Limits()
	c.SetDeadline(time.Now().Add(lim.HandshakeTimeout))
	defer c.SetDeadline(time.Time{})
	refuse := func(reason string, err error) bool {
		if transport.IsTimeout(err) {
			s.guard.TimedOut()
		}
		attrs := []any{"remote", c.RemoteAddr().String()}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		s.guard.RefusedHandshake(reason, attrs...)
		return false
	}
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.HandshakeContext(s.ctx); err != nil {
			return refuse("TLS handshake failed", err)
		}
	}
	if s.cfg.Token == "" {
		return true
	}
	first, err := transport.ReadFrame(br, nil, maxHandshake)
	if errors.Is(err, io.EOF) {
		return false // closed before sending anything: a port probe (paxos cluster checks readiness so)
	}
	if err != nil {
		return refuse("no handshake", err)
	}
	if !isHello(first) {
		refuse("no authentication handshake (a client without the token?)", nil)
		s.answerUnauthenticated(c, br, first)
		return false
	}
	if reason := s.serverHandshake(c, br, first); reason != "" {
		return refuse(reason, nil)
	}
	return true
}

// check answers a request the replica must not see.
func (s *Server) check(req Request) (Reply, bool) {
	rep := Reply{Client: req.Client, Seq: req.Seq, Replica: int32(s.cfg.Replica)}
	switch {
	case req.Client == 0:
		rep.Err = "client id 0 is reserved"
		return rep, true
	case req.Op != paxos.OpGet && req.Op != paxos.OpPut && req.Op != paxos.OpApp:
		rep.Err = fmt.Sprintf("unsupported operation %v", req.Op)
		return rep, true
	}
	return rep, false
}
