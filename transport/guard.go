package transport

import (
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"expvar"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits bound what the connections of one port may cost a replica. Zero
// fields take the defaults below (see WithDefaults); the peer port and the
// client port each have their own Limits.
type Limits struct {
	// MaxConns is the most connections the port holds open at once
	// (default DefaultMaxConns). A connection beyond it takes the place
	// of the oldest one that has not authenticated yet (which is closed);
	// when every open connection has authenticated, it is closed at once.
	MaxConns int
	// MaxConnsPerHost is the most connections one remote IP address may
	// hold open on the port (default DefaultMaxConnsPerHost); beyond it,
	// the same rule evicts the host's oldest unauthenticated connection.
	MaxConnsPerHost int
	// HandshakeTimeout bounds the TLS and authentication handshake of a new
	// connection (default DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that starts no frame for this long;
	// zero means never (the peer port's default: peers are authenticated,
	// one connection per replica).
	IdleTimeout time.Duration
	// ReadTimeout bounds the reading of one frame once its first byte
	// arrived, so a slow sender is cut (default DefaultReadTimeout).
	ReadTimeout time.Duration
}

// Defaults of Limits.
const (
	DefaultMaxConns         = 1024
	DefaultMaxConnsPerHost  = 256
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultReadTimeout      = 10 * time.Second
)

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxConnsPerHost <= 0 {
		l.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	if l.HandshakeTimeout <= 0 {
		l.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	return l
}

// Abuse counters of every transport and client server in the process,
// published with expvar as "paxos_guard" (a map): handshakes refused,
// connections refused by a cap, accept errors, connections cut by a
// deadline.
var (
	guardVars            = expvar.NewMap("paxos_guard")
	refusedHandshakesVar = new(expvar.Int)
	refusedConnsVar      = new(expvar.Int)
	evictedVar           = new(expvar.Int)
	acceptErrorsVar      = new(expvar.Int)
	timeoutsVar          = new(expvar.Int)
)

func init() {
	guardVars.Set("refused_handshakes", refusedHandshakesVar)
	guardVars.Set("refused_conns", refusedConnsVar)
	guardVars.Set("evicted", evictedVar)
	guardVars.Set("accept_errors", acceptErrorsVar)
	guardVars.Set("timeouts", timeoutsVar)
}

// Guard admits connections to one port under its Limits, backs off when
// accepting fails, and logs refusals at most once per LogEvery with the
// count of those it did not log. It is safe for concurrent use.
type Guard struct {
	lim  Limits
	log  *slog.Logger
	what string

	mu      sync.Mutex
	total   int
	byHost  map[string]int
	conns   map[net.Conn]*admitted
	pending *list.List // of net.Conn: admitted, not authenticated yet, oldest first

	refusedHandshakes, refusedConns, evicted, acceptErrors, timeouts atomic.Uint64

	logMu      sync.Mutex
	lastLog    time.Time
	suppressed int
}

// LogEvery is the least time between two log lines about refused
// connections or handshakes on one port; the line says how many were not
// logged in between.
const LogEvery = 10 * time.Second

// NewGuard returns a guard of the port named what ("peer port", "client
// port"), logging to lg.
func NewGuard(lim Limits, lg *slog.Logger, what string) *Guard {
	if lg == nil {
		lg = slog.Default()
	}
	return &Guard{lim: lim.WithDefaults(), log: lg, what: what, byHost: map[string]int{},
		conns: map[net.Conn]*admitted{}, pending: list.New()}
}

// Limits returns the guard's limits (with defaults).
func (g *Guard) Limits() Limits { return g.lim }

// GuardStats counts what a Guard refused; every field only grows.
type GuardStats struct {
	RefusedHandshakes uint64 // handshakes that failed authentication or were malformed
	RefusedConns      uint64 // connections closed at once for a cap
	Evicted           uint64 // unauthenticated connections closed to make room under a cap
	AcceptErrors      uint64 // failed accepts (e.g. out of file descriptors)
	Timeouts          uint64 // connections cut by a handshake, idle or read deadline
}

// Stats returns the guard's counters.
func (g *Guard) Stats() GuardStats {
	return GuardStats{RefusedHandshakes: g.refusedHandshakes.Load(), RefusedConns: g.refusedConns.Load(),
		Evicted: g.evicted.Load(), AcceptErrors: g.acceptErrors.Load(), Timeouts: g.timeouts.Load()}
}

func hostOf(c net.Conn) string {
	a := c.RemoteAddr()
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// admitted is what the guard knows of an open connection.
type admitted struct {
	host string
	wait *list.Element // in Guard.pending until it authenticates; nil after
}

// Admit counts c against the caps. It returns a release function to call
// once c is closed, or ok false (and closes c) when a cap is reached and
// no connection can make room. At a cap, the oldest connection that has
// not authenticated yet (of the same host, when the per-host cap binds)
// is closed to make room: unauthenticated connections cannot hold a port
// against clients that authenticate, however many an attacker opens.
// Connections that authenticated (see Authenticated) are never evicted.
func (g *Guard) Admit(c net.Conn) (release func(), ok bool) {
	host := hostOf(c)
	g.mu.Lock()
	var evict net.Conn
	if g.total >= g.lim.MaxConns || g.byHost[host] >= g.lim.MaxConnsPerHost {
		sameHost := g.byHost[host] >= g.lim.MaxConnsPerHost
		for e := g.pending.Front(); e != nil; e = e.Next() {
			if vc := e.Value.(net.Conn); !sameHost || g.conns[vc].host == host {
				evict = vc
				break
			}
		}
		if evict == nil {
			total, per := g.total, g.byHost[host]
			g.mu.Unlock()
			g.refusedConns.Add(1) // counted before the remote end can see the close
			refusedConnsVar.Add(1)
			c.Close()
			g.logRefusal("connection refused: too many connections", "remote", host, "open", total, "open_from_host", per,
				"max_conns", g.lim.MaxConns, "max_conns_per_host", g.lim.MaxConnsPerHost)
			return nil, false
		}
		g.dropLocked(evict)
	}
	g.total++
	g.byHost[host]++
	g.conns[c] = &admitted{host: host, wait: g.pending.PushBack(c)}
	g.mu.Unlock()
	if evict != nil {
		g.evicted.Add(1)
		evictedVar.Add(1)
		evict.Close() // its handler fails its read and releases it (a no-op now)
		g.logRefusal("unauthenticated connection closed to make room under a connection cap", "remote", hostOf(evict),
			"max_conns", g.lim.MaxConns, "max_conns_per_host", g.lim.MaxConnsPerHost)
	}
	return func() {
		g.mu.Lock()
		if g.conns[c] != nil {
			g.dropLocked(c)
		}
		g.mu.Unlock()
	}, true
}

// dropLocked forgets an admitted connection. g.mu is held.
func (g *Guard) dropLocked(c net.Conn) {
	a := g.conns[c]
	delete(g.conns, c)
	if a.wait != nil {
		g.pending.Remove(a.wait)
	}
	g.total--
	if g.byHost[a.host]--; g.byHost[a.host] <= 0 {
		delete(g.byHost, a.host)
	}
}

// Authenticated marks an admitted connection as authenticated (its
// handshake succeeded, or the port needs none): from then on no newcomer
// can evict it.
func (g *Guard) Authenticated(c net.Conn) {
	g.mu.Lock()
	if a := g.conns[c]; a != nil && a.wait != nil {
		g.pending.Remove(a.wait)
		a.wait = nil
	}
	g.mu.Unlock()
}

// RefusedHandshake counts a refused handshake and logs it, rate-limited.
func (g *Guard) RefusedHandshake(reason string, attrs ...any) {
	g.refusedHandshakes.Add(1)
	refusedHandshakesVar.Add(1)
	g.logRefusal("handshake refused: "+reason, attrs...)
}

// Warn logs a problem with one connection (a bad frame, a malformed
// request), rate-limited like the refusals.
func (g *Guard) Warn(msg string, attrs ...any) { g.logRefusal(msg, attrs...) }

// TimedOut counts a connection cut by a deadline.
func (g *Guard) TimedOut() {
	g.timeouts.Add(1)
	timeoutsVar.Add(1)
}

// logRefusal logs at most one line per LogEvery.
func (g *Guard) logRefusal(msg string, attrs ...any) {
	g.logMu.Lock()
	now := time.Now()
	if !g.lastLog.IsZero() && now.Sub(g.lastLog) < LogEvery {
		g.suppressed++
		g.logMu.Unlock()
		return
	}
	n := g.suppressed
	g.lastLog, g.suppressed = now, 0
	g.logMu.Unlock()
	st := g.Stats()
	g.log.Warn(g.what+": "+msg, append(attrs, "not_logged_since_last", n,
		"refused_handshakes", st.RefusedHandshakes, "refused_conns", st.RefusedConns, "evicted", st.Evicted, "timeouts", st.Timeouts)...)
}

// AcceptFailed counts a failed Accept, logs it (rate-limited) and waits
// before the next one: 5ms after the first failure in a row, doubling up to
// one second. While descriptors are exhausted the pending connections wait
// in the kernel's backlog (and time out there) instead of the replica
// spinning. It reports false if ctx ended while waiting.
func (g *Guard) AcceptFailed(ctx context.Context, err error, failures int) bool {
	g.acceptErrors.Add(1)
	acceptErrorsVar.Add(1)
	msg := "accept failed; backing off"
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		msg = "accept failed: out of file descriptors; refusing new connections for a while"
	}
	g.logRefusal(msg, "err", err, "failures_in_a_row", failures)
	d := 5 * time.Millisecond << min(failures, 8)
	d = min(d, time.Second)
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// FrameConn reads frames from one connection under the guard's idle and
// read deadlines.
type FrameConn struct {
	conn  net.Conn
	r     *peekReader
	g     *Guard
	max   int
	buf   []byte
	idle  time.Duration
	read  time.Duration
	reuse bool
}

// NewFrameConn reads frames of at most max bytes from r (a buffered reader
// of conn) under g's idle and read timeouts. With reuse, the returned frame's buffer is reused by the
// next call.
func (g *Guard) NewFrameConn(conn net.Conn, r ByteReader, max int, reuse bool) *FrameConn {
	return &FrameConn{conn: conn, r: &peekReader{r: r}, g: g, max: max, idle: g.lim.IdleTimeout, read: g.lim.ReadTimeout, reuse: reuse}
}

// ByteReader is a reader that can also read one byte (bufio.Reader).
type ByteReader interface {
	Read(p []byte) (int, error)
	ReadByte() (byte, error)
}

// peekReader puts back one byte read ahead.
type peekReader struct {
	r    ByteReader
	b    byte
	have bool
}

func (p *peekReader) Read(b []byte) (int, error) {
	if p.have && len(b) > 0 {
		b[0], p.have = p.b, false
		return 1, nil
	}
	return p.r.Read(b)
}

// peeker is a buffered reader that shows what it holds (bufio.Reader).
type peeker interface {
	Buffered() int
	Peek(n int) ([]byte, error)
}

// FrameBuffered reports whether the next frame is already read into the
// buffer in full, so that Next returns it without reading the connection
// (and without setting its deadlines): a server may then take the frames
// that arrived together before handing any of them on.
func (f *FrameConn) FrameBuffered() bool {
	p, ok := f.r.r.(peeker)
	if !ok || f.r.have {
		return false
	}
	k := p.Buffered()
	if k < 4 {
		return false
	}
	h, err := p.Peek(4)
	if err != nil {
		return false
	}
	n := uint64(binary.BigEndian.Uint32(h))
	return n > 0 && n <= uint64(f.max) && uint64(k) >= 4+n
}

// Next reads the next frame: it waits up to the idle timeout for its first
// byte, then up to the read timeout for the rest. A frame already buffered
// in full is returned without touching the connection's deadlines (setting
// one costs a timer update per frame), since no read of the connection
// happens then.
func (f *FrameConn) Next() ([]byte, error) {
	if f.FrameBuffered() {
		var buf []byte
		if f.reuse {
			buf = f.buf
		}
		frame, err := ReadFrame(f.r, buf, f.max)
		if err != nil {
			return nil, err
		}
		f.keep(frame)
		return frame, nil
	}
	if f.idle > 0 {
		f.conn.SetReadDeadline(time.Now().Add(f.idle))
	} else {
		f.conn.SetReadDeadline(time.Time{})
	}
	b, err := f.r.r.ReadByte()
	if err != nil {
		f.timedOut(err)
		return nil, err
	}
	f.r.b, f.r.have = b, true
	f.conn.SetReadDeadline(time.Now().Add(f.read))
	var buf []byte
	if f.reuse {
		buf = f.buf
	}
	frame, err := ReadFrame(f.r, buf, f.max)
	if err != nil {
		f.timedOut(err)
		return nil, err
	}
	f.keep(frame)
	return frame, nil
}

// keep keeps frame's buffer for the next frame when reuse is on and it
// is at most keepFrame bytes: a connection that once sent a large frame
// does not hold that much memory for as long as it stays open.
func (f *FrameConn) keep(frame []byte) {
	if !f.reuse {
		return
	}
	if cap(frame) > keepFrame {
		f.buf = nil
		return
	}
	f.buf = frame
}

// keepFrame is the largest frame buffer a FrameConn keeps between frames.
const keepFrame = 64 << 10

func (f *FrameConn) timedOut(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		f.g.TimedOut()
	}
}

// IsTimeout reports whether err is a deadline that expired.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
