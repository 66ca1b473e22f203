package raft

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// Msg carries one etcd raft message (raftpb.Message in its protobuf
// encoding) between replicas inside a paxos.Message.
type Msg struct {
	Data []byte `msgpack:"d"`
}

// Batch is the payload of a normal raft log entry: the client commands the
// entry carries, in order.
type Batch struct {
	Cmds []paxos.Command `msgpack:"c"`
}

// State is the application state a raft snapshot carries: the key-value
// store with its deduplication table.
type State struct {
	KV kv.Snapshot `msgpack:"kv"`
}

// Entry is one raft log entry as it is persisted.
type Entry struct {
	Term  uint64 `msgpack:"t"`
	Index uint64 `msgpack:"i"`
	Type  int32  `msgpack:"y,omitempty"`
	Data  []byte `msgpack:"d,omitempty"`
}

// HardStateRecord is the durable record of raft's HardState: the current
// term, the vote cast in it and the commit index.
type HardStateRecord struct {
	Term   uint64 `msgpack:"t"`
	Vote   uint64 `msgpack:"v"`
	Commit uint64 `msgpack:"c"`
}

// EntriesRecord is the durable record of log entries raft asked to append.
// Entries at an index already held replace it and every entry after it, as
// they do in raft's storage.
type EntriesRecord struct {
	Entries []Entry `msgpack:"e"`
}

// SnapshotRecord holds all of a replica's durable state: its HardState, the
// raft snapshot (index, term, voters and the encoded State) and every log
// entry it holds above the snapshot index. It replaces every record
// persisted before it.
type SnapshotRecord struct {
	HardState HardStateRecord `msgpack:"h"`
	Index     uint64          `msgpack:"i"`
	Term      uint64          `msgpack:"t"`
	Voters    []uint64        `msgpack:"vo"`
	Data      []byte          `msgpack:"d"`
	Entries   []Entry         `msgpack:"e"`
	// Rebuild is the replica's rebuild state (see RebuildRecord): set
	// while it rebuilds after a lost disk and once it has rebuilt.
	Rebuild *RebuildRecord `msgpack:"rb,omitempty"`

	// state, when set, is the snapshot's state, not yet encoded: Data is
	// then empty, and EncodeMsgpack encodes it into Data's place, off the
	// replica's event loop.
	state *State
	// background: a routine snapshot whose Ready's records are persisted
	// after it (see Replica.backgroundSnapshot); not encoded.
	background bool
}

// BackgroundSnapshot tells a storage (storage.Background) that the
// snapshot may be written while later records are appended: the records
// of its Ready, persisted after it, only append entries the snapshot
// already holds and repeat its HardState, so replaying them after it
// changes nothing (the argument is at Replica.backgroundSnapshot).
// Snapshots installed from a leader, those taken while rebuilding after a
// lost disk or in the Ready that ends the rebuild, and those taken after
// an append replaced entries of the log, say no.
func (rec SnapshotRecord) BackgroundSnapshot() bool { return rec.background }

// snapshotRecordFields is SnapshotRecord's encoding (without its encoder).
type snapshotRecordFields SnapshotRecord

// EncodeMsgpack implements msgpack.CustomEncoder: the record as its fields
// say, Data being the encoded state when the replica left that to the
// storage (a snapshot it took; see Replica.snapState).
func (rec SnapshotRecord) EncodeMsgpack(e *msgpack.Encoder) error {
	if rec.state != nil && len(rec.Data) == 0 {
		data, err := paxos.Encode(*rec.state)
		if err != nil {
			return fmt.Errorf("raft: encode snapshot state: %w", err)
		}
		rec.Data = data
	}
	return e.Encode(snapshotRecordFields(rec))
}

func init() {
	paxos.RegisterProtocolInfo("raft", paxos.ProtocolInfo{New: New, Leader: true, Rank: 5})
	for name, v := range map[string]any{
		"raft.Msg":             Msg{},
		"raft.Batch":           Batch{},
		"raft.State":           State{},
		"raft.HardStateRecord": HardStateRecord{},
		"raft.EntriesRecord":   EntriesRecord{},
		"raft.SnapshotRecord":  SnapshotRecord{},
		"raft.RebuildQuery":    RebuildQuery{},
		"raft.RebuildInfo":     RebuildInfo{},
		"raft.RebuildRecord":   RebuildRecord{},
	} {
		paxos.Register(name, v)
	}
}
