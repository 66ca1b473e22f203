package multi

import (
	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// Ballot orders leadership attempts: by Round, then by the leader's id
// (Node). It is the library's shared paxos.Ballot; the zero Ballot is below
// every real ballot.
type Ballot = paxos.Ballot

// Entry is one slot's value as carried in phase 1, catch-up and snapshots.
type Entry struct {
	Slot   uint64          `msgpack:"s"`
	Ballot Ballot          `msgpack:"b"`
	Cmds   []paxos.Command `msgpack:"c"`
	// Committed is set when the sender knows the value was chosen.
	Committed bool `msgpack:"k,omitempty"`
}

// Prepare is phase 1a: a candidate asks for promises at Ballot for every
// slot above Commit (the candidate's commit point).
type Prepare struct {
	Ballot Ballot `msgpack:"b"`
	Commit uint64 `msgpack:"c"`
}

// Promise is phase 1b: the acceptor promised Ballot and reports every value
// it holds above the candidate's commit point. When the acceptor has
// compacted its log beyond that point, Snapshot carries its state instead of
// the missing entries.
type Promise struct {
	Ballot   Ballot    `msgpack:"b"`
	Entries  []Entry   `msgpack:"e"`
	Snapshot *Snapshot `msgpack:"s,omitempty"`
}

// Accept is phase 2a: the leader asks acceptors to accept Cmds for Slot.
type Accept struct {
	Ballot Ballot          `msgpack:"b"`
	Slot   uint64          `msgpack:"s"`
	Cmds   []paxos.Command `msgpack:"c"`
}

// Accepted is phase 2b: the acceptor accepted Slot at Ballot.
type Accepted struct {
	Ballot Ballot `msgpack:"b"`
	Slot   uint64 `msgpack:"s"`
}

// Commit announces that Cmds was chosen for Slot; Ballot is the sender's.
type Commit struct {
	Ballot Ballot          `msgpack:"b"`
	Slot   uint64          `msgpack:"s"`
	Cmds   []paxos.Command `msgpack:"c"`
}

// Chosen is a short Commit: it announces that the value the receiver
// accepted for Slot at Ballot was chosen, without carrying it. The leader
// sends it to the acceptors it sent that ballot's Accept for the slot and
// that vote at the ballot (one value per ballot and slot, so a receiver
// holding a value at Ballot holds the chosen one; one that does not
// ignores it); the others get a Commit with the commands (see the package
// doc, "Short commits").
type Chosen struct {
	Ballot Ballot `msgpack:"b"`
	Slot   uint64 `msgpack:"s"`
}

// Nack tells a sender of a message at a lower ballot that the receiver has
// promised Promised; the sender steps down.
type Nack struct {
	Promised Ballot `msgpack:"p"`
}

// Heartbeat keeps followers from electing a new leader and tells them a
// commit point of the leader: the one its previous heartbeat saw (so the
// Commits up to it left at least one heartbeat interval ago; a new leader's
// first heartbeat carries its execution point). Tick is the leader's tick
// count when sent (echoed back to measure leases).
type Heartbeat struct {
	Ballot Ballot `msgpack:"b"`
	Commit uint64 `msgpack:"c"`
	Tick   uint64 `msgpack:"t"`
}

// HeartbeatReply acknowledges a Heartbeat; Executed is the follower's
// execution point, so the leader can send it what it misses.
type HeartbeatReply struct {
	Ballot   Ballot `msgpack:"b"`
	Executed uint64 `msgpack:"e"`
	Commit   uint64 `msgpack:"c"` // the heartbeat's Commit, echoed
	Tick     uint64 `msgpack:"t"`
}

// Forward carries client commands from a follower to the leader.
type Forward struct {
	Cmds []paxos.Command `msgpack:"c"`
}

// CatchUp carries committed entries to a lagging replica.
type CatchUp struct {
	Ballot  Ballot  `msgpack:"b"`
	Entries []Entry `msgpack:"e"`
}

// InstallSnapshot carries a snapshot to a replica too far behind for the log.
type InstallSnapshot struct {
	Ballot   Ballot   `msgpack:"b"`
	Snapshot Snapshot `msgpack:"s"`
}

// Snapshot is the state machine after executing every slot up to Index.
type Snapshot struct {
	Index uint64      `msgpack:"i"`
	KV    kv.Snapshot `msgpack:"kv"`
}

// PromiseRecord is the durable record of a promised ballot.
type PromiseRecord struct {
	Ballot Ballot `msgpack:"b"`
}

// AcceptRecord is the durable record of a value accepted for a slot.
type AcceptRecord struct {
	Slot   uint64          `msgpack:"s"`
	Ballot Ballot          `msgpack:"b"`
	Cmds   []paxos.Command `msgpack:"c"`
}

// SnapshotRecord holds all of a replica's durable state: its promise, the
// state machine up to Snapshot.Index and every value it holds above it. It
// replaces every record persisted before it.
type SnapshotRecord struct {
	Promised Ballot   `msgpack:"p"`
	Snapshot Snapshot `msgpack:"s"`
	Entries  []Entry  `msgpack:"e"`
	// Rebuilding is set while the replica rebuilds after a lost disk
	// (see RebuildRecord).
	Rebuilding bool `msgpack:"rb,omitempty"`

	// background: a routine snapshot whose Ready's records are persisted
	// after it (see takeSnapshot); not encoded.
	background bool
}

// BackgroundSnapshot tells a storage (storage.Background) that the
// snapshot may be written while later records are appended: the records
// of its Ready, persisted after it, hold what it adds to the records
// before it. Snapshots installed from a peer and the one that ends a
// rebuild say no.
func (s SnapshotRecord) BackgroundSnapshot() bool { return s.background }

// Urgent marks the leader's heartbeats and the election messages for a
// transport's priority lane (transport.Urgent): a leader whose data queues
// are long must still be heard, or its followers depose it.
func (Heartbeat) Urgent() bool { return true }

// Prompt tells the live node (node.Prompt) that a heartbeat may leave
// before the leader's records in flight are durable. A follower takes two
// things from it: the ballot, which this leader persisted as its promise
// before its Prepare left (so before it could lead at all), and the commit
// point, which it only echoes back in its HeartbeatReply for the leader to
// decide whether to send it a CatchUp. It applies and votes on nothing in a
// heartbeat: what it learns comes in Commit, Chosen and CatchUp messages,
// which still wait until the leader's records are durable. So a heartbeat
// that outruns the disk tells no one anything the leader could forget
// (with Q2 = 1 the commit point can name a slot whose only vote is still
// in flight to the leader's disk, and that is harmless for this reason).
func (Heartbeat) Prompt() bool { return true }

// Urgent implements transport.Urgent; see Heartbeat.Urgent.
func (HeartbeatReply) Urgent() bool { return true }

// Urgent implements transport.Urgent; see Heartbeat.Urgent.
func (Prepare) Urgent() bool { return true }

// Urgent implements transport.Urgent; see Heartbeat.Urgent.
func (Promise) Urgent() bool { return true }

// Urgent implements transport.Urgent; see Heartbeat.Urgent.
func (Nack) Urgent() bool { return true }

func init() {
	paxos.RegisterProtocolInfo("multi", paxos.ProtocolInfo{New: New, Leader: true, Rank: 2})
	for name, v := range map[string]any{
		"multi.Prepare":         Prepare{},
		"multi.Promise":         Promise{},
		"multi.Accept":          Accept{},
		"multi.Accepted":        Accepted{},
		"multi.Commit":          Commit{},
		"multi.Chosen":          Chosen{},
		"multi.Nack":            Nack{},
		"multi.Heartbeat":       Heartbeat{},
		"multi.HeartbeatReply":  HeartbeatReply{},
		"multi.Forward":         Forward{},
		"multi.CatchUp":         CatchUp{},
		"multi.InstallSnapshot": InstallSnapshot{},
		"multi.PromiseRecord":   PromiseRecord{},
		"multi.AcceptRecord":    AcceptRecord{},
		"multi.SnapshotRecord":  SnapshotRecord{},
	} {
		paxos.Register(name, v)
	}
}
