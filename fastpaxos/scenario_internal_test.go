package fastpaxos

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// cluster drives replicas by hand: every message stays in flight until a
// test delivers or drops it, and every record a replica persists is kept
// for its restart.
type cluster struct {
	t        *testing.T
	reps     []*Replica
	up       []bool
	disk     [][]any
	inflight []paxos.Message
	decided  []paxos.Decision // every decision learned, by any replica
	who      []paxos.NodeID
	bug      bugs
	thrifty  bool
}

// newCluster starts a cluster with coordinated recovery only
// (Config.Thrifty): votes go to the leader and the proposer.
func newCluster(t *testing.T, n int, leader paxos.NodeID, bug bugs) *cluster {
	return newClusterMode(t, n, leader, bug, true)
}

// newClusterMode starts a cluster; thrifty false turns on uncoordinated
// recovery.
func newClusterMode(t *testing.T, n int, leader paxos.NodeID, bug bugs, thrifty bool) *cluster {
	c := &cluster{t: t, reps: make([]*Replica, n), up: make([]bool, n), disk: make([][]any, n), bug: bug, thrifty: thrifty}
	for id := range n {
		r, err := newReplica(paxos.Config{ID: paxos.NodeID(id), N: n, InitialLeader: leader, Thrifty: c.thrifty}, bug)
		require.NoError(t, err)
		c.reps[id], c.up[id] = r, true
		c.collect(paxos.NodeID(id))
	}
	return c
}

// collect carries out a replica's Ready: records to its disk, messages in
// flight, decisions noted.
func (c *cluster) collect(id paxos.NodeID) {
	rd := c.reps[id].Ready()
	c.disk[id] = append(c.disk[id], rd.Persist...)
	c.inflight = append(c.inflight, rd.Messages...)
	for _, d := range rd.Decided {
		c.decided = append(c.decided, d)
		c.who = append(c.who, id)
	}
}

func (c *cluster) propose(id paxos.NodeID, cmd paxos.Command) {
	c.reps[id].Propose(cmd)
	c.collect(id)
}

// deliver delivers the in-flight messages that match, and those they
// cause that match too, until none is left; the others stay in flight.
func (c *cluster) deliver(match func(paxos.Message) bool) {
	for {
		i := slices.IndexFunc(c.inflight, func(m paxos.Message) bool { return c.up[m.To] && match(m) })
		if i < 0 {
			return
		}
		m := c.inflight[i]
		c.inflight = slices.Delete(c.inflight, i, i+1)
		require.NoError(c.t, c.reps[m.To].Step(m))
		c.collect(m.To)
	}
}

// drop removes the in-flight messages that match.
func (c *cluster) drop(match func(paxos.Message) bool) {
	c.inflight = slices.DeleteFunc(c.inflight, match)
}

func (c *cluster) crash(id paxos.NodeID) {
	c.up[id] = false
	c.drop(func(m paxos.Message) bool { return m.From == id || m.To == id })
}

func (c *cluster) restart(id paxos.NodeID) {
	r, err := newReplica(paxos.Config{ID: id, N: len(c.reps), InitialLeader: -1, Thrifty: c.thrifty,
		Restore: &paxos.Persisted{Records: slices.Clone(c.disk[id])}}, c.bug)
	require.NoError(c.t, err)
	c.reps[id], c.up[id] = r, true
	c.collect(id)
}

// tick ticks every running replica k times, delivering everything between
// ticks.
func (c *cluster) settle(k int) {
	for range k {
		c.deliver(func(paxos.Message) bool { return true })
		for id, r := range c.reps {
			if c.up[id] {
				r.Tick()
				c.collect(paxos.NodeID(id))
			}
		}
	}
	c.deliver(func(paxos.Message) bool { return true })
}

// valuesOf returns the distinct values learned for slot s.
func (c *cluster) valuesOf(s uint64) [][]paxos.Command {
	var out [][]paxos.Command
	for _, d := range c.decided {
		if d.Instance.Slot == s && !slices.ContainsFunc(out, func(v []paxos.Command) bool { return paxos.SameCommands(v, d.Commands) }) {
			out = append(out, d.Commands)
		}
	}
	return out
}

// collided starts five replicas led by 4 whose fast round of slot 1
// collides: 1 proposes a and 0 proposes b; 0 votes b (its own proposal),
// the others a, and the leader, having heard its own vote a, 0's b and 3's
// a, has recovered the slot in a classic round at (term, 1), whose
// Accepts are in flight.
func collided(t *testing.T, bug bugs, a, b paxos.Command) *cluster {
	c := newCluster(t, 5, 4, bug)
	c.propose(1, a)
	c.propose(0, b)
	c.deliver(func(m paxos.Message) bool {
		return proposeFrom(1, 1, 2, 3, 4)(m) || proposeFrom(0, 0)(m)
	})
	c.deliver(func(m paxos.Message) bool {
		return typ[Voted](m) && m.To == 4 && (m.From == 0 || m.From == 3)
	})
	require.Equal(t, uint64(1), c.reps[4].stats["coordinated-recoveries"])
	return c
}

func typ[T any](m paxos.Message) bool { _, ok := m.Body.(T); return ok }

func proposeFrom(from paxos.NodeID, to ...paxos.NodeID) func(paxos.Message) bool {
	return func(m paxos.Message) bool {
		return typ[Propose](m) && m.From == from && slices.Contains(to, m.To)
	}
}

func put(client uint64, value string) paxos.Command {
	return paxos.Command{Client: client, Seq: 1, Op: paxos.OpPut, Key: "k", Value: value}
}

// A fast quorum ({1,2,3,4} of 5) accepted A in slot 1 and a fifth acceptor
// B; the leader saw a classic quorum of votes, {0:B, 3:A, 4:A}, that
// differ. In coordinated recovery A has 2 >= fast + m - n = 4 + 3 - 5 = 2
// votes among the reporters, so it might have been chosen (it was) and
// the leader must keep it. The planted bug that adopts the lowest
// reporter's vote picks B and decides the slot twice.
func TestRecoveryKeepsFastQuorumValue(t *testing.T) {
	a, b := put(1, "A"), put(2, "B")
	for _, tc := range []struct {
		name string
		bug  bugs
	}{{"correct", bugs{}}, {"planted bug", bugs{lowestReporter: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			c := collided(t, tc.bug, a, b)
			ld := c.reps[4]
			acc := slices.IndexFunc(c.inflight, func(m paxos.Message) bool { return typ[Accept](m) && m.From == 4 })
			require.GreaterOrEqual(t, acc, 0, "the leader sent a classic Accept")
			got := c.inflight[acc].Body.(Accept)
			assert.Equal(t, Ballot{Round: 1, Node: 4, Sub: 1}, got.Ballot, "recovery uses the next ballot, (term, 1)")
			// Proposer 1 learns A from the fast quorum's votes.
			c.deliver(func(m paxos.Message) bool { return typ[Voted](m) && m.To == 1 })
			require.True(t, c.reps[1].slots[1].learned)
			// The classic round runs before 1's Commit reaches anyone.
			c.deliver(func(m paxos.Message) bool { return typ[Accept](m) || (typ[Voted](m) && m.To == 4) })
			c.settle(20)
			if tc.bug.lowestReporter {
				assert.Equal(t, []paxos.Command{b}, got.Value, "the planted bug adopts the lowest reporter's vote")
				assert.Len(t, c.valuesOf(1), 2, "and slot 1 is decided twice")
				return
			}
			assert.Equal(t, []paxos.Command{a}, got.Value, "rule O4 keeps the value a fast quorum may have chosen")
			assert.Equal(t, uint64(1), ld.stats["o4-forced"])
			assert.Equal(t, [][]paxos.Command{{a}}, c.valuesOf(1))
			// B lost slot 1; its proposer retries it in a later slot.
			assert.True(t, c.executedEverywhere(b), "B executes after losing slot 1")
		})
	}
}

// The same choice through a new leader's phase 1: A was chosen by the fast
// quorum {0,1,3,4} and B got 2's vote; the leader crashed before it
// learned anything, and replica 4 wins phase 1 with promises from {2,3,4}.
// A has 2 of the 3 reports, so it might have been chosen: 4 re-proposes A.
func TestNewLeaderKeepsFastQuorumValue(t *testing.T) {
	a, b := put(1, "A"), put(2, "B")
	c := newCluster(t, 5, 0, bugs{})
	c.propose(1, a)
	c.propose(2, b)
	c.deliver(func(m paxos.Message) bool { return proposeFrom(1, 0, 1, 3, 4)(m) || proposeFrom(2, 2)(m) })
	c.drop(func(m paxos.Message) bool { return typ[Voted](m) || typ[Propose](m) })
	c.crash(0)
	for _, r := range c.reps {
		assert.False(t, r.slots[1].learned, "nobody learned slot 1")
	}
	c.reps[4].campaign()
	c.collect(4)
	c.deliver(func(m paxos.Message) bool {
		inQ := m.To == 2 || m.To == 3 || m.To == 4
		return (typ[Prepare](m) && inQ) || (typ[Promise](m) && m.To == 4 && (m.From == 2 || m.From == 3))
	})
	require.Equal(t, leader, c.reps[4].role)
	acc := slices.IndexFunc(c.inflight, func(m paxos.Message) bool { return typ[Accept](m) && m.From == 4 })
	require.GreaterOrEqual(t, acc, 0)
	got := c.inflight[acc].Body.(Accept)
	assert.Equal(t, uint64(1), got.Slot)
	assert.Equal(t, []paxos.Command{a}, got.Value)
	assert.Equal(t, Ballot{Round: 2, Node: 4}, got.Ballot)
	c.settle(30)
	assert.Equal(t, [][]paxos.Command{{a}}, c.valuesOf(1))
	assert.True(t, c.executedEverywhere(a))
	assert.True(t, c.executedEverywhere(b))
}

// A three-way split: A, B and C each got one of the leader's first three
// votes {0:A, 2:B, 4:C}. No value has fast + m - n = 2 of them, so none
// can have been chosen in the fast round and the leader may pick any; it
// takes the most voted (ties: the lowest reporter's), A. All three
// commands execute, in one order everywhere.
func TestSplitWithNoPossibleChoice(t *testing.T) {
	a, b, cc := put(1, "A"), put(2, "B"), put(3, "C")
	c := newCluster(t, 5, 0, bugs{})
	c.propose(1, a)
	c.propose(2, b)
	c.propose(4, cc)
	// Votes: 0 and 1 A, 2 and 3 B, 4 C (each proposer votes its own).
	c.deliver(func(m paxos.Message) bool { return proposeFrom(1, 0)(m) || proposeFrom(2, 3)(m) })
	c.deliver(func(m paxos.Message) bool { return typ[Voted](m) && m.To == 0 && (m.From == 2 || m.From == 4) })
	ld := c.reps[0]
	require.Equal(t, uint64(1), ld.stats["coordinated-recoveries"])
	assert.Equal(t, uint64(0), ld.stats["o4-forced"])
	assert.Equal(t, uint64(1), ld.stats["o4-free"])
	acc := slices.IndexFunc(c.inflight, func(m paxos.Message) bool { return typ[Accept](m) })
	require.GreaterOrEqual(t, acc, 0)
	assert.Equal(t, []paxos.Command{a}, c.inflight[acc].Body.(Accept).Value)
	c.settle(40)
	assert.Equal(t, [][]paxos.Command{{a}}, c.valuesOf(1))
	for _, cmd := range []paxos.Command{a, b, cc} {
		assert.True(t, c.executedEverywhere(cmd), "%v executes", cmd)
	}
	c.sameOrder()
}

// An acceptor crashes after it voted A in the fast round but before its
// vote left, and restarts from its records: it still holds the vote, so it
// refuses B in the same round and repeats A. The leader, which voted B,
// recovers from {0:B, 2:A}: with N = 3 and m = 2 no value has
// fast + m - n = 2 votes, none can have been chosen, and it takes the
// lowest reporter's, B. A then executes in a later slot.
func TestAcceptorRestartMidRound(t *testing.T) {
	a, b := put(1, "A"), put(2, "B")
	c := newCluster(t, 3, 0, bugs{})
	c.propose(1, a)
	c.deliver(proposeFrom(1, 2))
	require.Equal(t, []paxos.Command{a}, c.reps[2].slots[1].vote.Value)
	c.crash(2) // its Voted messages are lost
	c.restart(2)
	c.propose(0, b)
	assert.Equal(t, Vote{Slot: 1, Ballot: Ballot{Round: 1, Node: 0}, Fast: true, Value: []paxos.Command{a}}, c.reps[2].slots[1].vote, "the vote survives the crash")
	c.deliver(func(m paxos.Message) bool { return proposeFrom(0, 2)(m) || (typ[Voted](m) && m.From == 2) })
	assert.Equal(t, []paxos.Command{a}, c.reps[2].slots[1].vote.Value, "no second vote in one round")
	assert.Equal(t, uint64(1), c.reps[0].stats["coordinated-recoveries"])
	assert.Equal(t, uint64(1), c.reps[0].stats["o4-free"])
	c.settle(40)
	assert.Equal(t, [][]paxos.Command{{b}}, c.valuesOf(1))
	assert.True(t, c.executedEverywhere(a))
	assert.True(t, c.executedEverywhere(b))
	c.sameOrder()
}

// executedEverywhere reports whether every running replica executed cmd.
func (c *cluster) executedEverywhere(cmd paxos.Command) bool {
	for id, r := range c.reps {
		if !c.up[id] {
			continue
		}
		if _, ok := r.store.Executed(&cmd); !ok {
			return false
		}
	}
	return true
}

// sameOrder asserts that every running replica learned the same value for
// each slot they both learned.
func (c *cluster) sameOrder() {
	for s := uint64(1); ; s++ {
		if len(c.valuesOf(s)) == 0 {
			return
		}
		assert.Len(c.t, c.valuesOf(s), 1, "slot %d", s)
	}
}

// The rule on its own: reports from m acceptors.
func TestPick(t *testing.T) {
	r, err := newReplica(paxos.Config{N: 5, InitialLeader: -1}, bugs{})
	require.NoError(t, err)
	a, b := []paxos.Command{put(1, "A")}, []paxos.Command{put(2, "B")}
	fast := func(v []paxos.Command) Vote { return Vote{Ballot: Ballot{Round: 3, Node: 1}, Fast: true, Value: v} }
	classic := func(v []paxos.Command, sub uint32) Vote {
		return Vote{Ballot: Ballot{Round: 3, Node: 1, Sub: sub}, Value: v}
	}
	for _, tc := range []struct {
		name    string
		reports map[paxos.NodeID]Vote
		want    []paxos.Command
		forced  bool
	}{
		{"nothing voted", map[paxos.NodeID]Vote{0: {}, 1: {}, 2: {}}, nil, false},
		{"classic round: its one value", map[paxos.NodeID]Vote{0: {}, 1: classic(b, 1), 2: fast(a)}, b, true},
		{"fast: 2 of 3 may be a fast quorum's", map[paxos.NodeID]Vote{0: fast(b), 1: fast(a), 2: fast(a)}, a, true},
		{"fast: 2 of 4 is no fast quorum's", map[paxos.NodeID]Vote{0: fast(b), 1: fast(a), 2: fast(a), 3: fast(b)}, b, false},
		{"fast: 3 of 4 may be", map[paxos.NodeID]Vote{0: fast(b), 1: fast(a), 2: fast(a), 3: fast(a)}, a, true},
		{"fast: a vote below the top round counts for nothing", map[paxos.NodeID]Vote{0: {Ballot: Ballot{Round: 2}, Fast: true, Value: a}, 1: fast(a), 2: fast(b)}, a, false},
	} {
		got, forced := r.pick(tc.reports, len(tc.reports))
		assert.Equal(t, tc.want, got, tc.name)
		assert.Equal(t, tc.forced, forced, tc.name)
	}
}
