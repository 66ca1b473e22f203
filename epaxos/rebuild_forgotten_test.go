package epaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

// TestRebuildSkipsInstancesNobodyCanDecide: a rebuilding replica stops
// waiting for an instance only when the peers that hold nothing of it leave
// too few replicas for a slow quorum and its command leader is the
// rebuilding replica itself or says it holds nothing either; and a peer
// reports as unknown only what it holds nothing of and has not
// garbage-collected.
func TestRebuildSkipsInstancesNobodyCanDecide(t *testing.T) {
	w, err := NewReplica(paxos.Config{ID: 0, N: 5, Rebuild: true, SnapshotEvery: -1})
	require.NoError(t, err)
	require.True(t, w.Rebuilding())
	own, other := paxos.Instance{Replica: 0, Slot: 1}, paxos.Instance{Replica: 2, Slot: 1}

	w.rb.unknownAt[own] = quorum.Of(1, 4)
	assert.False(t, w.forgotten(own), "three replicas (a slow quorum) might still hold it")
	w.rb.unknownAt[own] = quorum.Of(1, 3, 4)
	assert.True(t, w.forgotten(own), "two left, and the leader is the rebuilding replica")

	w.rb.unknownAt[other] = quorum.Of(1, 3, 4)
	assert.False(t, w.forgotten(other), "its leader, replica 2, may still drive it")
	w.rb.unknownAt[other] = quorum.Of(1, 2, 4)
	assert.True(t, w.forgotten(other), "its leader holds nothing of it either")

	// A peer's answer: (2,1) committed there, (3,1) known only as a
	// dependency placeholder, (4,1) garbage-collected, (1,9) unknown.
	p, err := NewReplica(paxos.Config{ID: 1, N: 5, SnapshotEvery: -1})
	require.NoError(t, err)
	p.Ready()
	committed := p.get(other)
	committed.status, committed.cmds = StatusCommitted, []paxos.Command{{Op: paxos.OpNop}}
	committed.deps = make([]uint64, 5)
	p.get(paxos.Instance{Replica: 3, Slot: 1})
	p.gcUpTo[4] = 1
	missing := []paxos.Instance{other, {Replica: 3, Slot: 1}, {Replica: 4, Slot: 1}, {Replica: 1, Slot: 9}}
	require.NoError(t, p.Step(paxos.Message{From: 0, To: 1, Body: RebuildQuery{Missing: missing}}))
	var info *RebuildInfo
	commits := 0
	for _, m := range p.Ready().Messages {
		switch b := m.Body.(type) {
		case RebuildInfo:
			info = &b
		case Commit:
			commits++
			assert.Equal(t, other, b.Inst)
		}
	}
	require.NotNil(t, info)
	assert.Equal(t, 1, commits, "the committed instance is sent")
	assert.Equal(t, []paxos.Instance{{Replica: 3, Slot: 1}, {Replica: 1, Slot: 9}}, info.Unknown,
		"a placeholder and an unheard-of instance are unknown; a committed or collected one is not")
}

// TestInstallKeepsPlantedBugs: a replica that installs a peer's state while
// rebuilding keeps the planted bug it was built with (switches and quorum
// sizes), so a mutant's run never mixes buggy and correct replicas.
func TestInstallKeepsPlantedBugs(t *testing.T) {
	for _, name := range []string{"epaxos/exec-tie-slot-only", "epaxos/majority-fast-quorum"} {
		m, err := paxos.LookupMutant(name)
		require.NoError(t, err)
		built, err := m.New(paxos.Config{ID: 0, N: 7, Rebuild: true, SnapshotEvery: -1})
		require.NoError(t, err)
		r := built.(*Replica)
		peer, err := NewReplica(paxos.Config{ID: 1, N: 7, SnapshotEvery: -1})
		require.NoError(t, err)
		planted, fq, sq := r.planted, r.fq, r.sq
		require.NoError(t, r.installState(peer.snapshot()))
		assert.Equal(t, planted, r.planted, name)
		assert.Equal(t, fq, r.fq, name)
		assert.Equal(t, sq, r.sq, name)
	}
}
