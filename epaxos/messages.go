package epaxos

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// Ballot orders the attempts to decide one instance. It packs a round
// number (high bits) and the id of the replica that owns the attempt (low 8
// bits), so two replicas never use the same ballot. Round 0 is the initial
// ballot of an instance, held by its command leader; recoveries use rounds
// 1, 2, 3, ...
type Ballot uint64

// MakeBallot returns the ballot of round for replica node.
func MakeBallot(round uint64, node paxos.NodeID) Ballot {
	return Ballot(round<<8 | uint64(uint8(node)))
}

// Round returns the ballot's round number.
func (b Ballot) Round() uint64 { return uint64(b) >> 8 }

// Node returns the replica that owns the ballot.
func (b Ballot) Node() paxos.NodeID { return paxos.NodeID(uint8(b)) }

// Initial reports whether b is an instance's initial ballot (round 0).
func (b Ballot) Initial() bool { return b.Round() == 0 }

// String returns "round.node".
func (b Ballot) String() string { return fmt.Sprintf("%d.%d", b.Round(), b.Node()) }

// Status is how far an instance has progressed at one replica.
type Status uint8

// Instance statuses, in order of progress.
const (
	StatusNone        Status = iota // nothing known (perhaps a promise only)
	StatusPreAccepted               // pre-accepted with some attributes
	StatusAccepted                  // accepted (Paxos phase 2) at some ballot
	StatusCommitted                 // decided
)

// String returns the status name.
func (s Status) String() string {
	switch s {
	case StatusNone:
		return "none"
	case StatusPreAccepted:
		return "preaccepted"
	case StatusAccepted:
		return "accepted"
	case StatusCommitted:
		return "committed"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// PreAccept asks a replica to pre-accept an instance with the sender's
// attributes, merging in its own interfering instances. At the initial
// ballot it comes from the command leader; at a higher ballot from a
// recovery that found the instance was not committed on the fast path.
type PreAccept struct {
	Ballot Ballot          `msgpack:"b"`
	Inst   paxos.Instance  `msgpack:"i"`
	Cmds   []paxos.Command `msgpack:"c"`
	Seq    uint64          `msgpack:"q"`
	Deps   []uint64        `msgpack:"d"`
}

// PreAcceptReply answers a PreAccept. When OK is false the ballot was stale
// (Ballot is the promised one) or the instance is already committed (then
// Committed is set and Cmds/Seq/Deps are the decision).
type PreAcceptReply struct {
	Ballot    Ballot          `msgpack:"b"`
	Inst      paxos.Instance  `msgpack:"i"`
	OK        bool            `msgpack:"o"`
	Changed   bool            `msgpack:"x"`
	Committed bool            `msgpack:"k"`
	Cmds      []paxos.Command `msgpack:"c,omitempty"`
	Seq       uint64          `msgpack:"q"`
	Deps      []uint64        `msgpack:"d"`
}

// Accept is Paxos phase 2 for an instance's value and attributes.
type Accept struct {
	Ballot Ballot          `msgpack:"b"`
	Inst   paxos.Instance  `msgpack:"i"`
	Cmds   []paxos.Command `msgpack:"c"`
	Seq    uint64          `msgpack:"q"`
	Deps   []uint64        `msgpack:"d"`
}

// AcceptReply answers an Accept. When OK is false, Ballot is the promised
// ballot, or Committed is set and Cmds/Seq/Deps are the decision.
type AcceptReply struct {
	Ballot    Ballot          `msgpack:"b"`
	Inst      paxos.Instance  `msgpack:"i"`
	OK        bool            `msgpack:"o"`
	Committed bool            `msgpack:"k"`
	Cmds      []paxos.Command `msgpack:"c,omitempty"`
	Seq       uint64          `msgpack:"q"`
	Deps      []uint64        `msgpack:"d,omitempty"`
}

// Commit announces an instance's decision. A short Commit leaves Cmds
// empty: the decision is the commands of the instance's initial ballot
// (its command leader's batch, the only value ever proposed at that
// ballot). A command leader sends it, for a decision at the initial
// ballot, to the replicas it sent that value at that ballot or whose votes
// for it it counted, instead of the commands they hold or will hold once
// that message arrives (a peer's messages arrive in order). Seq and Deps
// are always carried: the decided attributes may differ from a receiver's
// vote. A receiver whose latest vote is not at the initial ballot (its
// PreAccept or Accept was lost, or it voted since at a recovery's ballot)
// ignores it, and learns the decision as it learns a lost Commit's
// (recovery of the instance the Commit named, catch-up). Builds
// before 2026-11-29 refuse a short Commit as malformed, so a cluster
// should run one build.
type Commit struct {
	Inst paxos.Instance  `msgpack:"i"`
	Cmds []paxos.Command `msgpack:"c"`
	Seq  uint64          `msgpack:"q"`
	Deps []uint64        `msgpack:"d"`
}

// Prepare starts a recovery (explicit prepare) of an instance at Ballot.
type Prepare struct {
	Ballot Ballot         `msgpack:"b"`
	Inst   paxos.Instance `msgpack:"i"`
}

// PrepareReply reports a replica's state of an instance to a recovery and
// promises Ballot (when OK). VBallot is the ballot of the replica's last
// vote, kept apart from the promise (Sutra's fix). Orig says the replica
// holds the command leader's original initial-ballot attributes unchanged.
type PrepareReply struct {
	Ballot  Ballot          `msgpack:"b"`
	Inst    paxos.Instance  `msgpack:"i"`
	OK      bool            `msgpack:"o"`
	Status  Status          `msgpack:"s"`
	VBallot Ballot          `msgpack:"v"`
	Orig    bool            `msgpack:"g"`
	Cmds    []paxos.Command `msgpack:"c,omitempty"`
	Seq     uint64          `msgpack:"q"`
	Deps    []uint64        `msgpack:"d,omitempty"`
}

// TryPreAccept asks a replica, during recovery, to pre-accept an instance
// with exactly the attributes some replicas hold from the command leader,
// if that cannot break the dependency invariant with what it knows.
type TryPreAccept struct {
	Ballot Ballot          `msgpack:"b"`
	Inst   paxos.Instance  `msgpack:"i"`
	Cmds   []paxos.Command `msgpack:"c"`
	Seq    uint64          `msgpack:"q"`
	Deps   []uint64        `msgpack:"d"`
}

// TryPreAcceptReply answers a TryPreAccept. OK means the replica now holds
// the attributes. Otherwise: a stale Ballot; or Committed with the decision
// in Cmds/Seq/Deps; or a conflicting instance Conflict, with Proof set when
// that instance is committed, interferes, is not among the attributes' deps
// and does not depend on the recovered instance, which proves the recovered
// instance was not committed on the fast path with these attributes.
// LeaderOut says the replica holds Conflict with its command leader's
// original attributes, which leave the recovered instance out: that leader
// cannot have been in the recovered instance's fast quorum (rule 4a in
// recovery.go).
type TryPreAcceptReply struct {
	Ballot    Ballot          `msgpack:"b"`
	Inst      paxos.Instance  `msgpack:"i"`
	OK        bool            `msgpack:"o"`
	Committed bool            `msgpack:"k"`
	Cmds      []paxos.Command `msgpack:"c,omitempty"`
	Seq       uint64          `msgpack:"q"`
	Deps      []uint64        `msgpack:"d,omitempty"`
	Conflict  paxos.Instance  `msgpack:"x"`
	Proof     bool            `msgpack:"p"`
	LeaderOut bool            `msgpack:"l"`
}

// Watermark tells peers how far the sender has executed each replica's
// instances contiguously (Executed[r] = every slot of r up to it executed),
// so instances executed everywhere can be garbage-collected, and the
// highest slot of each replica it holds or has held (Seen, computed when
// the message was sent; empty while it rebuilds after a lost disk, and
// from builds before 2026-11-29), which the pruning of the per-key index
// waits for (see "Pruning the index" in recovery.go).
type Watermark struct {
	Executed []uint64 `msgpack:"e"`
	Seen     []uint64 `msgpack:"s,omitempty"`
}

// InstanceRecord is a durable record of one instance's full state at one
// replica; a later record of the same instance supersedes an earlier one.
type InstanceRecord struct {
	Inst    paxos.Instance  `msgpack:"i"`
	Status  Status          `msgpack:"s"`
	Ballot  Ballot          `msgpack:"b"`
	VBallot Ballot          `msgpack:"v"`
	Orig    bool            `msgpack:"g"`
	Cmds    []paxos.Command `msgpack:"c,omitempty"`
	Seq     uint64          `msgpack:"q"`
	Deps    []uint64        `msgpack:"d,omitempty"`
	// Same, on the record of a decision, says that the commands are those
	// the replica already holds for the instance (Cmds is then empty):
	// those of its latest earlier record, or of the snapshot before it. A
	// replica that commits the commands it voted for writes them once.
	// Written since 2026-11-29; earlier builds cannot restore from a log
	// that holds such records.
	Same bool `msgpack:"sm,omitempty"`
}

// IndexEntry is one key's entry in the per-key dependency index: the
// latest slot of each replica that writes (Write) or reads (Read) the key,
// the highest seq among them, and the latest executed ones. It outlives the
// instances it names, which garbage collection drops.
type IndexEntry struct {
	Write     []uint64 `msgpack:"w"`
	Read      []uint64 `msgpack:"r"`
	WriteSeq  uint64   `msgpack:"ws"`
	ReadSeq   uint64   `msgpack:"rs"`
	ExecWrite []uint64 `msgpack:"ew,omitempty"`
	ExecRead  []uint64 `msgpack:"er,omitempty"`
}

// SnapshotRecord holds a replica's whole durable state: the key-value store,
// the per-key index, every live instance (Executed lists those already
// applied to Store) and the execution and garbage-collection watermarks.
type SnapshotRecord struct {
	Store kv.Snapshot `msgpack:"kv"`
	// Keys is the per-key index (written since 2026-11-29).
	Keys IndexSnapshot `msgpack:"ik,omitempty"`
	// Index is the per-key index as builds before 2026-11-29 wrote it;
	// read, never written.
	Index     map[string]IndexEntry `msgpack:"ix,omitempty"`
	Instances []InstanceRecord      `msgpack:"in"`
	Executed  []paxos.Instance      `msgpack:"ex"`
	ExecUpTo  []uint64              `msgpack:"eu"`
	GCUpTo    []uint64              `msgpack:"gc"`
	NextSlot  uint64                `msgpack:"ns"`
	// Rebuilding is set while the replica rebuilds after a lost disk (see
	// RebuildRecord); its state then came from a peer's.
	Rebuilding bool `msgpack:"rb,omitempty"`
	// Rebuilt is set once a replica has rebuilt after a lost disk: it never
	// casts a fast-path vote again (rebuild.go).
	Rebuilt bool `msgpack:"rt,omitempty"`
	// Reserved is the highest slot of its own a rebuilt replica may have
	// led before it lost its disk; it leads a slot up to it only after a
	// phase 1 (rebuild.go).
	Reserved uint64 `msgpack:"rs,omitempty"`
	// Floor is, per replica, the slot up to which the index's facts may
	// have been pruned (see "Pruning the index" in recovery.go): a
	// command proposed here depends on at least that slot of each
	// replica. Written since 2026-11-29; absent, nothing was pruned.
	Floor []uint64 `msgpack:"fl,omitempty"`

	// background: a routine snapshot whose Ready keeps its records,
	// persisted after it (see Replica.Ready); not encoded.
	background bool
}

// BackgroundSnapshot tells a storage (storage.Background) that the
// snapshot may be written while later records are appended: the records
// of its Ready, persisted after it, hold what it adds to the records
// before it, and replaying them after it changes nothing. Snapshots
// installed from a peer, the one that ends a rebuild and those taken while
// rebuilding say no.
func (s SnapshotRecord) BackgroundSnapshot() bool { return s.background }

func init() {
	paxos.RegisterProtocolInfo("epaxos", paxos.ProtocolInfo{New: New, OddN: true, Rank: 4})
	paxos.Register("epaxos.PreAccept", PreAccept{})
	paxos.Register("epaxos.PreAcceptReply", PreAcceptReply{})
	paxos.Register("epaxos.Accept", Accept{})
	paxos.Register("epaxos.AcceptReply", AcceptReply{})
	paxos.Register("epaxos.Commit", Commit{})
	paxos.Register("epaxos.Prepare", Prepare{})
	paxos.Register("epaxos.PrepareReply", PrepareReply{})
	paxos.Register("epaxos.TryPreAccept", TryPreAccept{})
	paxos.Register("epaxos.TryPreAcceptReply", TryPreAcceptReply{})
	paxos.Register("epaxos.Watermark", Watermark{})
	paxos.Register("epaxos.InstanceRecord", InstanceRecord{})
	paxos.Register("epaxos.SnapshotRecord", SnapshotRecord{})
}
