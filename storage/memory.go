package storage

import (
	"fmt"
	"sync"

	"github.com/paxos-lab/paxos"
)

// Memory is an in-memory Storage. It encodes every value on Append, so an
// unregistered type fails at once as it would with a WAL, and Load returns
// fresh copies that share nothing with what was appended. It is safe for
// concurrent use. Close makes it unusable; a replica "crashed" in a test keeps
// its Memory and is restarted from Load.
type Memory struct {
	mu       sync.Mutex
	snapshot []byte
	records  [][]byte
	closed   bool
	appends  int
}

// NewMemory returns an empty in-memory storage.
func NewMemory() *Memory { return &Memory{} }

// Append implements Storage.
func (m *Memory) Append(snapshot any, records []any) error {
	var snap []byte
	if snapshot != nil {
		b, err := paxos.Encode(snapshot)
		if err != nil {
			return fmt.Errorf("storage: encode snapshot: %w", err)
		}
		snap = b
	}
	enc := make([][]byte, 0, len(records))
	for i, r := range records {
		b, err := paxos.Encode(r)
		if err != nil {
			return fmt.Errorf("storage: encode record %d: %w", i, err)
		}
		enc = append(enc, b)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if snap != nil {
		m.snapshot = snap
		m.records = nil
	}
	m.records = append(m.records, enc...)
	m.appends++
	return nil
}

// Load implements Storage.
func (m *Memory) Load() (paxos.Persisted, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var p paxos.Persisted
	if m.closed {
		return p, ErrClosed
	}
	if m.snapshot != nil {
		v, err := paxos.Decode(m.snapshot)
		if err != nil {
			return p, fmt.Errorf("storage: decode snapshot: %w", err)
		}
		p.Snapshot = v
	}
	for i, b := range m.records {
		v, err := paxos.Decode(b)
		if err != nil {
			return p, fmt.Errorf("storage: decode record %d: %w", i, err)
		}
		p.Records = append(p.Records, v)
	}
	return p, nil
}

// Reopen returns a new Memory holding the same durable contents, as a
// restarted process would find them (the receiver may be closed).
func (m *Memory) Reopen() *Memory {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &Memory{snapshot: m.snapshot, records: append([][]byte(nil), m.records...)}
}

// Appends returns how many Append calls succeeded (for tests).
func (m *Memory) Appends() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.appends
}

// Close implements Storage.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
