package fastpaxos

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// forwardsTo returns how many of msgs forward a command to to.
func forwardsTo(msgs []paxos.Message, to paxos.NodeID) int {
	n := 0
	for _, m := range msgs {
		if _, ok := m.Body.(Forward); ok && m.To == to {
			n++
		}
	}
	return n
}

// A proposer whose command lost its fast round forwards it to the leader,
// and forwards it again, waiting twice as long each time up to 32
// RetryTicks, for as long as the leader does not get it chosen; a new
// leader gets it at once. Replica 2 of three proposes X in slot 1 and
// learns that slot 1 chose Y; from then on it hears the leader's Any every
// tick, but everything it sends is lost, for 2,000 ticks. At the fixed
// pace of one forward every 4 RetryTicks + ElectionTicks (30 ticks) it
// sent the leader 67 Forwards of X, and a busy leader that drops
// forwarded commands (its placing is full) was sent them again at that
// pace by every proposer for as long as it stayed busy. Backing off, it
// sends 15. When 1 takes over, 2 forwards X to it in the same step,
// instead of waiting out the wait the old leader's forwards left.
func TestForwardsBackOff(t *testing.T) {
	r, err := newReplica(paxos.Config{ID: 2, N: 3, InitialLeader: 0}, bugs{})
	require.NoError(t, err)
	x, y := put(1, "X"), put(2, "Y")
	r.Propose(x)
	r.Ready()
	require.NoError(t, r.Step(paxos.Message{From: 0, To: 2, Body: Commit{Slot: 1, Value: []paxos.Command{y}}}))
	require.Equal(t, forwardAfter, r.waiting[x.ID()], "X lost its fast round")
	old := Ballot{Round: 1, Node: 0}
	heartbeat := func(from paxos.NodeID, b Ballot) {
		require.NoError(t, r.Step(paxos.Message{From: from, To: 2, Body: Any{Ballot: b, From: 2, MaxSlot: 1, Learned: 1}}))
	}
	const ticks = 2000
	forwards := forwardsTo(r.Ready().Messages, 0)
	for range ticks {
		heartbeat(0, old)
		r.Tick()
		forwards += forwardsTo(r.Ready().Messages, 0)
	}
	require.Equal(t, paxos.NodeID(0), r.Leader())
	bound := int(ticks/r.resendAfter(maxBackoff)) + maxBackoff
	require.Positive(t, forwards, "X is forwarded")
	require.LessOrEqual(t, forwards, bound, "X forwarded %d times in %d ticks to a leader that never answered", forwards, ticks)

	heartbeat(1, Ballot{Round: 2, Node: 1})
	require.Equal(t, 1, forwardsTo(r.Ready().Messages, 1), "a new leader gets X at once")
}
