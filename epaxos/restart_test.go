package epaxos

import (
	"slices"

	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// Instances of the schedules below (γ and δ as in
// testdata/rule4a_after_restart.txt).
var (
	r4aGamma = paxos.Instance{Replica: 0, Slot: 1}
	r4aDelta = paxos.Instance{Replica: 1, Slot: 1}
)

// The schedule of issue 10 (part 1), which rule 4a must survive, is
// testdata/rule4a_after_restart.txt; script_test.go runs it with and
// without the planted bug.

// The planted bugs are registered, and their constructors build replicas
// with exactly their switch set.
func TestMutantsRegistered(t *testing.T) {
	for name, want := range map[string]plants{
		"epaxos/rule4a-after-restart": {forgetOverwrittenKeys: true},
		"epaxos/volatile-promise":     {volatilePromise: true},
	} {
		m, err := paxos.LookupMutant(name)
		require.NoError(t, err)
		assert.Equal(t, "epaxos", m.Protocol)
		rep, err := m.New(paxos.Config{N: 5, ID: 2})
		require.NoError(t, err)
		assert.Equal(t, want, rep.(*Replica).opts, name)
	}
}

// Every persisted record counts in the restored index: after a restart the
// index covers at least what it covered before, here a key whose only
// command was replaced by a Nop.
func TestRestoreKeepsIndexMonotone(t *testing.T) {
	nw2 := newNet(t, 5, nil)
	nw2.Propose(1, put(2, 1, "k", "delta"))
	nw2.Drop(func(paxos.Message) bool { return true })
	nw2.Crash(1) // so that replica 1 does not propose the command again
	nw2.Restart(1)
	r2 := nw2.rep(2)
	r2.recover(r2.get(r4aDelta))
	nw2.Collect(2)
	nw2.Drop(to(1))
	nw2.Deliver(nil)
	require.True(t, nw2.Decided[r4aDelta].Commands[0].IsNop())
	before := nw2.rep(1).indexEntry(indexMap(nw2.rep(1))["k"])
	nw2.Crash(1)
	nw2.Restart(1)
	require.Contains(t, indexMap(nw2.rep(1)), "k")
	assert.Equal(t, before.Write, nw2.rep(1).indexEntry(indexMap(nw2.rep(1))["k"]).Write)
	assert.Equal(t, uint64(1), before.Write[1])
}

// volatilePromise runs a schedule in which replica 0 grants a Prepare at a
// ballot it had only seen in a refusal, then restarts (N = 5, key k;
// γ = (0,1), δ = (2,1)):
//
//  1. Replica 2 proposes δ, which goes nowhere.
//  2. Replica 4 recovers γ at ballot 1.4; only replica 3 promises for now,
//     the Prepare to replica 0 is still in flight.
//  3. Replica 0 proposes γ; replica 3 refuses the PreAccept, naming 1.4.
//  4. Replica 0 grants the Prepare at 1.4; replica 4, with replies from
//     3, 4 and the command leader 0, runs PreAccept at 1.4 (rule 3). Its
//     PreAccept to replica 0 is delayed in the network; replica 0 restarts.
//  5. Replica 1 recovers γ at ballot 1.1 < 1.4 with replicas 0 and 2.
//  6. Replica 4's round goes on with replicas 0 and 3.
//
// Fixed, replica 0 persisted its promise of 1.4 and refuses 1.1 after the
// restart: only replica 4 decides γ. With the planted bug, the promise was
// in memory only: replica 1 decides γ with δ among its deps (replica 2
// added it), replica 4 without.
func volatilePromise(t *testing.T, planted bool) *tnet {
	t.Helper()
	nw := newNet(t, 5, nil)
	nw.opts = plants{volatilePromise: planted}
	nw.Tolerate = planted
	for i := 0; i < 5; i++ {
		nw.Start(i, nil)
	}
	among := func(ids ...int) func(paxos.Message) bool {
		in := func(x paxos.NodeID) bool { return slices.Contains(ids, int(x)) }
		return func(m paxos.Message) bool { return in(m.From) && in(m.To) }
	}
	// 1.
	nw.Propose(2, put(3, 1, "k", "delta"))
	nw.Drop(from(2))
	// 2.
	r4 := nw.rep(4)
	r4.recover(r4.get(r4aGamma))
	nw.Collect(4)
	require.Equal(t, 1, nw.Deliver(and(replicatest.Is[Prepare], to(3))))
	nw.Drop(and(replicatest.Is[Prepare], func(m paxos.Message) bool { return m.To == 1 || m.To == 2 }))
	require.Equal(t, 1, nw.Deliver(replicatest.Is[PrepareReply]))
	// 3.
	nw.Propose(0, put(1, 1, "k", "gamma"))
	require.Equal(t, 1, nw.Deliver(and(replicatest.Is[PreAccept], to(3))))
	nw.Drop(replicatest.Is[PreAccept])
	require.Equal(t, 1, nw.Deliver(replicatest.Is[PreAcceptReply]))
	// 4.
	require.Equal(t, 1, nw.Deliver(and(replicatest.Is[Prepare], to(0))))
	require.Equal(t, 1, nw.Deliver(replicatest.Is[PrepareReply]))
	nw.Drop(and(replicatest.Is[PreAccept], func(m paxos.Message) bool { return m.To == 1 || m.To == 2 }))
	var delayed []paxos.Message
	for _, m := range nw.Queue {
		if m.To == 0 {
			delayed = append(delayed, m)
		}
	}
	require.Len(t, delayed, 1)
	nw.Crash(0)
	nw.Restart(0)
	// 5.
	r1 := nw.rep(1)
	r1.recover(r1.get(r4aGamma))
	nw.Collect(1)
	nw.Deliver(and(among(0, 1, 2), func(m paxos.Message) bool { return !replicatest.Is[Commit](m) }))
	if planted {
		require.Contains(t, nw.Decided, r4aGamma, "replica 0 forgot its promise: replica 1 decides γ")
		require.True(t, depends(nw.Decided[r4aGamma], paxos.Instance{Replica: 2, Slot: 1}))
	} else {
		require.NotContains(t, nw.Decided, r4aGamma, "replica 0 refuses ballot 1.1")
	}
	// 6.
	nw.Queue = append(nw.Queue, delayed...)
	nw.Deliver(among(0, 3, 4))
	require.Equal(t, StatusCommitted, r4.inst[0][1].status, "replica 4 decides γ")
	return nw
}

// TestPromiseSurvivesRestart: a promise granted at a ballot first seen in
// a refusal must be persisted like any other (mutant epaxos/volatile-promise).
func TestPromiseSurvivesRestart(t *testing.T) {
	t.Run("fixed", func(t *testing.T) {
		nw := volatilePromise(t, false)
		assert.Empty(t, nw.Conflicts)
		assert.Zero(t, nw.Decided[r4aGamma].Deps[2])
	})
	t.Run("planted", func(t *testing.T) {
		nw := volatilePromise(t, true)
		assert.Contains(t, nw.Conflicts, r4aGamma, "γ decided twice")
	})
}
