package paxos

import "fmt"

// Ballot is a Paxos proposal number, shared by the leader-based protocols
// (basic, multi, flexible). Ballots are ordered by Round, then by Node; a
// replica only uses ballots carrying its own id, so no two replicas ever
// use the same ballot. The zero Ballot means "none" and is lower than every
// ballot in use (rounds start at 1).
type Ballot struct {
	Round uint64 `msgpack:"r"`
	Node  NodeID `msgpack:"n"`
}

// Less reports whether b orders before o.
func (b Ballot) Less(o Ballot) bool {
	if b.Round != o.Round {
		return b.Round < o.Round
	}
	return b.Node < o.Node
}

// IsZero reports whether b is the zero ballot ("none").
func (b Ballot) IsZero() bool { return b == Ballot{} }

// String formats b as "round.node".
func (b Ballot) String() string { return fmt.Sprintf("%d.%d", b.Round, b.Node) }
