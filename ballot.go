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

// MaxRound is the highest ballot round a replica accepts in a peer's
// message. Correct replicas raise rounds one step at a time and never come
// near it; a higher round would let one forged message push every later
// ballot toward overflow, so Step refuses it with ErrMalformed.
const MaxRound = 1 << 40

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
