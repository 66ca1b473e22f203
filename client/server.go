package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
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
	// (default 4096); further requests wait.
	MaxInFlight int
	// Logger receives connection errors (default slog.Default()).
	Logger *slog.Logger
}

// Server serves the client protocol on a replica's client port.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	closed bool
}

// NewServer returns a server; call Serve with a listener.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 4096
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, log: lg, ctx: ctx, cancel: cancel, lns: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
}

// Serve accepts connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
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
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Warn("client server: accept failed", "err", err)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
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
	var inflight sync.WaitGroup
	// sem bounds the requests in flight plus the replies queued, so the
	// replies channel always has room: an asynchronous answer, sent from
	// the replica's goroutine, never blocks.
	sem := make(chan struct{}, s.cfg.MaxInFlight)
	replies := make(chan Reply, s.cfg.MaxInFlight)
	var closeMu sync.Mutex
	closed := false
	send := func(rep Reply) {
		closeMu.Lock()
		if !closed {
			replies <- rep
		}
		closeMu.Unlock()
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
		for rep := range replies {
			<-sem
			if broken {
				continue
			}
			buf.Reset()
			enc.Reset(&buf)
			err := enc.Encode(&rep)
			if err == nil {
				err = writeFrame(bw, buf.Bytes())
			}
			if err == nil && len(replies) == 0 {
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				err = bw.Flush()
			}
			if err != nil {
				broken = true
				c.Close()
			}
		}
	}()
	defer func() {
		c.Close()
		inflight.Wait()
		closeMu.Lock()
		closed = true // late asynchronous answers are dropped
		close(replies)
		closeMu.Unlock()
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
			rep.Output, rep.Duplicate, rep.LocalRead = ex.Output, ex.Duplicate, ex.LocalRead
		}
		send(rep)
	}
	br := bufio.NewReader(c)
	fd := newFrameDecoder()
	var buf []byte
	for {
		frame, err := readFrame(br, buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && s.ctx.Err() == nil && !isEOF(err) {
				s.log.Warn("client server: closing client connection", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		buf = frame
		var req Request
		err = transport.CheckFrame(frame) // bounds what hostile bytes can make the decoder do
		if err == nil {
			err = fd.decode(frame, &req)
		}
		if err != nil {
			s.log.Warn("client server: malformed request; closing client connection", "remote", c.RemoteAddr().String(), "err", err)
			return
		}
		select {
		case sem <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		if rep, bad := s.check(req); bad {
			send(rep)
			continue
		}
		cmd := paxos.Command{Client: req.Client, Seq: req.Seq, Op: req.Op, Key: req.Key, Value: req.Value}
		if async != nil {
			async.SubmitAsync(cmd, time.Now().Add(s.cfg.Timeout), done)
			continue
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
			defer cancel()
			ex, err := s.cfg.Submitter.Submit(ctx, cmd)
			done(cmd.ID(), ex, err)
		}()
	}
}

// check answers a request the replica must not see.
func (s *Server) check(req Request) (Reply, bool) {
	rep := Reply{Client: req.Client, Seq: req.Seq, Replica: int32(s.cfg.Replica)}
	switch {
	case req.Client == 0:
		rep.Err = "client id 0 is reserved"
		return rep, true
	case req.Op != paxos.OpGet && req.Op != paxos.OpPut:
		rep.Err = fmt.Sprintf("unsupported operation %v", req.Op)
		return rep, true
	}
	return rep, false
}
