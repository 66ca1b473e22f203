package epaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// preAcceptReplyOf sends one PreAccept from replica 0 at the initial ballot
// to r and returns r's reply.
func preAcceptReplyOf(t *testing.T, r *Replica) PreAcceptReply {
	t.Helper()
	r.Ready()
	cmd := paxos.Command{Client: 7, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "v"}
	m := PreAccept{Ballot: MakeBallot(0, 0), Inst: paxos.Instance{Replica: 0, Slot: 1}, Cmds: []paxos.Command{cmd}, Seq: 1, Deps: make([]uint64, r.n)}
	require.NoError(t, r.Step(paxos.Message{From: 0, To: r.id, Body: m}))
	for _, out := range r.Ready().Messages {
		if rep, ok := out.Body.(PreAcceptReply); ok {
			return rep
		}
	}
	t.Fatal("no PreAcceptReply")
	return PreAcceptReply{}
}

// TestRebuiltReplicaNeverVotesFast: a replica that rebuilt after a lost disk
// answers a PreAccept whose attributes it would not change as changed, and
// does not hold the leader's original attributes, so it is in no fast
// quorum; this survives a restart from its records and from a snapshot. A
// replica that never lost its disk answers unchanged.
func TestRebuiltReplicaNeverVotesFast(t *testing.T) {
	cfg := paxos.Config{ID: 2, N: 5, SnapshotEvery: -1}
	fresh, err := NewReplica(cfg)
	require.NoError(t, err)
	rep := preAcceptReplyOf(t, fresh)
	assert.True(t, rep.OK)
	assert.False(t, rep.Changed, "a replica that never lost its disk votes unchanged")

	byRecords := &paxos.Persisted{Records: []any{RebuildRecord{}, RebuildRecord{Done: true}}}
	c := cfg
	c.Restore = byRecords
	r, err := NewReplica(c)
	require.NoError(t, err)
	bySnapshot := &paxos.Persisted{Snapshot: r.snapshot()}
	for name, p := range map[string]*paxos.Persisted{"records": byRecords, "snapshot": bySnapshot} {
		t.Run(name, func(t *testing.T) {
			c := cfg
			c.Restore = p
			r, err := NewReplica(c)
			require.NoError(t, err)
			require.False(t, r.Rebuilding())
			rep := preAcceptReplyOf(t, r)
			assert.True(t, rep.OK)
			assert.True(t, rep.Changed, "a rebuilt replica never votes unchanged")
			assert.Equal(t, uint64(1), rep.Seq, "its attributes are the leader's")
			assert.False(t, r.inst[0][1].orig)
			assert.True(t, r.snapshot().Rebuilt, "its snapshots keep it")
		})
	}
}
