package fastpaxos

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// Ballot numbers the rounds of one slot. Ballots are ordered by Round, then
// Node, then Sub. A leader wins phase 1 at (Round, Node, 0) for every slot at
// once; Sub counts the recovery rounds it then runs in one slot: (R, L, k+1)
// directly follows (R, L, k), with no ballot of another replica between
// them, which is what coordinated recovery needs. Sub 0 is a fast round in
// the slots the leader opened with Any and a classic round elsewhere; every
// Sub above 0 is a classic round.
type Ballot struct {
	Round uint64       `msgpack:"r"`
	Node  paxos.NodeID `msgpack:"n"`
	Sub   uint32       `msgpack:"u"`
}

// Less reports whether b orders before o.
func (b Ballot) Less(o Ballot) bool {
	if b.Round != o.Round {
		return b.Round < o.Round
	}
	if b.Node != o.Node {
		return b.Node < o.Node
	}
	return b.Sub < o.Sub
}

// IsZero reports whether b is the zero ballot ("none").
func (b Ballot) IsZero() bool { return b == Ballot{} }

// Term returns b with Sub 0: the leader's phase-1 ballot b belongs to.
func (b Ballot) Term() Ballot { return Ballot{Round: b.Round, Node: b.Node} }

// String formats b as "round.node.sub".
func (b Ballot) String() string { return fmt.Sprintf("%d.%d.%d", b.Round, b.Node, b.Sub) }

func maxBallot(a, b Ballot) Ballot {
	if a.Less(b) {
		return b
	}
	return a
}

// Prepare is phase 1a for every slot from From on, sent by a candidate
// leader.
type Prepare struct {
	Ballot Ballot `msgpack:"b"`
	From   uint64 `msgpack:"f"`
}

// Vote is what an acceptor holds in one slot: the value it accepted at
// Ballot and whether that was in a fast round, or, with Decided set, the
// value it learned was chosen.
type Vote struct {
	Slot    uint64          `msgpack:"s"`
	Ballot  Ballot          `msgpack:"b"`
	Fast    bool            `msgpack:"f,omitempty"`
	Decided bool            `msgpack:"d,omitempty"`
	Value   []paxos.Command `msgpack:"v"`
}

// Promise is a positive phase 1b: the acceptor promised Ballot and reports
// its votes in every slot from the Prepare's From on.
type Promise struct {
	Ballot Ballot `msgpack:"b"`
	Votes  []Vote `msgpack:"v,omitempty"`
}

// Any is the leader's phase 2a "any value" message, repeated as its
// heartbeat: Ballot is a fast round in every slot from From on, so
// acceptors may accept there the first value a proposer sends them.
// MaxSlot and Learned (the leader's highest known slot and the end of its
// contiguous learned prefix) let replicas pick fresh slots and catch up.
type Any struct {
	Ballot  Ballot `msgpack:"b"`
	From    uint64 `msgpack:"f"`
	MaxSlot uint64 `msgpack:"m"`
	Learned uint64 `msgpack:"l"`
}

// Propose is a proposer's fast-round phase 2a message: accept Value in Slot
// at the fast round Ballot.
type Propose struct {
	Slot   uint64          `msgpack:"s"`
	Ballot Ballot          `msgpack:"b"`
	Value  []paxos.Command `msgpack:"v"`
}

// Accept is the leader's classic phase 2a message.
type Accept struct {
	Slot   uint64          `msgpack:"s"`
	Ballot Ballot          `msgpack:"b"`
	Value  []paxos.Command `msgpack:"v"`
}

// Voted is phase 2b: the acceptor accepted Vote. It goes to the round's
// leader and, in a fast round, to the proposer too; both learn from it.
type Voted struct {
	Vote Vote `msgpack:"v"`
}

// Recover is a one-slot phase 1a at a recovery ballot (Sub > 0): the leader
// asks for the acceptors' votes in Slot and their promise to accept nothing
// there below Ballot.
type Recover struct {
	Slot   uint64 `msgpack:"s"`
	Ballot Ballot `msgpack:"b"`
}

// Report answers a Recover: the acceptor's vote in the slot (a zero Ballot
// when it has none) at the recovery ballot Ballot.
type Report struct {
	Ballot Ballot `msgpack:"b"`
	Vote   Vote   `msgpack:"v"`
}

// Nack refuses Ballot in Slot (0: a Prepare) because the acceptor promised
// Promised, or holds no Any for a fast Propose. Learned, set only on a
// refused Prepare, is the end of the acceptor's learned prefix when the
// candidate is too far behind it to take over (see Replica.ahead).
type Nack struct {
	Slot     uint64 `msgpack:"s"`
	Ballot   Ballot `msgpack:"b"`
	Promised Ballot `msgpack:"p"`
	Learned  uint64 `msgpack:"l,omitempty"`
}

// Commit announces that Value was chosen in Slot, in a fast round when
// Fast is set.
type Commit struct {
	Slot  uint64          `msgpack:"s"`
	Value []paxos.Command `msgpack:"v"`
	Fast  bool            `msgpack:"f,omitempty"`
}

// Forward hands a command that keeps losing fast rounds to the leader,
// which proposes it in a classic round.
type Forward struct {
	Command paxos.Command `msgpack:"c"`
}

// CatchUp asks a peer for the values chosen in slots from From on.
type CatchUp struct {
	From uint64 `msgpack:"f"`
}

// Learned answers a CatchUp with chosen slots (Vote.Decided set).
type Learned struct {
	Votes []Vote `msgpack:"v"`
}

// Durable records, replayed in order by New when Config.Restore is set.

// PromiseRecord is the acceptor's promise of Ballot in every slot.
type PromiseRecord struct {
	Ballot Ballot `msgpack:"b"`
}

// SlotPromiseRecord is the acceptor's promise of a recovery Ballot in Slot.
type SlotPromiseRecord struct {
	Slot   uint64 `msgpack:"s"`
	Ballot Ballot `msgpack:"b"`
}

// AcceptRecord is the acceptor's vote in a slot.
type AcceptRecord struct {
	Vote Vote `msgpack:"v"`
}

// DecisionRecord is a value this replica learned was chosen in Slot.
type DecisionRecord struct {
	Slot  uint64          `msgpack:"s"`
	Value []paxos.Command `msgpack:"v"`
}

// RebuildRecord is written when a replica that lost its disk starts to
// rebuild (Done false) and when it finishes and may vote again (Done true);
// the last one replayed tells New whether a rebuild is still under way.
type RebuildRecord struct {
	Done bool `msgpack:"d,omitempty"`
}

func init() {
	for name, v := range map[string]any{
		"Prepare": Prepare{}, "Promise": Promise{}, "Any": Any{}, "Propose": Propose{},
		"Accept": Accept{}, "Voted": Voted{}, "Recover": Recover{}, "Report": Report{},
		"Nack": Nack{}, "Commit": Commit{}, "Forward": Forward{}, "CatchUp": CatchUp{},
		"Learned": Learned{}, "PromiseRecord": PromiseRecord{}, "SlotPromiseRecord": SlotPromiseRecord{},
		"AcceptRecord": AcceptRecord{}, "DecisionRecord": DecisionRecord{},
		"RebuildQuery": RebuildQuery{}, "RebuildInfo": RebuildInfo{}, "RebuildRecord": RebuildRecord{},
	} {
		paxos.Register("fastpaxos."+name, v)
	}
	paxos.RegisterProtocolInfo("fastpaxos", paxos.ProtocolInfo{New: New, Leader: true, Rank: 6})
}

// Snapshot is the state machine after executing every slot up to Index.
type Snapshot struct {
	Index uint64      `msgpack:"i"`
	KV    kv.Snapshot `msgpack:"kv"`
}

// InstallSnapshot answers a CatchUp for slots this replica compacted away:
// its latest snapshot, which the asker installs in place of those slots.
type InstallSnapshot struct {
	Snapshot Snapshot `msgpack:"s"`
}

// SnapshotRecord is the one record a replica writes at a snapshot, after
// which its older records may go: the term promise, the snapshot, and the
// promises, votes and decisions of the slots past Snapshot.Index.
// Rebuilding is set when it was written during a rebuild after a lost
// disk, which a restart then resumes.
type SnapshotRecord struct {
	Promised   Ballot       `msgpack:"p"`
	Snapshot   Snapshot     `msgpack:"s"`
	Slots      []SlotRecord `msgpack:"l"`
	Rebuilding bool         `msgpack:"rb,omitempty"`
}

// SlotRecord is a slot's durable state in a SnapshotRecord: its recovery
// promise, the acceptor's vote, and the value learned (nil if none).
type SlotRecord struct {
	Slot     uint64          `msgpack:"s"`
	Promised Ballot          `msgpack:"p"`
	Vote     Vote            `msgpack:"v"`
	Learned  []paxos.Command `msgpack:"l,omitempty"`
}

func init() {
	for name, v := range map[string]any{
		"InstallSnapshot": InstallSnapshot{}, "SnapshotRecord": SnapshotRecord{},
	} {
		paxos.Register("fastpaxos."+name, v)
	}
}
