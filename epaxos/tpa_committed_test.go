package epaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// tpaIgnoresCommitted runs, at N = 5, a recovery whose TryPreAccept meets
// voters holding an interfering instance committed but not yet executed
// (key k; ε = (4,1) a read, δ = (2,1) a write, γ = (0,1) a read):
//
//  1. Replica 4 proposes ε; replicas 2 and 3 pre-accept it, and nothing
//     more of ε goes anywhere: ε stays uncommitted at 2, 3 and 4.
//  2. Replica 2 proposes δ, which depends on ε; replicas 3 and 4 pre-accept
//     it unchanged and replica 2 commits it on the fast path with them.
//     At 2, 3 and 4 δ is committed and waits for ε to execute.
//  3. Replica 0 proposes γ, which interferes with δ (a read and a write)
//     but not with ε (two reads); only replica 1 gets it, and pre-accepts
//     it unchanged. Replica 0 crashes.
//  4. Replica 1 recovers γ with replies from 2 and 3 (which never saw γ);
//     4 is silent, so after waiting it runs TryPreAccept of γ's original
//     attributes, which leave δ out, at 2 and 3.
//
// Fixed, 2 and 3 refuse: δ is committed, interferes with γ and is not in
// its attributes, which proves γ was not committed on the fast path with
// them, so γ is freed and comes to depend on δ. With the planted bug they
// skip δ and vote, and γ is decided without δ while δ was decided without
// γ: two interfering commands that do not depend on each other.
func tpaIgnoresCommitted(t *testing.T, planted bool) *tnet {
	t.Helper()
	nw := newNet(t, 5, nil)
	nw.Tolerate = planted
	get := func(client uint64) paxos.Command {
		return paxos.Command{Client: client, Seq: 1, Op: paxos.OpGet, Key: "k"}
	}
	// 1.
	nw.Propose(4, get(40))
	require.Equal(t, 2, nw.Deliver(and(replicatest.Is[PreAccept], to(2, 3))))
	nw.Drop(nil)
	// 2.
	nw.Propose(2, put(20, 1, "k", "delta"))
	nw.Drop(to(0, 1))
	require.Equal(t, 2, nw.Deliver(and(replicatest.Is[PreAccept], to(3, 4))))
	nw.Deliver(replicatest.Is[PreAcceptReply])
	delta := paxos.Instance{Replica: 2, Slot: 1}
	require.Contains(t, nw.Decided, delta, "δ commits on the fast path")
	nw.Deliver(and(replicatest.Is[Commit], to(3, 4)))
	nw.Drop(nil)
	for _, i := range []int{2, 3, 4} {
		d := nw.rep(i).inst[2][1]
		require.Equal(t, StatusCommitted, d.status, "replica %d", i)
		require.False(t, d.executed, "replica %d: δ waits for ε", i)
	}
	// 3.
	nw.Propose(0, get(1))
	require.Equal(t, 1, nw.Deliver(and(replicatest.Is[PreAccept], to(1))))
	nw.Crash(0)
	nw.Drop(nil)
	gamma := paxos.Instance{Replica: 0, Slot: 1}
	require.True(t, nw.rep(1).inst[0][1].orig, "replica 1 holds γ's original attributes")
	// 4.
	r1 := nw.rep(1)
	if planted {
		for i := 0; i < 5; i++ {
			nw.rep(i).planted.tpaSkipsCommitted = true
		}
	}
	r1.recover(r1.get(gamma))
	nw.Collect(1)
	nw.Drop(and(replicatest.Is[Prepare], to(4)))
	nw.Deliver(nil)
	nw.Tick(1, 2*5)
	nw.Drop(to(0, 4))
	nw.Deliver(func(m paxos.Message) bool { return m.To != 0 && m.To != 4 })
	require.Contains(t, nw.Decided, gamma, "the recovery decides γ")
	require.Equal(t, uint64(1), r1.Stats().TryPreAccepts, "γ went through TryPreAccept")
	return nw
}

// TestTryPreAcceptRefusesCommittedConflict: a TryPreAccept voter must
// refuse attributes that leave out an interfering instance it holds
// committed (mutant epaxos/trypreaccept-ignores-committed, which the
// randomized search catches at N = 5 only: at N = 3 such an instance
// cannot exist, see mutants_catalog.go).
func TestTryPreAcceptRefusesCommittedConflict(t *testing.T) {
	delta := paxos.Instance{Replica: 2, Slot: 1}
	gamma := paxos.Instance{Replica: 0, Slot: 1}
	t.Run("fixed", func(t *testing.T) {
		nw := tpaIgnoresCommitted(t, false)
		assert.True(t, depends(nw.Decided[gamma], delta), "γ freed, then depends on δ")
		assert.Empty(t, nw.Invariants())
	})
	t.Run("planted", func(t *testing.T) {
		nw := tpaIgnoresCommitted(t, true)
		assert.False(t, depends(nw.Decided[gamma], delta))
		assert.False(t, depends(nw.Decided[delta], gamma))
		assert.NotEmpty(t, nw.Invariants(), "two interfering commands, neither depending on the other")
	})
}
