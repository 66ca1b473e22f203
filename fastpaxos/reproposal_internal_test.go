package fastpaxos

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// tickDropping ticks every running replica once and delivers every message
// in flight but those drop matches, which are lost.
func (c *cluster) tickDropping(drop func(paxos.Message) bool) {
	c.drop(drop)
	c.deliver(func(paxos.Message) bool { return true })
	for id, r := range c.reps {
		if c.up[id] {
			r.Tick()
			c.collect(paxos.NodeID(id))
		}
	}
	c.drop(drop)
	c.deliver(func(paxos.Message) bool { return true })
}

// A proposal that backed off in one fast round goes out in the next one at
// once. Replica 4 of five proposes A in slot 1 while every message it
// sends is lost (the leader, 0, never hears of the slot); its resends back
// off until it waits 32 RetryTicks between them. The leader then crashes,
// 1 wins phase 1 with promises from {1, 2, 3}, which report nothing in
// slot 1, and opens slot 1 for a fast round of its term; 4 hears that, and
// its links heal. Replica 4 re-proposes A in the new fast round within
// RetryTicks of the last send (a first send in that round), and the fast
// quorum {1, 2, 3, 4} chooses it. When the wait still counted the resends
// of the old round, A went out again 32 RetryTicks after its last send.
func TestNewFastRoundReproposesPromptly(t *testing.T) {
	a := put(1, "A")
	c := newCluster(t, 5, 0, bugs{})
	p4 := c.reps[4]
	retry := p4.retry()
	from4 := func(m paxos.Message) bool { return m.From == 4 }
	c.propose(4, a)
	for range 1000 {
		if st := p4.slots[1]; st.prop.resends == maxBackoff && st.prop.sentAt == p4.now {
			break
		}
		c.tickDropping(from4)
	}
	st := p4.slots[1]
	require.Equal(t, maxBackoff, st.prop.resends, "4's resends backed off to the cap")
	require.Equal(t, p4.now, st.prop.sentAt)
	require.False(t, c.reps[0].slots[1] != nil, "the leader never heard of slot 1")

	c.crash(0)
	c.reps[1].campaign()
	c.collect(1)
	c.drop(from4)
	c.deliver(func(m paxos.Message) bool { return m.From != 4 })
	newBallot := Ballot{Round: 2, Node: 1}
	require.Equal(t, leader, c.reps[1].role)
	require.Equal(t, newBallot, p4.anyBallot, "4 heard the new leader's Any")
	require.Equal(t, uint64(1), p4.anyFrom, "slot 1 is open to the new fast round")

	resent := int64(-1)
	for k := int64(1); k <= 40*retry && resent < 0; k++ {
		c.tickDropping(func(paxos.Message) bool { return false })
		if st.prop != nil && st.prop.ballot == newBallot {
			resent = k
		}
		if resent < 0 && st.learned {
			resent = k
		}
	}
	require.GreaterOrEqual(t, resent, int64(1), "4 proposed A again")
	require.LessOrEqual(t, resent, retry, "4 proposed A in the new fast round %d ticks after its last send, not within RetryTicks (%d)", resent, retry)
	c.settle(2 * int(retry))
	require.Equal(t, [][]paxos.Command{{a}}, c.valuesOf(1))
	require.Equal(t, uint64(1), c.reps[1].stats["fast-chosen"], "the new fast round chose A")
}
