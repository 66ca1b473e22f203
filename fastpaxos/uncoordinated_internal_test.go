package fastpaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

func votedAt(sub uint32, from ...paxos.NodeID) func(paxos.Message) bool {
	return func(m paxos.Message) bool {
		v, ok := m.Body.(Voted)
		if !ok || v.Vote.Ballot.Sub != sub {
			return false
		}
		for _, f := range from {
			if m.From == f {
				return true
			}
		}
		return false
	}
}

// A collision resolved by the acceptors alone. Leader 4 opened the fast
// round (1, 4, 0). Proposer 1's A reaches 2; proposer 3's B reaches 0 and
// 4: votes 1:A 2:A 0:B 3:B 4:B, no fast quorum (4 of 5). Every acceptor
// then hears 3's and 4's votes, then 1's. At its first classic quorum of
// split votes each applies rule O4 (for 1, 2: {own A, 3:B, 4:B}, m = 3, B
// has 2 >= fast + m - n = 2; for 0, 3, 4: m = 4, B has 3 >= 3) and votes B
// at (1, 4, 1). Five equal votes in that fast round choose B, with no
// message from the leader: one message delay after the collision, where
// coordinated recovery takes two more.
func TestUncoordinatedRecovery(t *testing.T) {
	c := newClusterMode(t, 5, 4, bugs{}, false)
	a, b := put(1, "A"), put(2, "B")
	c.propose(1, a)
	c.propose(3, b)
	c.deliver(func(m paxos.Message) bool { return proposeFrom(1, 2)(m) || proposeFrom(3, 0, 4)(m) })
	c.drop(func(m paxos.Message) bool { return typ[Propose](m) })
	c.deliver(votedAt(0, 3, 4))
	c.deliver(votedAt(0, 1))
	want := Ballot{Round: 1, Node: 4, Sub: 1}
	for id, r := range c.reps {
		st := r.slots[1]
		require.NotNil(t, st, "replica %d", id)
		if st.learned {
			continue
		}
		assert.Equal(t, Vote{Slot: 1, Ballot: want, Fast: true, Value: []paxos.Command{b}}, st.vote, "replica %d votes B by itself", id)
	}
	c.deliver(votedAt(1, 0, 1, 2, 3, 4))
	assert.Equal(t, [][]paxos.Command{{b}}, c.valuesOf(1))
	chosen := uint64(0)
	for _, r := range c.reps {
		chosen += r.stats["uncoordinated-chosen"]
		assert.Positive(t, r.stats["uncoordinated-votes"])
	}
	assert.Positive(t, chosen)
	ld := c.reps[4]
	assert.Zero(t, ld.stats["coordinated-recoveries"]+ld.stats["recoveries"], "the leader did nothing")
	c.settle(40)
	assert.Equal(t, [][]paxos.Command{{b}}, c.valuesOf(1))
	assert.Equal(t, [][]paxos.Command{{a}}, c.valuesOf(2), "A, which lost, was proposed again in slot 2")
	ones := 0
	for _, d := range c.decided {
		if d.Instance.Slot == 1 {
			ones++
		}
	}
	assert.Equal(t, 5, ones, "every replica learned slot 1 once")
}

// The case the paper's rule exists for: a fast quorum {1, 2, 3, 4} chose A
// at (1, 4, 0) and acceptor 0 voted B. Acceptor 0 hears 3's and 4's votes:
// {0:B, 3:A, 4:A}, split. A has 2 >= fast + m - n = 4 + 3 - 5 votes, so it
// might have been chosen, and 0 must vote A at (1, 4, 1) although it voted
// B itself. The planted bug that adopts the lowest reporter's vote (its
// own) votes B there.
func TestUncoordinatedRecoveryKeepsFastQuorumValue(t *testing.T) {
	a, b := put(1, "A"), put(2, "B")
	for _, tc := range []struct {
		name string
		bug  bugs
		want []paxos.Command
	}{{"correct", bugs{}, []paxos.Command{a}}, {"planted bug", bugs{lowestReporter: true}, []paxos.Command{b}}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterMode(t, 5, 4, tc.bug, false)
			c.propose(1, a)
			c.propose(0, b)
			c.deliver(proposeFrom(1, 2, 3, 4))
			c.drop(func(m paxos.Message) bool { return typ[Propose](m) })
			c.deliver(func(m paxos.Message) bool { return votedAt(0, 3, 4)(m) && m.To == 0 })
			st := c.reps[0].slots[1]
			assert.Equal(t, Vote{Slot: 1, Ballot: Ballot{Round: 1, Node: 4, Sub: 1}, Fast: true, Value: tc.want}, st.vote)
			if tc.name == "correct" {
				c.settle(40)
				assert.Equal(t, [][]paxos.Command{{a}}, c.valuesOf(1))
			}
		})
	}
}
