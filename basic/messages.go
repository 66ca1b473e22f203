package basic

import (
	"github.com/paxos-lab/paxos"
)

// Messages between replicas. Every slot number is at least 1. MaxSlot fields
// carry the sender's highest known slot, so a proposer that lost a race
// jumps past every slot in use.

// Prepare is phase 1a for one slot.
type Prepare struct {
	Slot   uint64 `msgpack:"s"`
	Ballot Ballot `msgpack:"b"`
}

// Promise is a positive phase 1b: the acceptor promised Ballot and reports
// the proposal it accepted in Slot (Accepted is zero if none).
type Promise struct {
	Slot     uint64          `msgpack:"s"`
	Ballot   Ballot          `msgpack:"b"`
	Accepted Ballot          `msgpack:"a"`
	Value    []paxos.Command `msgpack:"v,omitempty"`
	MaxSlot  uint64          `msgpack:"m"`
}

// Accept is phase 2a: accept Value at Ballot in Slot.
type Accept struct {
	Slot   uint64          `msgpack:"s"`
	Ballot Ballot          `msgpack:"b"`
	Value  []paxos.Command `msgpack:"v"`
}

// Accepted is a positive phase 2b.
type Accepted struct {
	Slot   uint64 `msgpack:"s"`
	Ballot Ballot `msgpack:"b"`
}

// Nack refuses Ballot in Slot, in phase 1 or 2, because the acceptor
// already promised the higher ballot Promised.
type Nack struct {
	Slot     uint64 `msgpack:"s"`
	Ballot   Ballot `msgpack:"b"`
	Phase    uint8  `msgpack:"p"`
	Promised Ballot `msgpack:"h"`
	MaxSlot  uint64 `msgpack:"m"`
}

// Commit announces that Value was chosen in Slot. A proposer broadcasts it
// when a phase-2 quorum accepted; a replica also answers a Prepare or Accept
// for a slot it already learned with a Commit.
type Commit struct {
	Slot  uint64          `msgpack:"s"`
	Value []paxos.Command `msgpack:"v"`
}

// CatchUp asks a peer for the values it learned in slots From..To (To = 0:
// up to the highest it knows).
type CatchUp struct {
	From uint64 `msgpack:"f"`
	To   uint64 `msgpack:"t"`
}

// Entry is one decided slot.
type Entry struct {
	Slot  uint64          `msgpack:"s"`
	Value []paxos.Command `msgpack:"v"`
}

// Learned answers a CatchUp with up to maxCatchUp decided slots, and the
// highest slot the sender learned (so the asker knows whether to ask again).
type Learned struct {
	Entries    []Entry `msgpack:"e"`
	MaxLearned uint64  `msgpack:"m"`
}

// Durable records. They are replayed in order by New when Config.Restore is
// set.

// PromiseRecord is the acceptor's promise of Ballot in Slot.
type PromiseRecord struct {
	Slot   uint64 `msgpack:"s"`
	Ballot Ballot `msgpack:"b"`
}

// AcceptRecord is the acceptor's acceptance of (Ballot, Value) in Slot
// (which also promises Ballot).
type AcceptRecord struct {
	Slot   uint64          `msgpack:"s"`
	Ballot Ballot          `msgpack:"b"`
	Value  []paxos.Command `msgpack:"v"`
}

// DecisionRecord is a value this replica learned was chosen in Slot. To keep
// records small, Value is omitted when it equals the value this replica's
// acceptor had accepted in Slot when the record was written.
type DecisionRecord struct {
	Slot  uint64          `msgpack:"s"`
	Value []paxos.Command `msgpack:"v,omitempty"`
}

func init() {
	paxos.Register("basic.Prepare", Prepare{})
	paxos.Register("basic.Promise", Promise{})
	paxos.Register("basic.Accept", Accept{})
	paxos.Register("basic.Accepted", Accepted{})
	paxos.Register("basic.Nack", Nack{})
	paxos.Register("basic.Commit", Commit{})
	paxos.Register("basic.CatchUp", CatchUp{})
	paxos.Register("basic.Learned", Learned{})
	paxos.Register("basic.PromiseRecord", PromiseRecord{})
	paxos.Register("basic.AcceptRecord", AcceptRecord{})
	paxos.Register("basic.DecisionRecord", DecisionRecord{})
	paxos.RegisterProtocolInfo("basic", paxos.ProtocolInfo{New: New, Rank: 1})
}
