// Package lockservice is a coarse-grained lock service in the style of
// Chubby (Burrows, OSDI 2006), written as a paxos.StateMachine so that any
// protocol of this library can replicate it; five replicas on Multi-Paxos
// with leases is the default (cmd/paxos: `paxos lock`).
//
// # Sessions and time
//
// A client opens a session (its client id is the session id) with a lease
// of TTL milliseconds and renews it with KeepAlive. Open, KeepAlive, Close
// and Tick are session commands; they carry a time, Now, in milliseconds,
// which the replica that receives the command writes in (Stamp, installed
// with sim.Config.Stamp or node.Config.Stamp): the client's own clock is
// never used, and whatever the client put in Now is overwritten. The state
// machine's clock is the largest Now of the session commands it applied;
// before applying a session command it advances the clock and ends every
// session whose lease ran out (Expires <= clock), releasing its locks. So
// expiry is decided by the log, identically on every replica, and only at
// session commands: lock commands carry no time.
//
// Safety assumes the replicas' clocks agree within some ε (as Chubby
// assumes bounded drift): a session's lease ends at (stamp of its last
// applied keep-alive) + TTL, and the command that ends it is stamped at or
// after that, so in real time the service ends a session no earlier than
// the keep-alive's send time + TTL - 2ε. A client therefore considers its
// lease over at send time + TTL - 2ε on its own monotonic clock (Session
// does this with its Skew margin) and stops using its locks then; fencing
// tokens (Fence) protect downstream services from a holder that is late
// anyway.
//
// Across a leader change: while no leader can commit, nothing is applied,
// so no session can expire and no lock can change hands; ticks proposed
// meanwhile wait (or are offered again) like clients' commands, and once
// a leader commits, the first one applied moves the clock to its stamp.
// A client whose keep-alives fail sees its local lease run out and is
// then in jeopardy (Chubby's grace period): it must stop using its locks
// but keeps sending the same keep-alive. If the keep-alive is applied
// before any session command stamped after its lease end (a replica's
// Tick, below, included), the session survives with its locks (they were
// never released, because release needs an applied command); otherwise
// the keep-alive returns ErrNoSession (Session: ErrSessionLost) and the
// locks are gone. Unlike Chubby's master, a new leader does not extend
// every lease on failover, so an outage longer than a lease ends the
// sessions of clients that could not get a keep-alive through: with the
// replicas ticking, the first Tick the new leader commits does it.
//
// # Expiry without clients
//
// Any client's keep-alive moves the clock, but if every client died no
// command would come, and a dead holder's locks would stay held. So the
// replicas themselves propose Ticks: beside each replica, `paxos serve
// --app lockservice` runs RunTicker, which submits a Tick to its own
// replica every --lock-tick (DefaultTickEvery, 1 s). A Tick is an ordinary
// command of the log, stamped by the replica that proposes it like a
// client's session command, so expiry stays a decision of the replicated
// state machine: every replica ends the same sessions at the same point of
// the log, whichever replica's clock wrote the stamp. A session whose
// client died therefore ends at the first Tick (or other session command)
// stamped at or after its lease end, at most about one tick period plus a
// commit later. Each replica ticks as its own client (Ticker: a fresh
// random id per process, consecutive seqs, a tick offered again until it
// is applied), so the library's exactly-once sessions keep one small entry
// per replica process; the cost is one command per replica per period,
// which under EPaxos is ordered against everything (no keys). A tick that
// reaches a Multi-Paxos follower is forwarded to the leader like any
// command; simulations drive Ticker the same way (TestExpiryWithoutClients).
//
// # Locks, tokens and values
//
// Locks are exclusive (one holder) or shared (any number of holders, no
// exclusive one). Every acquisition returns a fencing token (Chubby's
// sequencer) from the lock's own counter, so tokens increase strictly per
// lock; a downstream service checks them with a Fence. A lock can hold a
// small value, at most MaxValue bytes, written by its exclusive holder. A
// lock's record (its counter) is kept after its last release, so names
// should be coarse and few, as in Chubby.
//
// # Interference (why EPaxos may reorder)
//
// Acquire, Release and SetValue name their lock as their only key; Read
// names it too and is read-only (a Multi-Paxos leader answers it under its
// lease; EPaxos never orders two reads). Session commands name no keys, so
// they interfere with every command. The argument that every replica
// computes the same outputs, although EPaxos may apply commands on
// different locks in different orders:
//
//   - The clock and the session table are written only by session
//     commands; a session's set of held locks is also written by lock
//     commands, but only as inserts and deletes of the command's own lock,
//     which commute across locks.
//   - Lock x's record (holders, mode, value, token counter) is written only
//     by commands on x and by session commands (expiry).
//   - A lock command on x reads x's record and whether its session is open:
//     both are written only by commands it interferes with, which every
//     replica applies in the same order relative to it.
//   - A session command interferes with everything, so every replica has
//     applied the same set of commands before it and holds the same state
//     there: the same sessions expire and the same locks are released.
//
// Keep-alives are therefore the expensive commands under EPaxos (ordered
// against everything); they are sent every TTL/3 or so, not per operation.
package lockservice

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
)

// MaxValue is the largest value a lock can hold, in bytes.
const MaxValue = 64 << 10

// Mode is how a lock is held.
type Mode uint8

// The lock modes.
const (
	Exclusive Mode = iota
	Shared
)

// Kind is a request's operation.
type Kind uint8

// The requests. Open, KeepAlive, Close and Tick are session commands.
const (
	KindOpen Kind = iota + 1
	KindKeepAlive
	KindClose
	KindAcquire
	KindRelease
	KindSetValue
	KindRead
	// KindTick only advances the clock (and so expires sessions); it needs
	// no open session.
	KindTick
)

// session reports whether k is a session command (stamped, no keys).
func (k Kind) session() bool {
	return k == KindOpen || k == KindKeepAlive || k == KindClose || k == KindTick
}

// Request is a lock-service command, msgpack-encoded in paxos.Command.Payload.
type Request struct {
	Kind Kind `msgpack:"k"`
	// Now is the time of a session command, in milliseconds, written by
	// the receiving replica (Stamp); ignored on lock commands.
	Now   int64  `msgpack:"n"`
	TTL   int64  `msgpack:"t,omitempty"`
	Lock  string `msgpack:"l,omitempty"`
	Mode  Mode   `msgpack:"m,omitempty"`
	Value []byte `msgpack:"v,omitempty"`
}

// Reply is a command's output, msgpack-encoded in the output string.
type Reply struct {
	// Token is the fencing token of an acquisition.
	Token uint64 `msgpack:"t,omitempty"`
	// Expires is the session's lease end in the service's clock (Open,
	// KeepAlive).
	Expires int64 `msgpack:"e,omitempty"`
	// Holders are the sessions holding the lock (Read), sorted.
	Holders []uint64 `msgpack:"h,omitempty"`
	// Mode is how the lock is held (Read).
	Mode Mode `msgpack:"m,omitempty"`
	// Value is the lock's value (Read).
	Value []byte `msgpack:"v,omitempty"`
}

// Errors a command can return (as text, in paxos.Execution.Err; compare
// with IsError).
var (
	ErrNoSession  = errors.New("lockservice: no open session (never opened, closed or expired); open a new one")
	ErrHeld       = errors.New("lockservice: the lock is held in a conflicting mode")
	ErrNotHolder  = errors.New("lockservice: this session does not hold the lock")
	ErrTooLarge   = fmt.Errorf("lockservice: value larger than %d bytes", MaxValue)
	ErrBadRequest = errors.New("lockservice: malformed request")
)

// IsError reports whether a command's error text (paxos.Execution.Err or
// client.Result.Err) is err.
func IsError(text string, err error) bool { return text == err.Error() }

// Command returns the paxos.Command for req from client (seq 0: the
// client library fills it in), with the conflict information: a lock
// command names its lock, a session command nothing (see the package doc).
func Command(client uint64, req Request) paxos.Command {
	c := paxos.Command{Client: client, Op: paxos.OpApp, Payload: encodeRequest(req)}
	switch {
	case req.Kind == KindRead:
		c.ReadOnly, c.Keys = true, []string{req.Lock}
	case !req.Kind.session():
		c.Keys = []string{req.Lock}
	}
	return c
}

func encodeRequest(req Request) []byte {
	payload, err := msgpack.Marshal(&req)
	if err != nil {
		panic(fmt.Sprintf("lockservice: encode request: %v", err)) // plain fields always encode
	}
	return payload
}

// Stamp writes now (milliseconds) into a session command's Now, replacing
// what the client sent; other commands are returned unchanged, as is a
// payload that does not decode (the state machine refuses it). The replica
// that receives a client's command calls it before proposing (see
// StampSim and StampWall for the simulator's and the live node's hooks).
func Stamp(cmd paxos.Command, now int64) paxos.Command {
	if cmd.Op != paxos.OpApp {
		return cmd
	}
	var req Request
	if msgpack.Unmarshal(cmd.Payload, &req) != nil || !req.Kind.session() {
		return cmd
	}
	req.Now = now
	cmd.Payload = encodeRequest(req)
	return cmd
}

// StampSim is Stamp for sim.Config.Stamp: the simulator's virtual time.
func StampSim(cmd paxos.Command, now time.Duration) paxos.Command {
	return Stamp(cmd, now.Milliseconds())
}

// StampWall is Stamp for node.Config.Stamp: the replica's wall clock, in
// milliseconds since the Unix epoch.
func StampWall(cmd paxos.Command, now time.Time) paxos.Command {
	return Stamp(cmd, now.UnixMilli())
}

// DecodeReply decodes a command's output.
func DecodeReply(out string) (Reply, error) {
	var r Reply
	if out == "" {
		return r, nil
	}
	if err := msgpack.Unmarshal([]byte(out), &r); err != nil {
		return r, fmt.Errorf("lockservice: decode reply: %w", err)
	}
	return r, nil
}

// DecodeRequest decodes a command's payload (for checkers and tools).
func DecodeRequest(payload []byte) (Request, error) {
	var req Request
	if err := msgpack.Unmarshal(payload, &req); err != nil {
		return req, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return req, nil
}

type session struct {
	Expires int64           `msgpack:"e"`
	Locks   map[string]bool `msgpack:"l,omitempty"`
}

type lock struct {
	Mode    Mode            `msgpack:"m"`
	Holders map[uint64]bool `msgpack:"h"`
	Value   []byte          `msgpack:"v,omitempty"`
	Token   uint64          `msgpack:"t"`
}

// Machine is the lock service's replicated state. It implements
// paxos.StateMachine; use New as Config.StateMachine.
type Machine struct {
	Clock    int64               `msgpack:"c"`
	Sessions map[uint64]*session `msgpack:"s"`
	Locks    map[string]*lock    `msgpack:"l"`
	bug      bug
}

// New returns an empty lock service (a paxos.Config.StateMachine factory).
func New() paxos.StateMachine {
	return &Machine{Sessions: map[uint64]*session{}, Locks: map[string]*lock{}}
}

// Apply implements paxos.StateMachine.
func (m *Machine) Apply(cmd paxos.Command) (string, error) {
	req, err := DecodeRequest(cmd.Payload)
	if err != nil {
		return "", err
	}
	if req.Kind == KindRead {
		return m.read(req.Lock)
	}
	if cmd.ReadOnly {
		return "", fmt.Errorf("%w: only a read may be marked read-only", ErrBadRequest)
	}
	id := cmd.Client
	if req.Kind.session() {
		m.Clock = max(m.Clock, req.Now)
		m.expire()
	}
	s := m.Sessions[id]
	switch req.Kind {
	case KindTick:
		return "", nil
	case KindOpen, KindKeepAlive:
		if req.TTL <= 0 {
			return "", fmt.Errorf("%w: TTL %d ms, want a positive lease", ErrBadRequest, req.TTL)
		}
		if s == nil {
			if req.Kind == KindKeepAlive {
				return "", ErrNoSession
			}
			s = &session{}
			m.Sessions[id] = s
		}
		s.Expires = m.Clock + req.TTL
		if m.bug == bugRenewFromRequest {
			s.Expires = req.Now + req.TTL
		}
		return encode(Reply{Expires: s.Expires}), nil
	}
	if req.Kind != KindClose && req.Lock == "" {
		return "", fmt.Errorf("%w: empty lock name", ErrBadRequest)
	}
	if !req.Kind.session() && (len(cmd.Keys) != 1 || cmd.Keys[0] != req.Lock) {
		// EPaxos orders by Keys: a lock command that names another key
		// would not be ordered against its lock's other commands.
		return "", fmt.Errorf("%w: a lock command must name its lock as its only key; build it with lockservice.Command", ErrBadRequest)
	}
	if s == nil {
		return "", ErrNoSession
	}
	switch req.Kind {
	case KindClose:
		m.end(id)
		return "", nil
	case KindAcquire:
		return m.acquire(id, s, req)
	case KindRelease:
		l := m.Locks[req.Lock]
		if (l == nil || !l.Holders[id]) && m.bug != bugReleaseAny {
			return "", ErrNotHolder
		}
		m.release(id, req.Lock)
		return "", nil
	case KindSetValue:
		l := m.Locks[req.Lock]
		if l == nil || !l.Holders[id] || l.Mode != Exclusive {
			return "", ErrNotHolder
		}
		if len(req.Value) > MaxValue {
			return "", ErrTooLarge
		}
		l.Value = append([]byte(nil), req.Value...)
		return "", nil
	}
	return "", fmt.Errorf("%w: unknown kind %d", ErrBadRequest, req.Kind)
}

func (m *Machine) acquire(id uint64, s *session, req Request) (string, error) {
	if req.Mode != Exclusive && req.Mode != Shared {
		return "", fmt.Errorf("%w: unknown mode %d", ErrBadRequest, req.Mode)
	}
	l := m.Locks[req.Lock]
	if l == nil {
		l = &lock{Holders: map[uint64]bool{}}
		m.Locks[req.Lock] = l
	}
	if len(l.Holders) > 0 && (req.Mode == Exclusive || l.Mode == Exclusive) && !(len(l.Holders) == 1 && l.Holders[id] && l.Mode == req.Mode) {
		return "", ErrHeld
	}
	l.Mode = req.Mode
	l.Holders[id] = true
	if s.Locks == nil {
		s.Locks = map[string]bool{}
	}
	s.Locks[req.Lock] = true
	if !(m.bug == bugTokenReuse && len(l.Holders) == 1 && l.Token > 0) {
		l.Token++
	}
	return encode(Reply{Token: l.Token}), nil
}

func (m *Machine) read(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty lock name", ErrBadRequest)
	}
	l := m.Locks[name]
	if l == nil {
		return encode(Reply{}), nil
	}
	r := Reply{Value: l.Value}
	if len(l.Holders) > 0 {
		r.Mode, r.Holders = l.Mode, slices.Sorted(maps.Keys(l.Holders))
	}
	return encode(r), nil
}

// expire ends every session whose lease ran out at the clock.
func (m *Machine) expire() {
	for _, id := range slices.Sorted(maps.Keys(m.Sessions)) {
		if m.Sessions[id].Expires <= m.Clock {
			if m.bug == bugExpiryKeepsLocks {
				delete(m.Sessions, id)
				continue
			}
			m.end(id)
		}
	}
}

func (m *Machine) end(id uint64) {
	if s := m.Sessions[id]; s != nil {
		for _, name := range slices.Sorted(maps.Keys(s.Locks)) {
			m.release(id, name)
		}
	}
	delete(m.Sessions, id)
}

func (m *Machine) release(id uint64, name string) {
	if l := m.Locks[name]; l != nil {
		if m.bug == bugReleaseAny {
			clear(l.Holders)
		}
		delete(l.Holders, id)
	}
	if s := m.Sessions[id]; s != nil {
		delete(s.Locks, name)
	}
}

func encode(r Reply) string {
	b, err := msgpack.Marshal(&r)
	if err != nil {
		panic(fmt.Sprintf("lockservice: encode reply: %v", err)) // plain fields always encode
	}
	return string(b)
}

// Snapshot implements paxos.StateMachine. Equal states give equal bytes
// (map keys are sorted).
func (m *Machine) Snapshot() []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(m); err != nil {
		panic(fmt.Sprintf("lockservice: encode snapshot: %v", err)) // plain fields always encode
	}
	return buf.Bytes()
}

// Restore implements paxos.StateMachine.
func (m *Machine) Restore(data []byte) error {
	var n Machine
	if err := msgpack.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("lockservice: decode snapshot: %w", err)
	}
	if n.Sessions == nil {
		n.Sessions = map[uint64]*session{}
	}
	if n.Locks == nil {
		n.Locks = map[string]*lock{}
	}
	n.bug = m.bug
	*m = n
	return nil
}

// Fence is kept by a downstream service to check fencing tokens: it accepts
// a request made under lock with token only if no request under that lock
// with a larger token was accepted before, so a holder whose lock expired
// and passed on cannot act after the new holder did. Safe for concurrent use.
type Fence struct {
	mu   sync.Mutex
	seen map[string]uint64
}

// ErrStaleToken is returned by Fence.Check for a superseded token.
var ErrStaleToken = errors.New("lockservice: stale fencing token; the lock has a newer holder")

// Check accepts token for lock, or returns an error wrapping ErrStaleToken.
func (f *Fence) Check(lock string, token uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[string]uint64{}
	}
	if last := f.seen[lock]; token < last {
		return fmt.Errorf("%w: %s token %d < %d", ErrStaleToken, lock, token, last)
	}
	f.seen[lock] = token
	return nil
}
