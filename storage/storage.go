// Package storage keeps a replica's durable records: what a paxos.Ready asks
// to persist, and the snapshots that let earlier records be dropped.
//
// Two implementations share the Storage interface:
//
//   - Memory keeps encoded records in memory, for tests and simulations in
//     which a "crash" keeps the Memory value.
//   - WAL keeps them in a directory: a write-ahead log of length- and
//     CRC32C-framed records, fsynced once per Append (concurrent Appends share
//     one fsync), and a snapshot file written atomically (write a temporary
//     file, fsync, rename, fsync the directory).
//
// Records and snapshots are encoded with paxos.Encode, so every type must be
// registered with paxos.Register.
package storage

import (
	"errors"

	"github.com/paxos-lab/paxos"
)

// Storage is the durable state of one replica.
//
// Append makes snapshot (if non-nil) and then records durable, in that
// order, before it returns: a driver calls it with a Ready's Snapshot and
// Persist before sending the Ready's messages. After a snapshot is durable,
// every record appended before it is discarded. A WAL without fsync may
// write a snapshot that implements Background later, on a goroutine of its
// own (see Background); Append then returns once the records are durable.
//
// Load returns the latest snapshot and every record appended after it, in
// order: what paxos.Config.Restore expects.
type Storage interface {
	Append(snapshot any, records []any) error
	Load() (paxos.Persisted, error)
	Close() error
}

// ErrClosed is returned by a Storage used after Close.
var ErrClosed = errors.New("storage closed")

// Empty reports whether p holds nothing (a fresh replica).
func Empty(p paxos.Persisted) bool { return p.Snapshot == nil && len(p.Records) == 0 }
