package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
)

// handshakeMagic names the wire protocol and its version.
const handshakeMagic = "paxos-peer/2"

// The handshake of a peer connection is three frames: the acceptor's
// challenge (a fresh nonce), the dialer's hello (its ids, its own nonce and,
// with a cluster secret, its proof), and the acceptor's welcome (accepted or
// not and, with a secret, the acceptor's proof). With mutual TLS each end
// also checks that the other's certificate names the id it claims.

// challenge is the first frame of a handshake, sent by the acceptor.
type challenge struct {
	Magic string `msgpack:"m"`
	Nonce []byte `msgpack:"n"`
}

// hello is the dialer's answer to a challenge. The storage-witness fields
// (see Witness) are omitted by a transport without one.
type hello struct {
	Magic   string       `msgpack:"m"`
	Cluster string       `msgpack:"c"`
	From    paxos.NodeID `msgpack:"f"`
	To      paxos.NodeID `msgpack:"t"`
	Inc     string       `msgpack:"i,omitempty"` // incarnation of the dialer's storage
	Run     string       `msgpack:"u,omitempty"` // random id of the dialer's process run
	Pos     uint64       `msgpack:"p,omitempty"` // the dialer's durable progress
	Reb     bool         `msgpack:"r,omitempty"` // the dialer is rebuilding
	Nonce   []byte       `msgpack:"n"`           // the dialer's nonce
	Proof   []byte       `msgpack:"a,omitempty"` // the dialer's proof (with a secret)
}

// welcome is the acceptor's answer to a hello: Err empty means accepted.
// Wit says the acceptor checks storage witnesses, so the dialer may send it
// progress frames.
type welcome struct {
	Err   string `msgpack:"e"`
	Wit   bool   `msgpack:"w,omitempty"`
	Proof []byte `msgpack:"a,omitempty"` // the acceptor's proof (with a secret)
}

// Proof labels of the two ends of a peer handshake.
const (
	dialLabel   = "paxos-peer/2 dial"
	acceptLabel = "paxos-peer/2 accept"
)

// handshakeParts are what both proofs of a peer handshake cover.
func handshakeParts(cluster string, from, to paxos.NodeID, nAcc, nDial []byte) [][]byte {
	return [][]byte{[]byte(cluster), []byte(strconv.Itoa(int(from))), []byte(strconv.Itoa(int(to))), nAcc, nDial}
}

// witnessRefusal starts the reason of a handshake refused by the Witness.
const witnessRefusal = "storage witness: "

// WitnessInfo is what a replica announces about its storage to its peers.
type WitnessInfo struct {
	// Incarnation identifies the replica's storage; it changes only when
	// the storage is rebuilt.
	Incarnation string
	// Run identifies the announcing process run (random per start).
	Run string
	// Progress is a counter of the replica's durable writes that never
	// decreases over the incarnation's life, across crashes and restarts,
	// and grows at every start.
	Progress uint64
	// Rebuilding says the replica started on lost storage and does not
	// vote yet.
	Rebuilding bool
}

// Witness lets peers vouch that a replica's storage did not go backwards:
// each replica announces its WitnessInfo when it dials a peer and every
// WitnessPeriod after, and each peer checks the announcements of the
// others against what it saw before. A data directory restored from an
// older copy announces less progress than its peers saw; a wiped one
// started as new announces another incarnation without rebuilding.
type Witness interface {
	// Self returns what this replica announces.
	Self() WitnessInfo
	// Check judges what peer from announces; reconnect is false for a
	// handshake and true for a later announcement on the same
	// connection. A non-nil error refuses the handshake (or closes the
	// connection), and its text is sent to the peer.
	Check(from paxos.NodeID, info WitnessInfo, reconnect bool) error
	// Refused is called when a peer refused this replica's announcement.
	Refused(peer paxos.NodeID, reason string)
}

// WitnessPeriod is how often a replica announces its progress to each peer.
const WitnessPeriod = time.Second

// witnessProgress is the body of the progress announcement a dialer sends
// on its connection to a peer that checks witnesses.
type witnessProgress struct {
	Pos uint64 `msgpack:"p"`
}

func init() { paxos.Register("transport.witnessProgress", witnessProgress{}) }

// maxHandshake bounds the handshake frames.
const maxHandshake = 4096

// TCPConfig configures a TCP transport.
type TCPConfig struct {
	// Cluster names the cluster; peers with another name are refused.
	Cluster string
	// ID is this replica's id.
	ID paxos.NodeID
	// Peers holds every replica's peer address ("host:port"), indexed by
	// id. Peers[ID] is where this replica listens unless Listener is set.
	Peers []string
	// Listener, if set, is used instead of listening on Peers[ID].
	Listener net.Listener
	// TLS, if set, protects every connection with mutual TLS: it must hold
	// this replica's certificate, the CA that signs peers (RootCAs and
	// ClientCAs) and ClientAuth = tls.RequireAndVerifyClientCert. See
	// LoadMutualTLS. Each replica's certificate must name its id (see
	// CertNamesReplica); both ends check it.
	TLS *tls.Config
	// Secret, if set, is the cluster secret: both ends of every connection
	// prove they hold the key of the replica id they claim (see ReplicaKey).
	Secret []byte
	// Insecure allows a transport with neither Secret nor TLS, on which any
	// process that reaches the peer port can pose as any replica. NewTCP
	// refuses to start without authentication unless it is set, and logs a
	// warning when it is.
	Insecure bool
	// Limits bound the peer port's connections (see Limits; IdleTimeout
	// zero means peers may stay silent as long as they like).
	Limits Limits
	// MaxFrame is the largest frame accepted or sent (default
	// DefaultMaxFrame).
	MaxFrame int
	// Queue is the outbox length per peer and the inbound queue length
	// (default 8192).
	Queue int
	// RTT, if set, is an N×N matrix of round-trip times in milliseconds:
	// every message to replica j is held for RTT[ID][j]/2 before it is
	// written, emulating a wide-area link on one machine.
	RTT [][]float64
	// MinBackoff and MaxBackoff bound the reconnection delay, which doubles
	// after each failed attempt (defaults 50ms and 2s).
	MinBackoff, MaxBackoff time.Duration
	// Logger receives connection events (default slog.Default()).
	Logger *slog.Logger
	// Witness, if set, announces this replica's storage to its peers and
	// checks theirs (see Witness).
	Witness Witness
}

// TCP is a Transport over TCP connections. Each replica dials one
// connection to every peer and sends on it; it receives on the connections
// its peers dial. So two replicas are joined by two connections, one per
// direction, and a message never waits for the reverse direction.
type TCP struct {
	cfg   TCPConfig
	log   *slog.Logger
	ln    net.Listener
	in    chan paxos.Message
	peers []*peerOut
	done  chan struct{}
	ctx   context.Context // cancelled by Close, so dials in progress end
	stop  context.CancelFunc
	wg    sync.WaitGroup
	c     counters
	guard *Guard
	epoch time.Time // clock's origin
	// shared keeps the encodings of bodies sent to several peers, which
	// the peers' writers share (see sharedFrames).
	shared sharedFrames

	mu      sync.Mutex
	run     string                    // this run's id, announced to peers
	inbound map[paxos.NodeID]net.Conn // current accepted connection per peer
	conns   map[net.Conn]struct{}     // every open connection, closed by Close
	closed  bool
}

type outMsg struct {
	m   paxos.Message
	due time.Time
	at  int64 // when it was queued (TCP.clock), for flowing
}

type peerOut struct {
	id     paxos.NodeID
	addr   string
	delay  time.Duration
	out    chan outMsg
	urgent chan outMsg // the priority lane: messages whose body is Urgent
	// took is when the writer last took a message from out, and waited
	// how long that message had waited in it (TCP.clock; see flowing).
	took, waited atomic.Int64
}

// inOrderWait is the most a data lane's messages may be waiting for an
// Urgent message to still be queued behind them (see flowing).
const inOrderWait = 20 * time.Millisecond

// flowing reports whether p's data lane moves fast enough for an Urgent
// message to keep its place in it: the writer took a message within
// inOrderWait, and that message had waited less than inOrderWait. An
// Urgent message that overtook the data in flight made a Multi-Paxos
// follower answer a heartbeat that announced slots whose Commits were
// still queued behind it, and the leader sent it those slots' commands
// again in a CatchUp, every retry interval under load. A lane that is
// stuck (a slow or unreachable peer) or slow still lets Urgent messages
// overtake (the leader keeps its followers).
func (p *peerOut) flowing(now int64) bool {
	took := p.took.Load()
	return took != 0 && now-took < int64(inOrderWait) && p.waited.Load() < int64(inOrderWait)
}

// NewTCP listens and starts connecting to the peers. Connections are made in
// the background and retried with backoff, so peers may start in any order.
func NewTCP(cfg TCPConfig) (*TCP, error) {
	n := len(cfg.Peers)
	if n < 1 || cfg.ID < 0 || int(cfg.ID) >= n {
		return nil, fmt.Errorf("transport: replica id %d outside 0..%d: %w", cfg.ID, n-1, paxos.ErrConfig)
	}
	if cfg.RTT != nil {
		if len(cfg.RTT) != n {
			return nil, fmt.Errorf("transport: RTT matrix has %d rows for %d replicas: %w", len(cfg.RTT), n, paxos.ErrConfig)
		}
		for i, row := range cfg.RTT {
			if len(row) != n {
				return nil, fmt.Errorf("transport: RTT matrix row %d has %d entries for %d replicas: %w", i, len(row), n, paxos.ErrConfig)
			}
		}
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 8192
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(2*time.Second, cfg.MinBackoff)
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg = lg.With("replica", cfg.ID)
	if cfg.TLS == nil && len(cfg.Secret) == 0 {
		if !cfg.Insecure {
			return nil, fmt.Errorf("transport: %w: no authentication: set TCPConfig.Secret (a cluster secret) or TLS (mutual TLS), or Insecure to let anyone who reaches the peer port pose as a replica", paxos.ErrConfig)
		}
		lg.Warn("transport: INSECURE: peer connections are not authenticated; any process that reaches the peer port can pose as a replica")
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", cfg.Peers[cfg.ID])
		if err != nil {
			return nil, fmt.Errorf("transport: listen on peer address %s: %w; is another replica using it?", cfg.Peers[cfg.ID], err)
		}
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	t := &TCP{cfg: cfg, log: lg, ln: ln, in: make(chan paxos.Message, cfg.Queue), done: make(chan struct{}),
		inbound: map[paxos.NodeID]net.Conn{}, conns: map[net.Conn]struct{}{}, guard: NewGuard(cfg.Limits, lg, "transport: peer port")}
	t.epoch = time.Now()
	t.ctx, t.stop = context.WithCancel(context.Background())
	t.run = fmt.Sprintf("%016x", rand.Uint64())
	for i, addr := range cfg.Peers {
		if paxos.NodeID(i) == cfg.ID {
			t.peers = append(t.peers, nil)
			continue
		}
		p := &peerOut{id: paxos.NodeID(i), addr: addr, out: make(chan outMsg, cfg.Queue), urgent: make(chan outMsg, urgentQueue)}
		if cfg.RTT != nil {
			p.delay = time.Duration(cfg.RTT[cfg.ID][i] / 2 * float64(time.Millisecond))
		}
		t.peers = append(t.peers, p)
	}
	t.wg.Add(1)
	go t.acceptLoop()
	for _, p := range t.peers {
		if p != nil {
			t.wg.Add(1)
			go t.dialLoop(p)
		}
	}
	return t, nil
}

// Addr returns the address the transport listens on.
func (t *TCP) Addr() net.Addr { return t.ln.Addr() }

// Stats returns the transport's counters.
func (t *TCP) Stats() Stats { return t.c.stats() }

// Queued returns how many messages wait in this replica's send queues to
// peer (both lanes), for metrics; 0 for itself or an id outside the
// cluster.
func (t *TCP) Queued(peer paxos.NodeID) int {
	if peer < 0 || int(peer) >= len(t.peers) || t.peers[peer] == nil {
		return 0
	}
	p := t.peers[peer]
	return len(p.out) + len(p.urgent)
}

// GuardStats returns the peer port's abuse counters.
func (t *TCP) GuardStats() GuardStats { return t.guard.Stats() }

// Recv implements Transport.
func (t *TCP) Recv() <-chan paxos.Message { return t.in }

// Send implements Transport.
func (t *TCP) Send(m paxos.Message) {
	if m.To == t.cfg.ID {
		t.mu.Lock() // Close closes t.in only after setting closed under mu
		defer t.mu.Unlock()
		if t.closed {
			t.c.dropped.Add(1)
			return
		}
		select {
		case t.in <- m:
			t.c.received.Add(1)
		default:
			t.c.dropped.Add(1)
		}
		return
	}
	if m.To < 0 || int(m.To) >= len(t.peers) {
		t.c.dropped.Add(1)
		return
	}
	p := t.peers[m.To]
	om := outMsg{m: m, at: t.clock()}
	if p.delay > 0 {
		om.due = time.Now().Add(p.delay)
	}
	q := p.out
	if IsUrgent(m.Body) && p.delay == 0 && len(p.out) > 0 && !p.flowing(om.at) {
		// With WAN emulation every message waits in its lane until its
		// delivery time, so the urgent lane is never empty while a leader
		// sends heartbeats more often than the emulated delay, and data
		// behind it would starve: there both share one FIFO lane, as both
		// share one emulated link.
		q = p.urgent
	}
	select {
	case q <- om:
	default:
		if q == p.urgent || !IsUrgent(m.Body) || p.delay > 0 {
			t.c.dropped.Add(1)
			return
		}
		select { // a full data lane is not flowing: overtake it
		case p.urgent <- om:
		default:
			t.c.dropped.Add(1)
		}
	}
}

// clock returns the nanoseconds since the transport started (monotonic).
func (t *TCP) clock() int64 { return int64(time.Since(t.epoch)) }

// Close implements Transport: it closes the listener and every connection
// and waits for the transport's goroutines. Queued messages are dropped.
func (t *TCP) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.done)
	t.stop()
	err := t.ln.Close()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	close(t.in)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("transport: close listener: %w", err)
	}
	return nil
}

// track registers a connection so Close can close it; it reports false
// (and closes c) if the transport is already closed.
func (t *TCP) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *TCP) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	c.Close()
}

// sleep waits d or until Close; it reports false on Close.
func (t *TCP) sleep(d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-t.done:
		return false
	}
}

// ---- outgoing side ----

func (t *TCP) dialLoop(p *peerOut) {
	defer t.wg.Done()
	backoff := t.cfg.MinBackoff
	failures := 0
	for {
		select {
		case <-t.done:
			return
		default:
		}
		conn, announce, err := t.dial(p)
		if err != nil {
			failures++
			// A peer that is not up yet is normal at start-up: say so at
			// debug level, and at info level once it lasts (every 20th).
			lv := slog.LevelDebug
			if failures%20 == 0 {
				lv = slog.LevelInfo
			}
			t.log.Log(t.ctx, lv, "transport: cannot reach peer; retrying", "peer", p.id, "addr", p.addr, "err", err, "attempts", failures)
			jitter := time.Duration(rand.Int64N(int64(backoff)/2 + 1))
			if !t.sleep(backoff + jitter) {
				return
			}
			backoff = min(2*backoff, t.cfg.MaxBackoff)
			continue
		}
		if failures >= 20 {
			t.log.Info("transport: connected to peer", "peer", p.id, "addr", p.addr)
		}
		failures, backoff = 0, t.cfg.MinBackoff
		err = t.writeLoop(conn, p, announce)
		t.untrack(conn)
		if err != nil {
			t.log.Info("transport: connection to peer lost; reconnecting", "peer", p.id, "err", err)
		}
	}
}

// dial connects to p and performs the handshake.
func (t *TCP) dial(p *peerOut) (net.Conn, bool, error) {
	d := net.Dialer{Timeout: 3 * time.Second}
	var conn net.Conn
	var err error
	if t.cfg.TLS != nil {
		cfg := t.cfg.TLS.Clone()
		if cfg.ServerName == "" {
			if host, _, e := net.SplitHostPort(p.addr); e == nil {
				cfg.ServerName = host
			}
		}
		conn, err = (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(t.ctx, "tcp", p.addr)
	} else {
		conn, err = d.DialContext(t.ctx, "tcp", p.addr)
	}
	if err != nil {
		return nil, false, err
	}
	if !t.track(conn) {
		return nil, false, net.ErrClosed
	}
	fail := func(err error) (net.Conn, bool, error) {
		t.untrack(conn)
		return nil, false, err
	}
	conn.SetDeadline(time.Now().Add(t.guard.lim.HandshakeTimeout))
	cb, err := ReadFrame(conn, nil, maxHandshake)
	if err != nil {
		return fail(fmt.Errorf("read handshake challenge: %w", err))
	}
	var ch challenge
	if err := checkMsgpack(cb); err != nil {
		return fail(fmt.Errorf("decode handshake challenge: %w", err))
	}
	if err := msgpack.Unmarshal(cb, &ch); err != nil || ch.Magic != handshakeMagic || len(ch.Nonce) != NonceBytes {
		return fail(fmt.Errorf("not a %s peer (or another version) at %s", handshakeMagic, p.addr))
	}
	nonce, err := NewNonce()
	if err != nil {
		return fail(err)
	}
	parts := handshakeParts(t.cfg.Cluster, t.cfg.ID, p.id, ch.Nonce, nonce)
	h := hello{Magic: handshakeMagic, Cluster: t.cfg.Cluster, From: t.cfg.ID, To: p.id, Nonce: nonce}
	if len(t.cfg.Secret) > 0 {
		h.Proof = Proof(ReplicaKey(t.cfg.Secret, t.cfg.ID), dialLabel, parts...)
	}
	if t.cfg.Witness != nil {
		self := t.cfg.Witness.Self()
		h.Inc, h.Run, h.Pos, h.Reb = self.Incarnation, t.run, self.Progress, self.Rebuilding
	}
	b, err := msgpack.Marshal(&h)
	if err != nil {
		return fail(err)
	}
	if err := WriteFrame(conn, b); err != nil {
		return fail(fmt.Errorf("send handshake: %w", err))
	}
	reply, err := ReadFrame(conn, nil, maxHandshake)
	if err != nil {
		return fail(fmt.Errorf("read handshake reply: %w", err))
	}
	var w welcome
	if err := checkMsgpack(reply); err != nil {
		return fail(fmt.Errorf("decode handshake reply: %w", err))
	}
	if err := msgpack.Unmarshal(reply, &w); err != nil {
		return fail(fmt.Errorf("decode handshake reply: %w", err))
	}
	if w.Err != "" {
		if t.cfg.Witness != nil && strings.HasPrefix(w.Err, witnessRefusal) {
			t.cfg.Witness.Refused(p.id, strings.TrimPrefix(w.Err, witnessRefusal))
		}
		return fail(fmt.Errorf("peer refused the connection: %s", w.Err))
	}
	if len(t.cfg.Secret) > 0 && !ProofOK(w.Proof, ReplicaKey(t.cfg.Secret, p.id), acceptLabel, parts...) {
		return fail(fmt.Errorf("the process at %s cannot prove it is replica %d (wrong or no cluster secret)", p.addr, p.id))
	}
	if tc, ok := conn.(*tls.Conn); ok {
		if err := peerCertNames(tc.ConnectionState(), p.id); err != nil {
			return fail(fmt.Errorf("the process at %s: %w", p.addr, err))
		}
	}
	conn.SetDeadline(time.Time{})
	return conn, w.Wit && t.cfg.Witness != nil, nil
}

func (t *TCP) writeLoop(conn net.Conn, p *peerOut, announce bool) error {
	// The peer never writes after the handshake; reading tells us at once
	// when it closes the connection.
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		_, _ = io.Copy(io.Discard, conn)
		conn.Close()
	}()
	bw := bufio.NewWriterSize(conn, 64<<10)
	flush := func() error {
		if bw.Buffered() == 0 {
			return nil
		}
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return bw.Flush()
	}
	var frame []byte
	var tick <-chan time.Time
	if announce {
		tk := time.NewTicker(WitnessPeriod)
		defer tk.Stop()
		tick = tk.C
	}
	for {
		var om outMsg
		select {
		case om = <-p.urgent: // the priority lane first
		default:
		}
		if om.m.Body != nil {
			goto write
		}
		select {
		case om = <-p.urgent:
		case om = <-p.out:
			now := t.clock()
			p.took.Store(now)
			p.waited.Store(now - om.at)
		case <-tick:
			// A progress announcement goes straight out (it is not a
			// protocol message and is not delayed by WAN emulation).
			b, err := paxos.EncodeMessage(paxos.Message{From: t.cfg.ID, To: p.id, Body: witnessProgress{Pos: t.cfg.Witness.Self().Progress}})
			if err != nil {
				return err
			}
			if err := WriteFrame(bw, b); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
			continue
		case <-t.done:
			return nil
		}
	write:
		if !om.due.IsZero() {
			if wait := time.Until(om.due); wait > 0 {
				if err := flush(); err != nil {
					t.c.dropped.Add(1)
					return err
				}
				if !t.sleep(wait) {
					return nil
				}
			}
		}
		// The frame (length, then the message) is encoded into one buffer
		// the loop reuses, and written with one call.
		var err error
		frame, err = t.shared.appendMessage(append(frame[:0], 0, 0, 0, 0), om.m)
		if err != nil {
			t.c.dropped.Add(1)
			t.log.Error("transport: cannot encode message; dropped", "to", p.id, "type", fmt.Sprintf("%T", om.m.Body), "err", err)
			continue
		}
		if n := len(frame) - 4; n > t.cfg.MaxFrame {
			t.c.dropped.Add(1)
			t.log.Error("transport: message larger than the maximum frame; dropped", "to", p.id, "bytes", n, "max", t.cfg.MaxFrame)
			continue
		}
		binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
		if _, err := bw.Write(frame); err != nil {
			t.c.dropped.Add(1)
			return err
		}
		if cap(frame) > 1<<20 {
			frame = nil // do not keep a rare large buffer
		}
		t.c.sent.Add(1)
		if len(p.out) == 0 && len(p.urgent) == 0 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// ---- incoming side ----

func (t *TCP) acceptLoop() {
	defer t.wg.Done()
	failures := 0
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			failures++
			if !t.guard.AcceptFailed(t.ctx, err, failures) {
				return
			}
			continue
		}
		failures = 0
		release, ok := t.guard.Admit(conn)
		if !ok {
			continue
		}
		if !t.track(conn) {
			release()
			return
		}
		t.wg.Add(1)
		go func() {
			defer release()
			t.serveConn(conn)
		}()
	}
}

// refuse answers a hello with an error and closes the connection; the
// refusal is counted and logged at most once per LogEvery.
func (t *TCP) refuse(conn net.Conn, reason string, attrs ...any) {
	t.c.refused.Add(1)
	t.guard.RefusedHandshake(reason, append([]any{"remote", conn.RemoteAddr().String()}, attrs...)...)
	if b, err := msgpack.Marshal(&welcome{Err: reason}); err == nil {
		_ = WriteFrame(conn, b)
	}
}

// authFailed is what an unauthenticated dialer is told.
const authFailed = "authentication failed: this cluster requires its secret or a certificate naming the replica id"

func (t *TCP) serveConn(conn net.Conn) {
	defer t.wg.Done()
	defer t.untrack(conn)
	conn.SetDeadline(time.Now().Add(t.guard.lim.HandshakeTimeout))
	var tlsState *tls.ConnectionState
	if tc, ok := conn.(*tls.Conn); ok {
		if err := tc.HandshakeContext(t.ctx); err != nil {
			t.c.refused.Add(1)
			if IsTimeout(err) {
				t.guard.TimedOut()
			}
			t.guard.RefusedHandshake("TLS handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
			return
		}
		cs := tc.ConnectionState()
		tlsState = &cs
	}
	nAcc, err := NewNonce()
	if err != nil {
		return
	}
	if cb, err := msgpack.Marshal(&challenge{Magic: handshakeMagic, Nonce: nAcc}); err != nil || WriteFrame(conn, cb) != nil {
		return
	}
	// The hello is read unbuffered (the dialer sends nothing more before
	// the welcome), so an unauthenticated connection costs no read buffer.
	b, err := ReadFrame(conn, nil, maxHandshake)
	if errors.Is(err, io.EOF) {
		return // closed before sending anything: a port probe
	}
	if err != nil {
		t.c.refused.Add(1)
		if IsTimeout(err) {
			t.guard.TimedOut()
		}
		t.guard.RefusedHandshake("bad handshake frame", "remote", conn.RemoteAddr().String(), "err", err)
		return
	}
	var h hello
	if err := checkMsgpack(b); err != nil {
		t.refuse(conn, "not a paxos peer handshake")
		return
	}
	if err := msgpack.Unmarshal(b, &h); err != nil || h.Magic != handshakeMagic {
		t.refuse(conn, "not a "+handshakeMagic+" peer handshake")
		return
	}
	switch {
	case h.Cluster != t.cfg.Cluster:
		t.refuse(conn, fmt.Sprintf("wrong cluster %q, this is %q", h.Cluster, t.cfg.Cluster), "peer", h.From)
		return
	case h.From < 0 || int(h.From) >= len(t.cfg.Peers) || h.From == t.cfg.ID:
		t.refuse(conn, fmt.Sprintf("unknown replica id %d", h.From), "peer", h.From)
		return
	case h.To != t.cfg.ID:
		t.refuse(conn, fmt.Sprintf("addressed to replica %d, this is %d", h.To, t.cfg.ID), "peer", h.From)
		return
	case len(h.Nonce) != NonceBytes:
		t.refuse(conn, "handshake without a nonce", "peer", h.From)
		return
	}
	parts := handshakeParts(t.cfg.Cluster, h.From, t.cfg.ID, nAcc, h.Nonce)
	if len(t.cfg.Secret) > 0 && !ProofOK(h.Proof, ReplicaKey(t.cfg.Secret, h.From), dialLabel, parts...) {
		t.refuse(conn, authFailed, "peer", h.From, "why", "wrong or no proof of the replica key")
		return
	}
	if tlsState != nil {
		if err := peerCertNames(*tlsState, h.From); err != nil {
			t.refuse(conn, authFailed, "peer", h.From, "why", err.Error())
			return
		}
	}
	wit := t.cfg.Witness
	if wit != nil && h.Inc != "" {
		info := WitnessInfo{Incarnation: h.Inc, Run: h.Run, Progress: h.Pos, Rebuilding: h.Reb}
		if err := wit.Check(h.From, info, false); err != nil {
			t.refuse(conn, witnessRefusal+err.Error(), "peer", h.From)
			return
		}
	}
	wel := welcome{Wit: wit != nil && h.Inc != ""}
	if len(t.cfg.Secret) > 0 {
		wel.Proof = Proof(ReplicaKey(t.cfg.Secret, t.cfg.ID), acceptLabel, parts...)
	}
	ok, err := msgpack.Marshal(&wel)
	if err != nil {
		return
	}
	t.c.accepted.Add(1) // counted before the dialer can see the welcome
	t.guard.Authenticated(conn)
	if err := WriteFrame(conn, ok); err != nil {
		return
	}
	conn.SetDeadline(time.Time{})
	// A new connection from a peer replaces its old one (the peer restarted
	// or reconnected). With a secret or TLS, only a connection that proved
	// the same replica identity gets here, so an impersonator cannot make a
	// real link drop; without authentication (Insecure) anyone can.
	t.mu.Lock()
	if old := t.inbound[h.From]; old != nil {
		old.Close()
	}
	t.inbound[h.From] = conn
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.inbound[h.From] == conn {
			delete(t.inbound, h.From)
		}
		t.mu.Unlock()
	}()
	br := bufio.NewReaderSize(conn, 64<<10)
	frames := t.guard.NewFrameConn(conn, br, t.cfg.MaxFrame, true)
	for {
		frame, err := frames.Next()
		if err != nil {
			select {
			case <-t.done:
				return
			default:
			}
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrEmptyFrame) {
				t.c.badFrames.Add(1)
				t.log.Error("transport: bad frame from peer; closing its connection", "peer", h.From, "err", err)
				return
			}
			t.log.Info("transport: connection from peer ended", "peer", h.From, "err", err)
			return
		}
		m, err := decodeMessage(frame)
		if err != nil {
			t.c.badFrames.Add(1)
			t.log.Error("transport: malformed message from peer; closing its connection", "peer", h.From, "err", err)
			return
		}
		if m.From != h.From || m.To != t.cfg.ID {
			t.c.badFrames.Add(1)
			t.log.Error("transport: misaddressed message from peer; closing its connection", "peer", h.From, "from", m.From, "to", m.To)
			return
		}
		if wp, ok := m.Body.(witnessProgress); ok {
			if wit == nil || h.Inc == "" {
				continue
			}
			info := WitnessInfo{Incarnation: h.Inc, Run: h.Run, Progress: wp.Pos, Rebuilding: h.Reb}
			if err := wit.Check(h.From, info, true); err != nil {
				t.log.Error("transport: the storage witness refused a peer's announcement; closing its connection", "peer", h.From, "err", err)
				return
			}
			continue
		}
		select {
		case t.in <- m:
			t.c.received.Add(1)
		case <-t.done:
			return
		}
	}
}

// LoadMutualTLS builds a mutual-TLS configuration from PEM files: this
// replica's certificate and key, and the CA certificate that signs every
// replica. Each replica's certificate must name its peer host (an IP SAN
// such as 127.0.0.1, or a DNS name), name its replica id (see
// CertNamesReplica) and allow both server and client use; `paxos certs`
// makes such certificates.
func LoadMutualTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("transport: load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	pool, err := loadCAPool(caFile)
	if err != nil {
		return nil, err
	}
	return MutualTLS(cert, pool), nil
}

// MutualTLS returns a configuration that presents cert and requires peers
// (in both directions) to present a certificate signed by a CA in pool.
func MutualTLS(cert tls.Certificate, pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

// LoadClientTLS builds the TLS configuration of a client of the client
// ports: it trusts the CA in caFile and, when certFile is not empty,
// presents that certificate (for a cluster that requires client
// certificates).
func LoadClientTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	pool, err := loadCAPool(caFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("transport: load TLS certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// loadCAPool reads the PEM certificates of caFile into a pool.
func loadCAPool(caFile string) (*x509.CertPool, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("transport: read TLS CA %s: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("transport: no PEM certificate in CA file %s", caFile)
	}
	return pool, nil
}
