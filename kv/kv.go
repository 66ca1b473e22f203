// Package kv is the replicated key-value state machine that every protocol
// executes, and the interference relation that EPaxos orders by.
//
// A Store applies Get, Put and Nop commands and deduplicates them by
// (client, seq): a command whose (client, seq) already executed takes no
// effect again and returns the output of its first execution (kept for the
// client's last RetainOutputs seqs; see there).
package kv

import (
	"sort"

	"github.com/paxos-lab/paxos"
)

// Interferes reports whether the order of a and b matters: they touch the
// same key and at least one of them writes. Nops interfere with nothing.
// It is paxos.Interferes, which also covers application commands.
func Interferes(a, b paxos.Command) bool { return paxos.Interferes(a, b) }

// RetainOutputs is how many of a client's executed seqs below its newest
// contiguous one keep their outputs for retries. A client may have at most
// this many commands outstanding: a retry of a command more than
// RetainOutputs seqs older than the client's contiguous executed prefix is
// still recognized as a duplicate, but its output is reported as "".
const RetainOutputs = 1024

// session remembers which of one client's commands executed. Every seq at
// or below Low executed; Done holds executed seqs above Low with their
// outputs, so clients with several commands outstanding are served too.
// Old holds the non-empty outputs of seqs in (Low-RetainOutputs, Low), so a
// retry of one of those (possible when seqs executed out of order, or with
// several outstanding) returns its original output.
type session struct {
	Low    uint64            `msgpack:"l"`
	LowOut string            `msgpack:"o"`
	Done   map[uint64]string `msgpack:"d,omitempty"`
	Old    map[uint64]string `msgpack:"p,omitempty"`
}

// Store is a deterministic key-value state machine. The zero value is not
// usable; call New.
type Store struct {
	data     map[string]string
	sessions map[uint64]*session
	applied  uint64
}

// New returns an empty store.
func New() *Store {
	return &Store{data: map[string]string{}, sessions: map[uint64]*session{}}
}

// Executed reports whether the command with this (client, seq) already
// executed, and its output if so.
func (s *Store) Executed(id paxos.CommandID) (output string, ok bool) {
	se := s.sessions[id.Client]
	if se == nil {
		return "", false
	}
	if id.Seq == se.Low {
		return se.LowOut, true
	}
	if id.Seq < se.Low {
		return se.Old[id.Seq], true
	}
	out, ok := se.Done[id.Seq]
	return out, ok
}

// Apply executes cmd and returns its execution record. A Nop, and a command
// with Client 0 (used for internal no-ops), is never deduplicated.
func (s *Store) Apply(cmd paxos.Command) paxos.Execution {
	ex := paxos.Execution{Command: cmd}
	if cmd.IsNop() {
		return ex
	}
	if cmd.Client == 0 {
		// Internal commands are not deduplicated (see Apply's doc).
		if cmd.Op == paxos.OpGet {
			ex.Output, ex.Missing = s.Lookup(cmd.Key)
		} else {
			s.data[cmd.Key] = cmd.Value
		}
		s.applied++
		return ex
	}
	if out, dup := s.Executed(cmd.ID()); dup {
		ex.Output, ex.Duplicate = out, true
		return ex
	}
	switch cmd.Op {
	case paxos.OpGet:
		ex.Output, ex.Missing = s.Lookup(cmd.Key)
	case paxos.OpPut:
		s.data[cmd.Key] = cmd.Value
	}
	s.applied++
	s.record(cmd.ID(), ex.Output)
	return ex
}

// Read answers a Get from current state without recording it: for reads
// served locally under a lease, which change nothing.
func (s *Store) Read(key string) string { return s.data[key] }

// Lookup is Read that also says whether the key holds no value.
func (s *Store) Lookup(key string) (value string, missing bool) {
	v, ok := s.data[key]
	return v, !ok
}

func (s *Store) record(id paxos.CommandID, out string) {
	se := s.sessions[id.Client]
	if se == nil {
		se = &session{}
		s.sessions[id.Client] = se
	}
	// The common case, a client's next seq with nothing executed out of
	// order, needs no map.
	if id.Seq == se.Low+1 && len(se.Done) == 0 {
		se.advance(out)
		return
	}
	if se.Done == nil {
		se.Done = map[uint64]string{}
	}
	se.Done[id.Seq] = out
	// Advance the low-water mark over contiguous executed seqs.
	for {
		o, ok := se.Done[se.Low+1]
		if !ok {
			break
		}
		delete(se.Done, se.Low+1)
		se.advance(o)
	}
}

// advance moves the low-water mark up by one seq whose output is out,
// keeping the previous output among the last RetainOutputs.
func (se *session) advance(out string) {
	if se.LowOut != "" && se.Low > 0 {
		if se.Old == nil {
			se.Old = map[uint64]string{}
		}
		se.Old[se.Low] = se.LowOut
	}
	se.Low++
	se.LowOut = out
	if se.Low > RetainOutputs && se.Old != nil {
		delete(se.Old, se.Low-RetainOutputs)
	}
}

// clone returns a deep copy of the session.
func (se *session) clone() session {
	return session{Low: se.Low, LowOut: se.LowOut, Done: cloneMap(se.Done), Old: cloneMap(se.Old)}
}

func cloneMap(m map[uint64]string) map[uint64]string {
	if m == nil {
		return nil
	}
	cp := make(map[uint64]string, len(m))
	for k, v := range m {
		cp[k] = v
	}
	return cp
}

// Applied returns the number of commands that took effect (duplicates and
// Nops excluded).
func (s *Store) Applied() uint64 { return s.applied }

// Len returns the number of keys stored.
func (s *Store) Len() int { return len(s.data) }

// Snapshot is a serializable copy of a Store.
type Snapshot struct {
	Data     map[string]string  `msgpack:"d"`
	Sessions map[uint64]session `msgpack:"s"`
	Applied  uint64             `msgpack:"a"`
	// App, when set, is an application state machine's snapshot with its
	// sessions (paxos.Sessions), and the fields above are empty.
	App []byte `msgpack:"x,omitempty"`
}

// Snapshot returns a deep copy of the store's state.
func (s *Store) Snapshot() Snapshot {
	snap := Snapshot{Data: make(map[string]string, len(s.data)), Sessions: make(map[uint64]session, len(s.sessions)), Applied: s.applied}
	for k, v := range s.data {
		snap.Data[k] = v
	}
	for c, se := range s.sessions {
		snap.Sessions[c] = se.clone()
	}
	return snap
}

// FromSnapshot rebuilds a store from a snapshot.
func FromSnapshot(snap Snapshot) *Store {
	s := New()
	s.applied = snap.Applied
	for k, v := range snap.Data {
		s.data[k] = v
	}
	for c, se := range snap.Sessions {
		cp := se.clone()
		s.sessions[c] = &cp
	}
	return s
}

// Keys returns the stored keys, sorted (for tests and debugging).
func (s *Store) Keys() []string {
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
