package epaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// wipe restarts replica i of the net from nothing with Config.Rebuild.
func (nw *tnet) wipe(i int) {
	nw.Crash(i)
	nw.Persisted[i] = paxos.Persisted{}
	cfg := nw.Config
	nw.Config.Rebuild = true
	nw.Start(i, nil)
	nw.Config = cfg
}

// among reports whether a message travels between two of the given replicas.
func among(ids ...int) func(paxos.Message) bool {
	return func(m paxos.Message) bool {
		in := func(x paxos.NodeID) bool {
			for _, id := range ids {
				if int(x) == id {
					return true
				}
			}
			return false
		}
		return in(m.From) && in(m.To)
	}
}

// ownSlotSeenOnlyBySilentPeer plays the schedule of the gap (N = 5):
// replica 0 leads γ = (0,1); its PreAccept reaches replica 4 only; then 0
// loses its disk and rebuilds from replicas 1, 2 and 3, which answer (they
// are enough) but never saw γ, while 4 is cut off. Once rebuilt, 0 leads a
// new command δ. It returns the net and δ's instance.
func ownSlotSeenOnlyBySilentPeer(t *testing.T) (*tnet, *instance) {
	nw := newNet(t, 5, func(c *paxos.Config) { c.Window = 4 })
	nw.Propose(0, put(1, 1, "k", "gamma"))
	nw.Deliver(and(replicatest.Is[PreAccept], to(4)))
	nw.Drop(func(paxos.Message) bool { return true })
	held := nw.rep(4).inst[0][1]
	require.NotNil(t, held)
	require.Equal(t, StatusPreAccepted, held.status)

	nw.wipe(0)
	rest := among(0, 1, 2, 3)
	for k := 0; k < 400 && nw.rep(0).Rebuilding(); k++ {
		nw.Drop(func(m paxos.Message) bool { return !rest(m) })
		nw.Deliver(rest)
		nw.TickAll(1)
	}
	require.False(t, nw.rep(0).Rebuilding(), "replicas 1, 2 and 3 are enough to rebuild from")
	nw.Drop(func(m paxos.Message) bool { return !rest(m) })

	nw.Propose(0, put(2, 1, "k", "delta"))
	var delta *instance
	for _, in := range nw.rep(0).inst[0] {
		if in != nil && len(in.cmds) == 1 && in.cmds[0].Value == "delta" {
			delta = in
		}
	}
	if delta == nil {
		// The gap's slots are recovered first (they count against the
		// window): let that happen among the replicas that answered.
		nw.Settle(func() bool {
			for _, in := range nw.rep(0).inst[0] {
				if in != nil && len(in.cmds) == 1 && in.cmds[0].Value == "delta" {
					delta = in
					return true
				}
			}
			nw.Drop(func(m paxos.Message) bool { return !rest(m) })
			return false
		}, 400)
	}
	require.NotNil(t, delta, "the rebuilt replica leads the new command")
	return nw, delta
}

// TestRebuiltReplicaLeadsItsOldSlotsAfterAPhase1: the rebuilt replica may
// have led slots up to a window past the highest one the answering peers
// know (0 here) with commands only silent peers hold, as γ's slot 1 is held
// by replica 4. It leads δ there only after a phase 1 at a higher ballot,
// never at the initial ballot a command leader uses without one: with the
// initial ballot, 4's recovery of γ and 0's δ could decide the slot twice.
// Then, with 4 back, every instance is decided once.
func TestRebuiltReplicaLeadsItsOldSlotsAfterAPhase1(t *testing.T) {
	nw, delta := ownSlotSeenOnlyBySilentPeer(t)
	w := nw.rep(0)
	assert.Equal(t, uint64(nw.Config.Window), w.reserved, "reserved up to a window past the highest slot reported")
	require.LessOrEqual(t, delta.id.Slot, w.reserved)
	assert.Greater(t, delta.vbal, MakeBallot(0, 0), "δ is led in a reserved slot at a ballot above the initial one")
	assert.Positive(t, w.stats.Reserved)
	// The reservation survives a restart from the rebuilt replica's records.
	p := nw.Persisted[0]
	c := nw.Config
	c.ID, c.Restore = 0, &p
	again, err := newReplica(c, nw.opts)
	require.NoError(t, err)
	assert.Equal(t, w.reserved, again.reserved)

	gamma := paxos.Instance{Replica: 0, Slot: 1}
	require.True(t, nw.Settle(nw.allDecided(gamma, delta.id), 2000), "γ's slot and δ are decided once 4 is back")
	g := nw.Decided[gamma]
	require.Len(t, g.Commands, 1)
	assert.Contains(t, []string{"gamma", "delta"}, g.Commands[0].Value)
	assert.Empty(t, nw.Conflicts)
}

// TestRebuiltReplicaSlotDecidedOnce continues the schedule the way that
// breaks a rebuilt replica that leads γ's slot again at the initial ballot:
// δ reaches replicas 1 and 2 only, whose replies commit it at 0 (on the
// fast path at the initial ballot); the commits are lost and 0 stops. Replicas 1 to 4 then recover 0's instances, and replica 4
// holds γ with the leader's original attributes. Leading δ in γ's slot at
// the initial ballot (the code before the fix) decides that slot as δ at 0
// and as γ at the others; after a phase 1, every instance is decided once.
func TestRebuiltReplicaSlotDecidedOnce(t *testing.T) {
	nw, delta := ownSlotSeenOnlyBySilentPeer(t)
	nw.Tolerate = true
	trio := among(0, 1, 2)
	for k := 0; k < 200 && nw.rep(0).inst[0][delta.id.Slot].status != StatusCommitted; k++ {
		noCommit := func(m paxos.Message) bool { return trio(m) && !replicatest.Is[Commit](m) }
		nw.Drop(func(m paxos.Message) bool { return !noCommit(m) })
		nw.Deliver(noCommit)
		nw.Tick(0, 1)
	}
	nw.Drop(func(paxos.Message) bool { return true })
	require.Equal(t, StatusCommitted, nw.rep(0).inst[0][delta.id.Slot].status, "δ committed at 0")
	nw.Crash(0)
	gamma := paxos.Instance{Replica: 0, Slot: 1}
	require.True(t, nw.Settle(nw.allDecided(gamma, delta.id), 3000))
	assert.Empty(t, nw.Conflicts, "an instance decided twice")
	assert.Equal(t, "delta", nw.Decided[delta.id].Commands[0].Value)
}
