package epaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// nopDecidedLeaderRestarts scripts, at N = 5, the first half of the
// schedule of TestRestartKeepsLeaderOutEvidence: replica 1 proposes δ =
// (1,1), a write of key k, whose PreAccept reaches replica 3 only; replica
// 1 crashes and restarts at once (its instance is persisted, the command it
// was leading is forgotten). Replica 2 then recovers δ with replicas 0 and
// 4, none of which knows the command, and decides a Nop; replica 1 learns
// the Nop, replica 3 does not and keeps δ pre-accepted with replica 1's
// original attributes. Nothing ticks, so no other recovery starts.
func nopDecidedLeaderRestarts(t *testing.T) (nw *tnet, d paxos.Instance) {
	nw = newNet(t, 5, nil)
	d = paxos.Instance{Replica: 1, Slot: 1}
	nw.propose(1, put(2, 1, "k", "d"))
	require.Equal(t, 1, nw.deliver(and(typ[PreAccept], from(1), to(3))))
	nw.crash(1)
	nw.drop(func(m paxos.Message) bool { return m.From == 1 || m.To == 1 })
	nw.restart(1)
	nw.drop(to(1))

	r2 := nw.reps[2]
	r2.recover(r2.get(d))
	nw.collect(2)
	notR3 := func(m paxos.Message) bool { return m.To != 3 && m.From != 3 }
	nw.drop(and(typ[Prepare], to(1)))
	nw.drop(and(typ[Prepare], to(3)))
	nw.deliver(notR3)
	nw.drop(to(3))
	require.Contains(t, nw.decided, d)
	require.True(t, nw.decided[d].Commands[0].IsNop(), "δ decided as a Nop")
	require.Equal(t, StatusCommitted, nw.reps[1].inst[1][1].status, "replica 1 learned the Nop")
	held := nw.reps[3].inst[1][1]
	require.True(t, held.orig && held.status == StatusPreAccepted, "replica 3 still holds δ with its leader's original attributes")
	return nw, d
}

// TestRestartKeepsLeaderOutEvidence is the restart scenario of rule 4a in
// recovery.go. After δ = (1,1) was decided a Nop (see
// nopDecidedLeaderRestarts), replica 1 restarts again, so that everything
// it knows comes from what it persisted. Replica 0 proposes γ = (0,1),
// another write of k; replicas 1 and 2 pre-accept it, and replica 0 would
// commit on the fast path if both answers were unchanged. Then replicas 0
// and 1 stop and replica 3 recovers γ. It holds δ with replica 1's original
// attributes, which interfere with γ and leave it out, so rule 4a rules
// replica 1 out of γ's fast quorum and γ is free: PreAccept runs again and
// γ comes to depend on δ. That is safe only if replica 1, having proposed δ
// before pre-accepting γ, added δ to γ's deps whatever δ became later. A
// replica's per-key index only grows while it runs, so before the restart
// replica 1 would; the index it rebuilt from its records must also hold δ's
// original command, or replica 1 answers unchanged, γ commits on the fast
// path without δ, and the recovery decides γ a second time, differently
// (the harness fails the test at that decision).
func TestRestartKeepsLeaderOutEvidence(t *testing.T) {
	nw, d := nopDecidedLeaderRestarts(t)
	g := paxos.Instance{Replica: 0, Slot: 1}
	nw.crash(1)
	nw.restart(1)

	nw.propose(0, put(1, 1, "k", "g"))
	nw.drop(and(typ[PreAccept], func(m paxos.Message) bool { return m.To == 3 || m.To == 4 }))
	require.Equal(t, 2, nw.deliver(and(typ[PreAccept], from(0))))
	var changed bool
	for _, m := range nw.queue {
		if rep, ok := m.Body.(PreAcceptReply); ok && m.From == 1 {
			changed = rep.Changed
			assert.Equal(t, d.Slot, rep.Deps[1], "replica 1 adds δ to γ's deps")
		}
	}
	assert.True(t, changed, "replica 1 proposed δ before γ arrived, so its answer changes γ's attributes")
	nw.deliver(and(typ[PreAcceptReply], to(0)))
	_, fast := nw.decided[g]
	assert.False(t, fast, "γ must not commit on the fast path")

	nw.crash(0)
	nw.crash(1)
	nw.drop(func(m paxos.Message) bool { return m.From <= 1 || m.To <= 1 })
	r3 := nw.reps[3]
	r3.recover(r3.get(g))
	nw.collect(3)
	nw.deliver(nil)
	require.Contains(t, nw.decided, g)
	assert.True(t, depends(nw.decided[g], d), "γ depends on δ (a Nop now, so harmless)")

	nw.restart(0)
	nw.restart(1)
	require.True(t, nw.settle(nw.allDecided(g, d), 400))
	assert.Empty(t, visibility(nw.decided))
	order := keyOrders(nw.executed[2])["k"]
	require.Len(t, order, 1)
	for i := 0; i < 5; i++ {
		assert.Equal(t, order, keyOrders(nw.executed[i])["k"], "replica %d", i)
	}
}
