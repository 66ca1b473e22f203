package epaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// A command leader that decides at the initial ballot sends a short Commit
// (no commands) to every replica it sent them to at that ballot, whether
// or not it counted its vote; both receivers decide the leader's commands.
func TestShortCommitGoesToEveryAskedReplica(t *testing.T) {
	nw := newNet(t, 3, nil)
	cmd := put(1, 1, "k", "v")
	nw.Propose(0, cmd)
	nw.Deliver(replicatest.Is[PreAccept])
	// Only replica 1's vote reaches the leader in time: with it the leader
	// commits on the fast path (fast quorum 2 at N = 3).
	nw.Deliver(from(1))
	commits := map[paxos.NodeID]Commit{}
	for _, m := range nw.Drop(replicatest.Is[Commit]) {
		commits[m.To] = m.Body.(Commit)
	}
	require.Len(t, commits, 2)
	assert.Empty(t, commits[1].Cmds, "replica 1 voted for the commands: short Commit")
	assert.Empty(t, commits[2].Cmds, "replica 2 was sent the commands: short Commit")
	for to, c := range commits {
		nw.Step(paxos.Message{From: 0, To: to, Body: c})
	}
	nw.Deliver(nil)
	g := paxos.Instance{Replica: 0, Slot: 1}
	require.True(t, nw.allDecided(g)())
	for i := 0; i < 3; i++ {
		assert.Equal(t, []paxos.Command{cmd}, nw.rep(i).inst[0][1].cmds, "replica %d", i)
	}
}

// A replica whose PreAccept was lost ignores the short Commit that follows
// and learns the decision later, by recovering the instance the Commit
// named.
func TestShortCommitAfterLostPreAccept(t *testing.T) {
	nw := newNet(t, 3, nil)
	cmd := put(1, 1, "k", "v")
	nw.Propose(0, cmd)
	nw.Drop(and(replicatest.Is[PreAccept], func(m paxos.Message) bool { return m.To == 2 }))
	nw.Deliver(nil)
	g := paxos.Instance{Replica: 0, Slot: 1}
	require.NotNil(t, nw.rep(2).inst[0][1], "the short Commit named the instance")
	assert.NotEqual(t, StatusCommitted, nw.rep(2).inst[0][1].status, "short Commit ignored")
	require.True(t, nw.Settle(nw.allDecided(g), 200))
	assert.Equal(t, []paxos.Command{cmd}, nw.rep(2).inst[0][1].cmds)
}

// A short Commit reaching a replica that holds no vote at the initial
// ballot (it never voted, or voted since at a recovery's ballot) is
// ignored; the full Commit then decides the instance.
func TestShortCommitNeedsInitialVote(t *testing.T) {
	g := paxos.Instance{Replica: 0, Slot: 1}
	cmds := []paxos.Command{put(1, 1, "k", "v")}
	deps := make([]uint64, 3)
	short := paxos.Message{From: 0, To: 1, Body: Commit{Inst: g, Seq: 1, Deps: deps}}
	preAccept := paxos.Message{From: 0, To: 1, Body: PreAccept{Ballot: MakeBallot(0, 0), Inst: g, Cmds: cmds, Seq: 1, Deps: deps}}
	nop := paxos.Message{From: 2, To: 1, Body: Accept{Ballot: MakeBallot(1, 2), Inst: g, Cmds: nopBatch(), Deps: deps}}
	for name, before := range map[string][]paxos.Message{
		"voted":         {preAccept},
		"no vote":       nil,
		"voted since":   {preAccept, nop},
		"recovery only": {nop},
	} {
		r, err := NewReplica(paxos.Config{ID: 1, N: 3})
		require.NoError(t, err)
		for _, m := range before {
			require.NoError(t, r.Step(m), name)
		}
		require.NoError(t, r.Step(short), name)
		in := r.inst[0][1]
		if name == "voted" {
			assert.Equal(t, StatusCommitted, in.status, name)
			assert.Equal(t, cmds, in.cmds, name)
			continue
		}
		assert.NotEqual(t, StatusCommitted, in.status, "%s: short Commit ignored", name)
		require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: Commit{Inst: g, Cmds: cmds, Seq: 1, Deps: deps}}), name)
		assert.Equal(t, StatusCommitted, in.status, name)
		assert.Equal(t, cmds, in.cmds, name)
	}
}

// A replica that commits the commands it voted for records the decision
// without them (InstanceRecord.Same), and restores them from its vote's
// record; the record survives the codec.
func TestDecisionRecordKeepsCommandsOnce(t *testing.T) {
	nw := newNet(t, 3, nil)
	cmd := put(1, 1, "k", "v")
	nw.Propose(0, cmd)
	nw.Deliver(nil)
	g := paxos.Instance{Replica: 0, Slot: 1}
	require.True(t, nw.allDecided(g)())
	for i := 0; i < 3; i++ {
		var recs []InstanceRecord
		for _, rec := range nw.Persisted[i].Records {
			if ir, ok := rec.(InstanceRecord); ok && ir.Inst == g {
				recs = append(recs, ir)
			}
		}
		require.Len(t, recs, 2, "replica %d: the vote and the decision", i)
		assert.Equal(t, []paxos.Command{cmd}, recs[0].Cmds, "replica %d", i)
		assert.Equal(t, StatusCommitted, recs[1].Status, "replica %d", i)
		assert.True(t, recs[1].Same, "replica %d", i)
		assert.Empty(t, recs[1].Cmds, "replica %d", i)
		b, err := paxos.Encode(recs[1])
		require.NoError(t, err)
		back, err := paxos.Decode(b)
		require.NoError(t, err)
		assert.Equal(t, recs[1], back, "replica %d", i)
	}
	nw.Crash(1)
	nw.Restart(1)
	in := nw.rep(1).inst[0][1]
	require.NotNil(t, in)
	assert.Equal(t, StatusCommitted, in.status)
	assert.Equal(t, []paxos.Command{cmd}, in.cmds)
	// A decision record whose commands no earlier record holds is refused.
	_, err := New(paxos.Config{ID: 0, N: 3, Restore: &paxos.Persisted{Records: []any{
		InstanceRecord{Inst: g, Status: StatusCommitted, Seq: 1, Deps: make([]uint64, 3), Same: true}}}})
	require.Error(t, err)
}
