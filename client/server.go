package client

import (
	"bufio"
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
	sem := make(chan struct{}, s.cfg.MaxInFlight)
	replies := make(chan Reply, s.cfg.MaxInFlight)
	writerDone := make(chan struct{})
	// One writer per connection; it flushes when no reply is queued, so
	// replies batch under load without delaying any.
	go func() {
		defer close(writerDone)
		bw := bufio.NewWriter(c)
		broken := false
		for rep := range replies {
			if broken {
				continue
			}
			b, err := msgpack.Marshal(&rep)
			if err == nil {
				err = writeFrame(bw, b)
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
		close(replies)
		<-writerDone
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	br := bufio.NewReader(c)
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
			err = msgpack.Unmarshal(frame, &req)
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
		inflight.Add(1)
		go func(req Request) {
			defer inflight.Done()
			replies <- s.execute(req)
			<-sem
		}(req)
	}
}

func (s *Server) execute(req Request) Reply {
	rep := Reply{Client: req.Client, Seq: req.Seq, Replica: int32(s.cfg.Replica)}
	switch {
	case req.Client == 0:
		rep.Err = "client id 0 is reserved"
		return rep
	case req.Op != paxos.OpGet && req.Op != paxos.OpPut:
		rep.Err = fmt.Sprintf("unsupported operation %v", req.Op)
		return rep
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	ex, err := s.cfg.Submitter.Submit(ctx, paxos.Command{Client: req.Client, Seq: req.Seq, Op: req.Op, Key: req.Key, Value: req.Value})
	if err != nil {
		rep.Err = err.Error()
		return rep
	}
	rep.Output, rep.Duplicate, rep.LocalRead, rep.Missing = ex.Output, ex.Duplicate, ex.LocalRead, ex.Missing
	return rep
}
