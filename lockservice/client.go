package lockservice

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/paxos-lab/paxos/client"
)

// SessionOptions tunes a Session.
type SessionOptions struct {
	// TTL is the session's lease (default 12s, as Chubby's default lease).
	TTL time.Duration
	// KeepAlive is how often the session is renewed (default TTL/3).
	KeepAlive time.Duration
	// Skew is the margin the client takes off its own view of the lease,
	// for the replicas' clock disagreement (2ε in the package doc; default
	// TTL/10).
	Skew time.Duration
	// OnRenew, if set, is called after each successful Open or KeepAlive
	// (on the renewing goroutine; keep it short) with the time the renewal
	// was sent and the lease end the service recorded for it. The service
	// keeps the session at least until sent + TTL - 2ε (see the package
	// doc), so a caller can tell how long the session outlives a holder
	// that stops renewing.
	OnRenew func(sent, expires time.Time)
}

// ErrSessionLost is returned by a Session whose lease the service ended
// (it expired or was closed): its locks are gone; open a new session.
var ErrSessionLost = errors.New("lockservice: the session expired or was closed; its locks are released: open a new session")

// ErrJeopardy is returned when the client's view of its lease ran out
// without a renewal (Chubby's jeopardy): the service may already have
// released the locks, so they must not be used until a keep-alive gets
// through (then the session, and its locks, are known to have survived).
var ErrJeopardy = errors.New("lockservice: session in jeopardy: no renewal within the lease; do not use its locks until a keep-alive succeeds")

// Session is one client's session with a running lock service (a cluster
// served with `paxos serve --app lockservice`). It renews its lease in the
// background until Close. Safe for concurrent use.
type Session struct {
	c    *client.Client
	opts SessionOptions

	mu       sync.Mutex
	validTo  time.Time // local lease end: send time of the last applied renewal + TTL - Skew
	lost     error
	stop     chan struct{}
	done     chan struct{}
	closeErr error
}

// OpenSession opens a session on c's cluster (the session id is c's
// client id; one session per client).
func OpenSession(ctx context.Context, c *client.Client, opts SessionOptions) (*Session, error) {
	if opts.TTL <= 0 {
		opts.TTL = 12 * time.Second
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = opts.TTL / 3
	}
	if opts.Skew <= 0 {
		opts.Skew = opts.TTL / 10
	}
	if opts.KeepAlive >= opts.TTL-opts.Skew {
		return nil, fmt.Errorf("lockservice: keep-alive every %v does not fit a lease of %v minus skew %v; renew more often", opts.KeepAlive, opts.TTL, opts.Skew)
	}
	s := &Session{c: c, opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.renew(ctx, KindOpen); err != nil {
		return nil, err
	}
	go s.keepAlive()
	return s, nil
}

// ID returns the session id (the client's id).
func (s *Session) ID() uint64 { return s.c.ID() }

func (s *Session) renew(ctx context.Context, kind Kind) error {
	sent := time.Now()
	rep, err := s.do(ctx, Request{Kind: kind, TTL: s.opts.TTL.Milliseconds()})
	s.mu.Lock()
	switch {
	case err == nil:
		s.validTo = sent.Add(s.opts.TTL - s.opts.Skew)
	case errors.Is(err, ErrSessionLost):
		s.lost = err
	}
	s.mu.Unlock()
	if err == nil && s.opts.OnRenew != nil {
		s.opts.OnRenew(sent, time.UnixMilli(rep.Expires))
	}
	return err
}

func (s *Session) keepAlive() {
	defer close(s.done)
	t := time.NewTicker(s.opts.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.KeepAlive)
		err := s.renew(ctx, KindKeepAlive)
		cancel()
		if errors.Is(err, ErrSessionLost) {
			return
		}
	}
}

// Valid returns nil while the session's locks may be used: the client's
// view of its lease has not run out. Otherwise ErrJeopardy (keep-alives
// are still being tried) or ErrSessionLost.
func (s *Session) Valid() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost != nil {
		return s.lost
	}
	if time.Now().After(s.validTo) {
		return ErrJeopardy
	}
	return nil
}

// ValidUntil returns the client's view of its lease end.
func (s *Session) ValidUntil() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validTo
}

// do runs one request and decodes its reply; the service's errors come
// back as the package's errors (ErrNoSession as ErrSessionLost).
func (s *Session) do(ctx context.Context, req Request) (Reply, error) {
	res, err := s.c.Do(ctx, Command(s.c.ID(), req))
	if errors.Is(err, client.ErrCommand) {
		for _, e := range []error{ErrHeld, ErrNotHolder, ErrTooLarge} {
			if IsError(res.Err, e) {
				return Reply{}, e
			}
		}
		if IsError(res.Err, ErrNoSession) {
			return Reply{}, ErrSessionLost
		}
		return Reply{}, fmt.Errorf("lockservice: %s: %w", res.Err, err)
	}
	if err != nil {
		return Reply{}, err
	}
	return DecodeReply(res.Output)
}

// TryAcquire takes lock in mode once and returns its fencing token, or
// ErrHeld when another session holds it in a conflicting mode.
func (s *Session) TryAcquire(ctx context.Context, lock string, mode Mode) (uint64, error) {
	rep, err := s.do(ctx, Request{Kind: KindAcquire, Lock: lock, Mode: mode})
	return rep.Token, err
}

// Acquire takes lock in mode, waiting while it is held, until ctx ends
// (give it a deadline: that is the timeout). While it waits it sends Tick
// commands, so a holder whose session lapsed is expired without waiting
// for the next keep-alive. It returns the fencing token.
func (s *Session) Acquire(ctx context.Context, lock string, mode Mode) (uint64, error) {
	wait := 20 * time.Millisecond
	for {
		tok, err := s.TryAcquire(ctx, lock, mode)
		if !errors.Is(err, ErrHeld) {
			return tok, err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("lockservice: %s still held when the wait ended: %w", lock, ctx.Err())
		case <-time.After(wait):
		}
		if _, err := s.do(ctx, Request{Kind: KindTick}); err != nil && ctx.Err() == nil {
			return 0, err
		}
		wait = min(2*wait, time.Second)
	}
}

// Release gives lock up (ErrNotHolder if this session does not hold it).
func (s *Session) Release(ctx context.Context, lock string) error {
	_, err := s.do(ctx, Request{Kind: KindRelease, Lock: lock})
	return err
}

// SetValue stores value (at most MaxValue bytes) in lock, which this
// session must hold exclusively.
func (s *Session) SetValue(ctx context.Context, lock string, value []byte) error {
	if len(value) > MaxValue {
		return ErrTooLarge
	}
	_, err := s.do(ctx, Request{Kind: KindSetValue, Lock: lock, Value: value})
	return err
}

// Read returns lock's holders, mode and value (needs no session; on
// Multi-Paxos with leases the leader answers it locally).
func (s *Session) Read(ctx context.Context, lock string) (Reply, error) {
	return s.do(ctx, Request{Kind: KindRead, Lock: lock})
}

// Close stops renewing and closes the session, releasing its locks.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	select {
	case <-s.stop:
		s.mu.Unlock()
		return s.closeErr
	default:
	}
	close(s.stop)
	s.mu.Unlock()
	<-s.done
	_, err := s.do(ctx, Request{Kind: KindClose})
	if errors.Is(err, ErrSessionLost) {
		err = nil
	}
	s.mu.Lock()
	s.closeErr = err
	s.lost = ErrSessionLost
	s.mu.Unlock()
	return err
}
