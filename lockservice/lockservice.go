// Package lockservice is a coarse-grained lock service in the style of
// Chubby (Burrows, OSDI 2006), written as a paxos.StateMachine so that any
// protocol of this library can replicate it (Multi-Paxos with leases is the
// intended default). This is a first part: the replicated state machine,
// command builders and a fencing-token checker, tested in the simulator;
// no command-line server, checker entry point or benchmark yet.
//
// Sessions. A client opens a session (its client id is the session id) with
// a lease of TTL milliseconds and renews it with KeepAlive. Every command
// carries the time of the client that sent it (Now, milliseconds); the
// state machine's clock is the largest Now it has applied, so expiry is
// decided by the replicated log, identically on every replica: before it
// applies a command, the state machine ends every session whose lease ran
// out at that clock and releases its locks. The clocks of the clients must
// therefore be roughly synchronized (a client whose clock runs far ahead
// ends other sessions early); stamping commands with the leader's clock
// instead is left to do.
//
// Across a leader change a client keeps its session as long as one of its
// renewals is applied before the lease ends: it should treat its session
// as in jeopardy (Chubby's grace period) from the moment its last applied
// renewal's lease ran out locally, and stop using its locks.
//
// Locks are exclusive (one holder) or shared (any number of holders, no
// exclusive one). Every acquisition returns a fencing token (Chubby's
// sequencer) from one counter that only grows, so tokens increase strictly
// per lock; a downstream service checks them with a Fence. A lock can hold
// a small value, at most MaxValue bytes, written by its exclusive holder.
//
// Interference: every command that changes state names no keys, so every
// protocol orders them all (expiry can touch any lock); Read is read-only
// and names its lock, so a Multi-Paxos leader answers it under its lease
// and EPaxos never orders two reads.
package lockservice

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

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

// The requests.
const (
	KindOpen Kind = iota + 1
	KindKeepAlive
	KindClose
	KindAcquire
	KindRelease
	KindSetValue
	KindRead
)

// Request is a lock-service command, msgpack-encoded in paxos.Command.Payload.
type Request struct {
	Kind  Kind   `msgpack:"k"`
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
	// Expires is the session's lease end (Open, KeepAlive).
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
// client library fills it in).
func Command(client uint64, req Request) paxos.Command {
	payload, err := msgpack.Marshal(&req)
	if err != nil {
		panic(fmt.Sprintf("lockservice: encode request: %v", err)) // plain fields always encode
	}
	c := paxos.Command{Client: client, Op: paxos.OpApp, Payload: payload}
	if req.Kind == KindRead {
		c.ReadOnly, c.Keys = true, []string{req.Lock}
	}
	return c
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

type session struct {
	Expires int64           `msgpack:"e"`
	Locks   map[string]bool `msgpack:"l,omitempty"`
}

type lock struct {
	Mode    Mode            `msgpack:"m"`
	Holders map[uint64]bool `msgpack:"h"`
	Value   []byte          `msgpack:"v,omitempty"`
}

// Machine is the lock service's replicated state. It implements
// paxos.StateMachine; use New as Config.StateMachine.
type Machine struct {
	Clock    int64               `msgpack:"c"`
	Token    uint64              `msgpack:"t"`
	Sessions map[uint64]*session `msgpack:"s"`
	Locks    map[string]*lock    `msgpack:"l"`
}

// New returns an empty lock service (a paxos.Config.StateMachine factory).
func New() paxos.StateMachine {
	return &Machine{Sessions: map[uint64]*session{}, Locks: map[string]*lock{}}
}

// Apply implements paxos.StateMachine.
func (m *Machine) Apply(cmd paxos.Command) (string, error) {
	var req Request
	if err := msgpack.Unmarshal(cmd.Payload, &req); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if req.Kind == KindRead {
		return m.read(req.Lock)
	}
	if cmd.ReadOnly {
		return "", fmt.Errorf("%w: only a read may be marked read-only", ErrBadRequest)
	}
	m.Clock = max(m.Clock, req.Now)
	m.expire()
	id := cmd.Client
	s := m.Sessions[id]
	switch req.Kind {
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
		return encode(Reply{Expires: s.Expires}), nil
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
		if l == nil || !l.Holders[id] {
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
	if req.Lock == "" {
		return "", fmt.Errorf("%w: empty lock name", ErrBadRequest)
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
	m.Token++
	return encode(Reply{Token: m.Token}), nil
}

func (m *Machine) read(name string) (string, error) {
	l := m.Locks[name]
	if l == nil {
		return encode(Reply{}), nil
	}
	r := Reply{Mode: l.Mode, Value: l.Value}
	for _, h := range slices.Sorted(maps.Keys(l.Holders)) {
		// a holder whose lease ran out at the clock is not reported
		if s := m.Sessions[h]; s != nil && s.Expires > m.Clock {
			r.Holders = append(r.Holders, h)
		}
	}
	return encode(r), nil
}

// expire ends every session whose lease ran out at the clock.
func (m *Machine) expire() {
	for id, s := range m.Sessions {
		if s.Expires <= m.Clock {
			m.end(id)
		}
	}
}

func (m *Machine) end(id uint64) {
	if s := m.Sessions[id]; s != nil {
		for name := range s.Locks {
			m.release(id, name)
		}
	}
	delete(m.Sessions, id)
}

func (m *Machine) release(id uint64, name string) {
	if l := m.Locks[name]; l != nil {
		delete(l.Holders, id)
		if len(l.Holders) == 0 && l.Value == nil {
			delete(m.Locks, name)
		}
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

// Snapshot implements paxos.StateMachine.
func (m *Machine) Snapshot() []byte {
	b, err := msgpack.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("lockservice: encode snapshot: %v", err)) // plain fields always encode
	}
	return b
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
