// Package nackcap caps the refusals (Nacks) a replica sends each peer in
// one tick, so that a burst of stale messages is not echoed back in full.
//
// A refusal only hints the sender to step down or to campaign higher, and
// the latest one says all the identical earlier ones did. With every
// refused message answered, a stale leader whose clock jumped ahead
// hundreds of ticks at once (a heartbeat on each) got as many Nacks back;
// queued at its CPU for seconds, they held up the Promises of its next
// elections while its election timer (ticks are not queued) kept starting
// new ballots, each deposing the others' leader, so nobody led until the
// backlog drained. multi and fastpaxos share this cap; their flood tests
// (TestStaleLeaderFloodConverges) replay that scenario.
package nackcap

import "github.com/paxos-lab/paxos"

// PerTick is how many equal refusals one peer is sent in a tick. Two, not
// one: a peer's heartbeat and a resent or duplicated message landing in the
// same tick are still both answered; only bursts are cut.
const PerTick = 2

// Cap remembers, per peer, the last refusal sent to it, in which tick, and
// how many equal ones it got in that tick. K is what makes two refusals
// equal (the promise they carry, or the whole Nack). Not safe for
// concurrent use; a replica is a single-threaded state machine.
type Cap[K comparable] struct {
	last []sent[K]
}

type sent[K comparable] struct {
	tick uint64 // the tick + 1 (0: none yet)
	key  K
	n    int
}

// New returns a cap for a cluster of n replicas.
func New[K comparable](n int) Cap[K] {
	return Cap[K]{last: make([]sent[K], n)}
}

// Allow reports whether refusal k may be sent to peer to in tick now, and
// counts it if so: at most PerTick equal refusals per peer and tick; a
// different one (a new promise) always goes and starts the count again.
func (c *Cap[K]) Allow(to paxos.NodeID, now uint64, k K) bool {
	s := &c.last[to]
	if s.tick == now+1 && s.key == k {
		if s.n >= PerTick {
			return false
		}
		s.n++
		return true
	}
	*s = sent[K]{tick: now + 1, key: k, n: 1}
	return true
}
