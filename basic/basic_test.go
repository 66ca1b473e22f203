package basic

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBallotOrder(t *testing.T) {
	assert.True(t, Ballot{Round: 1, Node: 2}.Less(Ballot{Round: 2, Node: 0}))
	assert.True(t, Ballot{Round: 1, Node: 0}.Less(Ballot{Round: 1, Node: 1}))
	assert.False(t, Ballot{Round: 1, Node: 1}.Less(Ballot{Round: 1, Node: 1}))
	assert.True(t, Ballot{}.Less(Ballot{Round: 1, Node: 0}))
	assert.Equal(t, Ballot{Round: 1, Node: 3}, NextBallot(Ballot{}, 3))
	assert.Equal(t, Ballot{Round: 1, Node: 0}, NextBallot(Ballot{}, 0))
	assert.Equal(t, Ballot{Round: 4, Node: 2}, NextBallot(Ballot{Round: 4, Node: 1}, 2))
	assert.Equal(t, Ballot{Round: 5, Node: 1}, NextBallot(Ballot{Round: 4, Node: 1}, 1))
	assert.Equal(t, Ballot{Round: 5, Node: 0}, NextBallot(Ballot{Round: 4, Node: 1}, 0))
	assert.Equal(t, "4.1", Ballot{Round: 4, Node: 1}.String())
}

func TestAcceptorRejectsLowerBallots(t *testing.T) {
	var a Acceptor
	v := []paxos.Command{put(1, 1, "k", "a")}
	require.True(t, a.Prepare(Ballot{Round: 2, Node: 1}).OK)
	res := a.Prepare(Ballot{Round: 1, Node: 4})
	assert.False(t, res.OK)
	assert.Equal(t, Ballot{Round: 2, Node: 1}, res.Promised)
	acc := a.Accept(Ballot{Round: 1, Node: 4}, v)
	assert.False(t, acc.OK)
	assert.Equal(t, Ballot{Round: 2, Node: 1}, acc.Promised)
	assert.True(t, a.Accepted.IsZero(), "a refused proposal must not be accepted")

	require.True(t, a.Accept(Ballot{Round: 2, Node: 1}, v).OK)
	// A later prepare reports what was accepted.
	res = a.Prepare(Ballot{Round: 3, Node: 0})
	require.True(t, res.OK)
	assert.Equal(t, Ballot{Round: 2, Node: 1}, res.Accepted)
	assert.Equal(t, v, res.Value)
	// and the old ballot can no longer be accepted.
	assert.False(t, a.Accept(Ballot{Round: 2, Node: 1}, v).OK)
}

func TestProposerAdoptsHighestAccepted(t *testing.T) {
	m, err := quorum.NewMajority(5)
	require.NoError(t, err)
	own := []paxos.Command{put(1, 1, "k", "mine")}
	old := []paxos.Command{put(2, 1, "k", "old")}
	newer := []paxos.Command{put(3, 1, "k", "newer")}
	p := NewProposer(m, Ballot{Round: 7, Node: 0}, own)
	assert.False(t, p.Promise(0, PrepareResult{OK: true}))
	assert.False(t, p.Promise(1, PrepareResult{OK: true, Accepted: Ballot{Round: 2, Node: 3}, Value: old}))
	assert.False(t, p.Promise(3, PrepareResult{Promised: Ballot{Round: 9, Node: 3}}), "a refusal is no promise")
	assert.True(t, p.Promise(2, PrepareResult{OK: true, Accepted: Ballot{Round: 5, Node: 4}, Value: newer}))
	assert.True(t, p.Ready())
	assert.True(t, p.Adopted())
	assert.Equal(t, newer, p.Value())
	assert.False(t, p.Promise(4, PrepareResult{OK: true}), "ready is reported once")
	assert.False(t, p.Refused())

	q := NewProposer(m, Ballot{Round: 1, Node: 0}, own)
	q.Promise(1, PrepareResult{Promised: Ballot{Round: 2, Node: 1}})
	q.Promise(2, PrepareResult{Promised: Ballot{Round: 2, Node: 1}})
	assert.False(t, q.Refused())
	q.Promise(3, PrepareResult{Promised: Ballot{Round: 2, Node: 1}})
	assert.True(t, q.Refused(), "three refusals of five leave no majority")
}

func TestLearnerNeedsQuorumOfOneBallot(t *testing.T) {
	m, err := quorum.NewMajority(3)
	require.NoError(t, err)
	a := []paxos.Command{put(1, 1, "k", "a")}
	b := []paxos.Command{put(2, 1, "k", "b")}
	l := NewLearner(m)
	assert.False(t, l.Accepted(0, Ballot{Round: 1, Node: 0}, a))
	assert.False(t, l.Accepted(1, Ballot{Round: 2, Node: 1}, b), "votes of different ballots do not add up")
	_, ok := l.Value()
	assert.False(t, ok)
	assert.True(t, l.Accepted(2, Ballot{Round: 2, Node: 1}, b))
	v, ok := l.Value()
	require.True(t, ok)
	assert.Equal(t, b, v)
	assert.False(t, l.Accepted(1, Ballot{Round: 1, Node: 0}, a), "learned once")
	assert.False(t, l.Learn(a))
}

func TestOneCommandChosenAndExecutedEverywhere(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		c := newCluster(t, n)
		cmd := put(1, 1, "x", "1")
		c.Propose(0, cmd)
		c.Deliver(nil)
		for i := 0; i < n; i++ {
			require.Len(t, c.Executed[i], 1, "n=%d replica %d", n, i)
			assert.Equal(t, cmd, c.Executed[i][0].Command)
			assert.Equal(t, []paxos.Command{cmd}, c.slot(i, 1))
		}
		for i := 0; i < n; i++ {
			assert.Equal(t, uint64(1), c.rep(i).Executed())
			v, ok := c.rep(i).Value(1)
			require.True(t, ok)
			assert.Equal(t, []paxos.Command{cmd}, v)
			_, ok = c.rep(i).Value(2)
			assert.False(t, ok)
		}
		require.Len(t, c.Committed[0], 1)
		assert.Equal(t, paxos.Commit{ID: cmd.ID(), Path: paxos.PathClassic}, c.Committed[0][0])
		for i := 1; i < n; i++ {
			assert.Empty(t, c.Committed[i], "only the proposing replica reports Committed")
		}
		// A get afterwards reads the value.
		c.Propose(n-1, get(2, 1, "x"))
		c.Deliver(nil)
		require.Len(t, c.Executed[n-1], 2)
		assert.Equal(t, "1", c.Executed[n-1][1].Output)
	}
}

func TestProposeRepliesToRetryOfExecutedCommand(t *testing.T) {
	c := newCluster(t, 3)
	cmd := put(1, 1, "x", "1")
	c.Propose(0, cmd)
	c.Deliver(nil)
	c.Propose(0, cmd)
	require.Len(t, c.Executed[0], 2)
	assert.True(t, c.Executed[0][1].Duplicate)
	assert.Empty(t, c.Queue, "a retry of an executed command needs no consensus")
	assert.Len(t, c.DecidedAt[0], 1)
}

func TestConcurrentProposersSameSlot(t *testing.T) {
	for _, n := range []int{3, 5} {
		c := newCluster(t, n)
		a, b := put(1, 1, "k", "a"), put(2, 1, "k", "b")
		// Both replicas start Phase 1 in slot 1 before hearing of each other.
		c.Propose(0, a)
		c.Propose(1, b)
		require.Equal(t, uint64(1), c.rep(0).maxSlot)
		require.Equal(t, uint64(1), c.rep(1).maxSlot)
		for i := 0; i < 200 && (c.rep(0).executed < 2 || c.rep(1).executed < 2); i++ {
			c.Deliver(nil)
			c.tick()
		}
		for k := 0; k < 100; k++ {
			c.tick()
		}
		v1, ok := c.value(0, 1)
		require.True(t, ok)
		require.Len(t, v1, 1)
		for i := 0; i < n; i++ {
			ids := c.ExecutedIDs(i)
			assert.ElementsMatch(t, []paxos.CommandID{a.ID(), b.ID()}, ids, "n=%d replica %d executes both commands once", n, i)
			assert.Equal(t, c.ExecutedIDs(0), ids, "same order everywhere")
		}
		// The two commands were chosen in different slots.
		var slotOf = map[paxos.CommandID]uint64{}
		for in, d := range c.DecidedAt[0] {
			s := in.Slot
			for _, cmd := range d.Commands {
				if cmd.Client != 0 {
					if _, dup := slotOf[cmd.ID()]; !dup {
						slotOf[cmd.ID()] = s
					}
				}
			}
		}
		assert.NotEqual(t, slotOf[a.ID()], slotOf[b.ID()])
		c.idle()
		assert.Len(t, c.Committed[0], 1)
		assert.Len(t, c.Committed[1], 1)
	}
}

// TestAdoptAcceptedValue: a proposer whose Phase 1 finds a value accepted in
// its slot completes the slot with that value and moves its own command on.
func TestAdoptAcceptedValue(t *testing.T) {
	c := newCluster(t, 3)
	a, b := put(1, 1, "k", "a"), put(2, 1, "k", "b")
	// Replica 0 gets a accepted by itself and replica 1, but its Accepted
	// replies and Commit are lost, and it crashes.
	c.Lose = func(m paxos.Message) bool {
		_, isAcc := m.Body.(Accepted)
		return m.To == 2 || isAcc
	}
	c.Propose(0, a)
	c.Deliver(nil)
	c.Crash(0)
	c.Lose = nil
	assert.Equal(t, a.Value, c.rep(1).Acceptor(1).Value[0].Value)
	// Replica 2 never heard of slot 1 and proposes b there.
	require.Equal(t, uint64(0), c.rep(2).maxSlot)
	c.Propose(2, b)
	c.Deliver(nil)
	for i := 0; i < 50 && c.rep(2).executed < 2; i++ {
		c.tick()
	}
	assert.Equal(t, []paxos.Command{a}, c.slot(2, 1), "slot 1 completed with the adopted value")
	assert.Equal(t, []paxos.Command{b}, c.slot(2, 2), "own command retried in the next slot")
	assert.Equal(t, []paxos.CommandID{a.ID(), b.ID()}, c.ExecutedIDs(2))
	assert.Equal(t, []paxos.CommandID{a.ID(), b.ID()}, c.ExecutedIDs(1))
	c.idle()
}

func TestNackCarriesHigherBallot(t *testing.T) {
	c := newCluster(t, 3)
	r := c.rep(1)
	require.NoError(t, r.Step(paxos.Message{From: 2, To: 1, Body: Prepare{Slot: 4, Ballot: Ballot{Round: 6, Node: 2}}}))
	rd := r.Ready()
	require.Len(t, rd.Persist, 1, "a promise is persisted in the same Ready as the reply")
	assert.Equal(t, PromiseRecord{Slot: 4, Ballot: Ballot{Round: 6, Node: 2}}, rd.Persist[0])
	require.Len(t, rd.Messages, 1)
	assert.IsType(t, Promise{}, rd.Messages[0].Body)

	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: Prepare{Slot: 4, Ballot: Ballot{Round: 5, Node: 0}}}))
	rd = r.Ready()
	assert.Empty(t, rd.Persist)
	require.Len(t, rd.Messages, 1)
	assert.Equal(t, Nack{Slot: 4, Ballot: Ballot{Round: 5, Node: 0}, Phase: 1, Promised: Ballot{Round: 6, Node: 2}, MaxSlot: 4}, rd.Messages[0].Body)

	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: Accept{Slot: 4, Ballot: Ballot{Round: 5, Node: 0}, Value: []paxos.Command{put(1, 1, "k", "v")}}}))
	rd = r.Ready()
	assert.Empty(t, rd.Persist)
	require.Len(t, rd.Messages, 1)
	assert.Equal(t, Nack{Slot: 4, Ballot: Ballot{Round: 5, Node: 0}, Phase: 2, Promised: Ballot{Round: 6, Node: 2}, MaxSlot: 4}, rd.Messages[0].Body)
	assert.True(t, r.Acceptor(4).Accepted.IsZero())

	// The proposer that was refused jumps past the ballot in the nack.
	p := c.rep(0)
	p.Propose(put(1, 1, "k", "v"))
	rd = p.Ready()
	require.NotEmpty(t, rd.Messages)
	prep := rd.Messages[0].Body.(Prepare)
	require.NoError(t, p.Step(paxos.Message{From: 1, To: 0, Body: Nack{Slot: prep.Slot, Ballot: prep.Ballot, Phase: 1, Promised: Ballot{Round: 9, Node: 2}, MaxSlot: 4}}))
	require.NoError(t, p.Step(paxos.Message{From: 2, To: 0, Body: Nack{Slot: prep.Slot, Ballot: prep.Ballot, Phase: 1, Promised: Ballot{Round: 9, Node: 2}, MaxSlot: 4}}))
	assert.Nil(t, p.slots[prep.Slot].prop, "a refused proposal gives up its slot")
	assert.Equal(t, Ballot{Round: 9, Node: 2}, p.slots[prep.Slot].hint)
	assert.Equal(t, uint64(4), p.maxSlot, "the nack's MaxSlot moves the next proposal past slot 4")
	for i := 0; i < 100 && len(rd.Messages) == 0 || i == 0; i++ {
		p.Tick()
		rd = p.Ready()
	}
	require.NotEmpty(t, rd.Messages)
	assert.Equal(t, uint64(5), rd.Messages[0].Body.(Prepare).Slot, "retried in a later slot after backoff")
	retry := rd.Messages[0].Body.(Prepare).Ballot
	assert.Greater(t, retry.Round, uint64(9), "the retry's round jumps past the ballot that won")
	// Rounds 7..9 are priority level 2 at N = 3, so the retry runs at level 3.
	assert.Equal(t, Ballot{Round: p.priorityRound(5, 3), Node: 0}, retry, "the retry's round is the next priority level")
}

func TestRestoreKeepsPromisesAndDecisions(t *testing.T) {
	c := newCluster(t, 3)
	cmd := put(1, 1, "x", "1")
	c.Propose(0, cmd)
	c.Deliver(nil)
	// Replica 1 promises a high ballot in slot 2 and accepts in slot 3.
	r := c.rep(1)
	require.NoError(t, r.Step(paxos.Message{From: 2, To: 1, Body: Prepare{Slot: 2, Ballot: Ballot{Round: 8, Node: 2}}}))
	v3 := []paxos.Command{put(3, 1, "y", "3")}
	require.NoError(t, r.Step(paxos.Message{From: 2, To: 1, Body: Accept{Slot: 3, Ballot: Ballot{Round: 2, Node: 2}, Value: v3}}))
	c.Collect(1)
	c.Queue = nil

	c.Restart(1)
	r = c.rep(1)
	// Decisions are reported again and re-executed in order.
	assert.Equal(t, []paxos.Command{cmd}, c.slot(1, 1))
	require.Len(t, c.Executed[1], 1)
	assert.Equal(t, cmd, c.Executed[1][0].Command)
	// The promise holds.
	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: Prepare{Slot: 2, Ballot: Ballot{Round: 7, Node: 0}}}))
	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: Accept{Slot: 2, Ballot: Ballot{Round: 7, Node: 0}, Value: v3}}))
	rd := r.Ready()
	require.Len(t, rd.Messages, 2)
	assert.IsType(t, Nack{}, rd.Messages[0].Body)
	assert.IsType(t, Nack{}, rd.Messages[1].Body)
	// The acceptance holds: a higher prepare reports it.
	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: Prepare{Slot: 3, Ballot: Ballot{Round: 3, Node: 0}}}))
	rd = r.Ready()
	require.Len(t, rd.Messages, 1)
	pm := rd.Messages[0].Body.(Promise)
	assert.Equal(t, Ballot{Round: 2, Node: 2}, pm.Accepted)
	assert.Equal(t, v3, pm.Value)

	// A restored proposer never reuses a ballot it used before the crash.
	c0 := newCluster(t, 3)
	c0.Propose(0, put(1, 1, "k", "v"))
	first := c0.Queue[0].Body.(Prepare)
	c0.Queue = nil
	c0.Restart(0)
	c0.rep(0).maxSlot = 0 // as if it had never seen a higher slot
	c0.Propose(0, put(1, 1, "k", "v"))
	second := c0.Queue[0].Body.(Prepare)
	require.Equal(t, first.Slot, second.Slot)
	assert.True(t, first.Ballot.Less(second.Ballot), "ballot %v after restart must exceed %v", second.Ballot, first.Ballot)
}

func TestRestoreRejectsForeignRecords(t *testing.T) {
	_, err := New(paxos.Config{ID: 0, N: 3, Restore: &paxos.Persisted{Records: []any{"junk"}}})
	require.ErrorIs(t, err, ErrRestore)
	_, err = New(paxos.Config{ID: 0, N: 3, Restore: &paxos.Persisted{Snapshot: 1}})
	require.ErrorIs(t, err, ErrRestore)
	_, err = New(paxos.Config{ID: 0, N: 3, Restore: &paxos.Persisted{Records: []any{DecisionRecord{Slot: 1}}}})
	require.ErrorIs(t, err, ErrRestore)
	// Pointer records (as a storage layer might hand back) are accepted.
	_, err = New(paxos.Config{ID: 0, N: 3, Restore: &paxos.Persisted{Records: []any{&PromiseRecord{Slot: 1, Ballot: Ballot{Round: 1, Node: 1}}}}})
	require.NoError(t, err)
}

func TestCatchUpAfterMissedCommits(t *testing.T) {
	c := newCluster(t, 3)
	// Replica 2 misses everything about the first five commands.
	c.Lose = func(m paxos.Message) bool { return m.To == 2 }
	for s := uint64(1); s <= 5; s++ {
		c.Propose(0, put(1, s, "k", "v"))
		c.Deliver(nil)
	}
	require.Equal(t, uint64(5), c.rep(0).executed)
	require.Equal(t, uint64(0), c.rep(2).executed)
	c.Lose = nil
	// Seeing a later commit reveals the gap; ticks fetch what is missing.
	c.Propose(1, put(2, 1, "k", "w"))
	c.Deliver(nil)
	require.Equal(t, uint64(6), c.rep(2).maxLearned)
	require.Equal(t, uint64(0), c.rep(2).executed, "slots 1..5 are still missing")
	for i := 0; i < 50 && c.rep(2).executed < 6; i++ {
		c.tick()
	}
	assert.Equal(t, uint64(6), c.rep(2).executed)
	assert.Equal(t, c.ExecutedIDs(0), c.ExecutedIDs(2))

	// Even without a later commit, a periodic probe finds lost commits.
	c.Lose = func(m paxos.Message) bool { _, ok := m.Body.(Commit); return ok && m.To == 2 }
	c.Propose(0, put(1, 6, "k", "z"))
	c.Deliver(nil)
	c.Lose = nil
	require.Equal(t, uint64(6), c.rep(2).executed)
	for i := 0; i < 200 && c.rep(2).executed < 7; i++ {
		c.tick()
	}
	assert.Equal(t, uint64(7), c.rep(2).executed)
}

func TestCatchUpFarBehind(t *testing.T) {
	c := newCluster(t, 3)
	c.Lose = func(m paxos.Message) bool { return m.To == 2 }
	const total = 3*maxCatchUp + 5
	for s := uint64(1); s <= total; s++ {
		c.Propose(0, put(1, s, "k", "v"))
		c.Deliver(nil)
	}
	c.Lose = nil
	for i := 0; i < 400 && c.rep(2).executed < total; i++ {
		c.tick()
	}
	assert.Equal(t, uint64(total), c.rep(2).executed)
}

func TestRetransmitsLostMessages(t *testing.T) {
	c := newCluster(t, 3)
	lost := 0
	c.Lose = func(m paxos.Message) bool {
		if lost < 4 {
			lost++
			return true
		}
		return false
	}
	c.Propose(0, put(1, 1, "k", "v"))
	c.Deliver(nil)
	for i := 0; i < 100 && c.rep(0).executed < 1; i++ {
		c.tick()
	}
	assert.Equal(t, uint64(1), c.rep(0).executed)
	assert.Equal(t, 4, lost)
}

func TestMalformedMessages(t *testing.T) {
	r, err := New(paxos.Config{ID: 1, N: 3})
	require.NoError(t, err)
	v := []paxos.Command{put(1, 1, "k", "v")}
	bad := []paxos.Message{
		{From: 0, To: 2, Body: Prepare{Slot: 1, Ballot: Ballot{Round: 1, Node: 0}}}, // not for us
		{From: 5, To: 1, Body: Prepare{Slot: 1, Ballot: Ballot{Round: 1, Node: 5}}}, // no such sender
		{From: 1, To: 1, Body: Prepare{Slot: 1, Ballot: Ballot{Round: 1, Node: 1}}}, // from self
		{From: 0, To: 1, Body: nil},     // no body
		{From: 0, To: 1, Body: "hello"}, // foreign body
		{From: 0, To: 1, Body: &Prepare{Slot: 1, Ballot: Ballot{Round: 1, Node: 0}}},       // pointer, not value
		{From: 0, To: 1, Body: Prepare{Slot: 0, Ballot: Ballot{Round: 1, Node: 0}}},        // slot 0
		{From: 0, To: 1, Body: Prepare{Slot: 1, Ballot: Ballot{Round: 1, Node: 2}}},        // someone else's ballot
		{From: 0, To: 1, Body: Prepare{Slot: 1, Ballot: Ballot{Round: 0, Node: 0}}},        // round 0
		{From: 0, To: 1, Body: Accept{Slot: 1, Ballot: Ballot{Round: 1, Node: 0}}},         // no value
		{From: 0, To: 1, Body: Commit{Slot: 1}},                                            // no value
		{From: 0, To: 1, Body: Commit{Slot: 1, Value: []paxos.Command{{Op: 9}}}},           // bad op
		{From: 0, To: 1, Body: Nack{Slot: 1, Ballot: Ballot{Round: 1, Node: 1}, Phase: 3}}, // bad phase
		{From: 0, To: 1, Body: CatchUp{From: 0}},                                           // slot 0
		{From: 0, To: 1, Body: CatchUp{From: 5, To: 2}},                                    // empty range
		{From: 0, To: 1, Body: Learned{Entries: []Entry{{Slot: 2}}}},                       // no value
		{From: 0, To: 1, Body: Promise{Slot: 1, Ballot: Ballot{Round: 1, Node: 1}, Accepted: Ballot{Round: 1, Node: 0}}},
	}
	for i, m := range bad {
		err := r.Step(m)
		require.Error(t, err, "message %d: %+v", i, m)
		assert.True(t, errors.Is(err, paxos.ErrMalformed), "message %d: %v", i, err)
	}
	rd := r.Ready()
	assert.Empty(t, rd.Messages, "malformed messages get no answer")
	assert.Empty(t, rd.Persist)
	// The replica still works.
	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: Accept{Slot: 1, Ballot: Ballot{Round: 1, Node: 0}, Value: v}}))
	assert.Len(t, r.Ready().Messages, 1)
}

func TestConfigRefused(t *testing.T) {
	for _, cfg := range []paxos.Config{
		{ID: 0, N: 0},
		{ID: 3, N: 3},
		{ID: 0, N: 3, RetryTicks: -1},
		{ID: 0, N: 3, Quorums: mustMajority(t, 5)},
		{ID: 0, N: 5, Quorums: brokenQuorums{}},
	} {
		_, err := New(cfg)
		require.Error(t, err, "%+v", cfg)
		assert.ErrorIs(t, err, paxos.ErrConfig)
	}
	_, err := New(paxos.Config{ID: 0, N: 5, Quorums: brokenQuorums{}})
	assert.ErrorContains(t, err, "disjoint", "the error names the disjoint quorums")
	q, err := quorum.NewCounting(5, 4, 2)
	require.NoError(t, err)
	_, err = New(paxos.Config{ID: 0, N: 5, Quorums: q})
	require.NoError(t, err)

	r, err := paxos.New("basic", paxos.Config{ID: 2, N: 5})
	require.NoError(t, err, "registered under its name")
	assert.Equal(t, paxos.NodeID(2), r.ID())
}

// brokenQuorums claims any two replicas form a quorum of either phase.
type brokenQuorums struct{}

func (brokenQuorums) N() int                        { return 5 }
func (brokenQuorums) IsPhase1(s quorum.Set) bool    { return s.Len() >= 2 }
func (brokenQuorums) IsPhase2(s quorum.Set) bool    { return s.Len() >= 2 }
func (brokenQuorums) ChoosePhase2([]int) quorum.Set { return quorum.Of(0, 1) }
func (brokenQuorums) String() string                { return "broken(5)" }

func mustMajority(t *testing.T, n int) quorum.System {
	m, err := quorum.NewMajority(n)
	require.NoError(t, err)
	return m
}

func TestCodecRoundTrip(t *testing.T) {
	v := []paxos.Command{put(1, 2, "k", "v"), get(3, 4, "k")}
	store := kv.NewExecutor(paxos.Config{})
	store.Apply(new(put(3, 1, "a", "1")))
	snap := Snapshot{Index: 9, KV: store.Snapshot()}
	covered := map[string]bool{}
	for _, body := range []any{
		Prepare{Slot: 1, Ballot: Ballot{Round: 2, Node: 3}},
		Promise{Slot: 1, Ballot: Ballot{Round: 2, Node: 3}, Accepted: Ballot{Round: 1, Node: 1}, Value: v, MaxSlot: 9},
		Accept{Slot: 4, Ballot: Ballot{Round: 2, Node: 3}, Value: v},
		Accepted{Slot: 4, Ballot: Ballot{Round: 2, Node: 3}},
		Nack{Slot: 4, Ballot: Ballot{Round: 2, Node: 3}, Phase: 2, Promised: Ballot{Round: 5, Node: 1}, MaxSlot: 7},
		Commit{Slot: 4, Value: v},
		CatchUp{From: 3, To: 8},
		Learned{Entries: []Entry{{Slot: 3, Value: v}}, MaxLearned: 8},
		PromiseRecord{Slot: 1, Ballot: Ballot{Round: 2, Node: 3}},
		AcceptRecord{Slot: 1, Ballot: Ballot{Round: 2, Node: 3}, Value: v},
		DecisionRecord{Slot: 1, Value: v},
		DecisionRecord{Slot: 1},
		RebuildQuery{},
		RebuildInfo{Rebuilding: true, MaxSlot: 9},
		RebuildRecord{Done: true},
		InstallSnapshot{Snapshot: snap},
		SnapshotRecord{Snapshot: snap, Rebuilt: true, Slots: []SlotRecord{
			{Slot: 10, Promised: Ballot{Round: 3, Node: 1}, Accepted: Ballot{Round: 2, Node: 3}, Value: v, Decided: true},
			{Slot: 11, Promised: Ballot{Round: 3, Node: 1}, Decided: true, Learned: v},
		}},
	} {
		data, err := paxos.EncodeMessage(paxos.Message{From: 1, To: 2, Body: body})
		require.NoError(t, err, "%T", body)
		m, err := paxos.DecodeMessage(data)
		require.NoError(t, err)
		assert.Equal(t, body, m.Body)
		covered[strings.TrimPrefix(fmt.Sprintf("%T", body), "basic.")] = true
	}
	for _, name := range paxos.RegisteredNames() {
		if strings.HasPrefix(name, "basic.") {
			assert.True(t, covered[strings.TrimPrefix(name, "basic.")], "registered type %s is not round-tripped here", name)
		}
	}
}

// TestBatching: commands proposed before one Ready share a slot.
func TestBatching(t *testing.T) {
	r, err := New(paxos.Config{ID: 0, N: 1, Batch: 3})
	require.NoError(t, err)
	for s := uint64(1); s <= 4; s++ {
		r.Propose(put(1, s, "k", "v"))
	}
	rd := r.Ready()
	require.Len(t, rd.Decided, 2)
	assert.Len(t, rd.Decided[0].Commands, 3)
	assert.Len(t, rd.Decided[1].Commands, 1)
	assert.Len(t, rd.Executed, 4)
	assert.Len(t, rd.Committed, 4)
}

// TestHoleFilledWithNop is testdata/hole_filled_with_nop.txt.

// TestPriorityRotates: in a race for a fresh slot at the same priority
// level, the winner rotates with the slot, so each replica wins 1/N of the
// slots instead of the highest id winning them all; any round at a higher
// level beats every round at a lower one.
func TestPriorityRotates(t *testing.T) {
	for _, n := range []int{3, 5} {
		c := newCluster(t, n)
		wins := make([]int, n)
		for s := uint64(1); s <= uint64(4*n); s++ {
			best := Ballot{}
			seen := map[uint64]bool{}
			for _, r := range c.reps() {
				b := Ballot{Round: r.priorityRound(s, 0), Node: r.id}
				assert.False(t, seen[b.Round], "n=%d slot %d: two replicas share round %d", n, s, b.Round)
				seen[b.Round] = true
				best = maxBallot(best, b)
				for _, o := range c.reps() {
					assert.Less(t, o.priorityRound(s, 0), r.priorityRound(s, 1), "n=%d slot %d", n, s)
				}
			}
			wins[best.Node]++
		}
		for id, w := range wins {
			assert.Equal(t, 4, w, "n=%d: replica %d wins %d of %d fresh slots", n, id, w, 4*n)
		}
	}
}

// TestYieldToHigherPrepare: a proposer whose own acceptor promises a
// higher ballot while its Phase 1 in that slot runs gives the slot up at
// once; its command goes back to the queue a level above the winner.
func TestYieldToHigherPrepare(t *testing.T) {
	c := newCluster(t, 3)
	r := c.rep(0)
	cmd := put(1, 1, "k", "v")
	r.Propose(cmd)
	rd := r.Ready()
	require.NotEmpty(t, rd.Messages)
	mine := rd.Messages[0].Body.(Prepare)
	require.NotNil(t, r.slots[mine.Slot].prop)
	higher := Ballot{Round: mine.Ballot.Round + 1, Node: 2}
	require.NoError(t, r.Step(paxos.Message{From: 2, To: 0, Body: Prepare{Slot: mine.Slot, Ballot: higher}}))
	rd = r.Ready()
	assert.Nil(t, r.slots[mine.Slot].prop, "the proposer yields the slot")
	require.NotEmpty(t, rd.Messages)
	assert.Equal(t, Promise{Slot: mine.Slot, Ballot: higher, MaxSlot: mine.Slot}, rd.Messages[0].Body, "the promise is still sent")
	// The command was proposed again at once in the next slot, a level up.
	var retry *Prepare
	for _, m := range rd.Messages {
		if p, ok := m.Body.(Prepare); ok {
			retry = &p
		}
	}
	require.NotNil(t, retry, "the yielded command is retried without waiting for a backoff")
	assert.Equal(t, mine.Slot+1, retry.Slot)
	assert.Equal(t, r.priorityRound(retry.Slot, r.levelPast(higher)), retry.Ballot.Round)
	assert.True(t, higher.Less(retry.Ballot), "the retry outranks the ballot it yielded to")
	assert.Equal(t, 1, r.inflight)

	// A lower Prepare does not make it yield.
	require.NoError(t, r.Step(paxos.Message{From: 1, To: 0, Body: Prepare{Slot: retry.Slot, Ballot: Ballot{Round: 1, Node: 1}}}))
	rd = r.Ready()
	require.Len(t, rd.Messages, 1)
	assert.IsType(t, Nack{}, rd.Messages[0].Body)
	assert.NotNil(t, r.slots[retry.Slot].prop)
}
