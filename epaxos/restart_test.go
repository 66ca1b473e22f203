package epaxos

import (
	"slices"

	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// Instances of the rule-4a-after-restart schedule (issue 10, part 1).
var (
	r4aGamma = paxos.Instance{Replica: 0, Slot: 1}
	r4aDelta = paxos.Instance{Replica: 1, Slot: 1}
	r4aEps   = paxos.Instance{Replica: 3, Slot: 1}
)

// rule4aAfterRestart runs the schedule of issue 10 (part 1) on five
// replicas and one key k, with the bug of mutant
// "epaxos/rule4a-after-restart" planted or not:
//
//  1. δ = (1,1) reaches replica 4 only; replica 1 crashes and restarts.
//  2. Replica 2 recovers δ through replicas 0 and 3, who never saw it: δ is
//     committed as a Nop. Replica 1 learns it; replica 4 never does.
//  3. Replica 1 restarts again.
//  4. γ = (0,1) is pre-accepted by replicas 1 and 2; replica 0 acts on the
//     replies, tells replica 1 any commit, and replicas 0 and 1 stop.
//  5. With eps set, ε = (3,1) is proposed at replica 3 and decided by
//     replicas 2, 3 and 4 (it comes to depend on γ through replica 2).
//  6. Replica 4 recovers γ. It holds δ with replica 1's original
//     attributes, so rule 4a rules replica 1 out of γ's fast quorum.
//
// With the bug, replica 1's index lost δ at step 3 (its latest record is
// the Nop), so at step 4 it pre-accepted γ unchanged and γ was committed on
// the fast path; step 6 then decides γ again, differently. Fixed, replica
// 1 remembers δ, adds it to γ's deps, and γ is not committed at step 4.
func rule4aAfterRestart(t *testing.T, planted, eps bool) *tnet {
	t.Helper()
	nw := newNet(t, 5, nil)
	nw.opts = plants{forgetOverwrittenKeys: planted}
	nw.tolerate = planted
	for i := 0; i < 5; i++ {
		nw.start(i, nil)
	}
	toAny := func(ids ...int) func(paxos.Message) bool {
		return func(m paxos.Message) bool {
			for _, i := range ids {
				if int(m.To) == i {
					return true
				}
			}
			return false
		}
	}
	stop := func(ids ...int) {
		for _, i := range ids {
			nw.crash(i)
			nw.drop(func(m paxos.Message) bool { return int(m.From) == i })
		}
	}

	// 1.
	nw.propose(1, put(2, 1, "k", "delta"))
	require.Equal(t, 1, nw.deliver(and(typ[PreAccept], from(1), to(4))))
	stop(1)
	nw.restart(1)
	require.Empty(t, nw.queue)
	d4 := nw.reps[4].inst[1][1]
	require.True(t, d4.orig && d4.status == StatusPreAccepted, "replica 4 holds δ with replica 1's original attributes")

	// 2.
	r2 := nw.reps[2]
	r2.recover(r2.get(r4aDelta))
	nw.collect(2)
	nw.deliver(func(m paxos.Message) bool { return !toAny(1, 4)(m) })
	require.Equal(t, 1, nw.deliver(and(typ[Commit], to(1))))
	nw.drop(toAny(1, 4))
	require.Empty(t, nw.queue)
	require.Contains(t, nw.decided, r4aDelta)
	require.True(t, nw.decided[r4aDelta].Commands[0].IsNop(), "δ is decided as a Nop")
	require.Equal(t, StatusCommitted, nw.reps[1].inst[1][1].status, "replica 1 learned the Nop")
	require.Equal(t, StatusPreAccepted, nw.reps[4].inst[1][1].status, "replica 4 did not")

	// 3.
	stop(1)
	nw.restart(1)

	// 4.
	nw.propose(0, put(1, 1, "k", "gamma"))
	nw.drop(and(typ[PreAccept], toAny(3, 4)))
	require.Equal(t, 2, nw.deliver(typ[PreAccept]))
	require.Equal(t, 2, nw.deliver(typ[PreAcceptReply]))
	nw.deliver(and(typ[Commit], to(1)))
	stop(0, 1)
	if planted {
		require.Contains(t, nw.decided, r4aGamma, "with the bug, replica 1 pre-accepts γ unchanged: fast commit")
		assert.Zero(t, nw.decided[r4aGamma].Seq-1)
		assert.Equal(t, StatusCommitted, nw.reps[1].inst[0][1].status)
	} else {
		require.NotContains(t, nw.decided, r4aGamma, "replica 1 adds δ to γ's deps: no fast commit")
		assert.Equal(t, uint64(1), nw.reps[1].inst[0][1].deps[1])
	}
	require.True(t, nw.reps[2].inst[0][1].orig, "replica 2 holds γ's original attributes")

	// 5.
	if eps {
		nw.propose(3, put(4, 1, "k", "eps"))
		nw.deliver(nil)
		require.Contains(t, nw.decided, r4aEps)
		require.True(t, depends(nw.decided[r4aEps], r4aGamma), "ε depends on γ")
	}

	// 6.
	r4 := nw.reps[4]
	r4.recover(r4.get(r4aGamma))
	nw.collect(4)
	nw.deliver(nil)
	assert.Equal(t, uint64(1), r4.Stats().Rule4a, "rule 4a rules replica 1 out")
	return nw
}

// TestRule4aAfterRestart is the regression test of issue 10 (part 1): rule
// 4a must not rule out a replica that restarted after its own interfering
// instance was replaced by a Nop. The fixed replica decides γ once; the
// planted bug (mutant epaxos/rule4a-after-restart) decides it twice, with
// seq 1 and no deps, then with seq 2 and a dependency on δ.
func TestRule4aAfterRestart(t *testing.T) {
	t.Run("fixed", func(t *testing.T) {
		nw := rule4aAfterRestart(t, false, false)
		require.Contains(t, nw.decided, r4aGamma)
		assert.True(t, depends(nw.decided[r4aGamma], r4aDelta))
		assert.Empty(t, nw.conflicts)
	})
	t.Run("planted", func(t *testing.T) {
		nw := rule4aAfterRestart(t, true, false)
		require.Equal(t, []paxos.Instance{r4aGamma, r4aGamma, r4aGamma}, nw.conflicts,
			"replicas 2, 3 and 4 decide γ differently from replica 0")
		d := nw.reps[4].inst[0][1]
		assert.Equal(t, uint64(2), d.seq)
		assert.Equal(t, uint64(1), d.deps[1], "decided again with a dependency on δ")
		assert.Equal(t, uint64(1), nw.decided[r4aGamma].Seq, "first decided with seq 1")
	})
}

// TestRule4aAfterRestartDivergentExecution adds ε = (3,1) on k, which
// depends on γ, and then lets everything settle with every replica up.
// Fixed, every replica executes the writes of k in the same order. With
// the planted bug, replicas 0 and 1 (γ decided first) execute γ then ε,
// replicas 2, 3 and 4 (γ decided by the recovery, after ε) ε then γ.
func TestRule4aAfterRestartDivergentExecution(t *testing.T) {
	for _, planted := range []bool{false, true} {
		nw := rule4aAfterRestart(t, planted, true)
		nw.restart(0)
		nw.restart(1)
		require.True(t, nw.settle(nw.allDecided(r4aGamma, r4aDelta, r4aEps), 400))
		orders := make([][]string, 5)
		for i := range orders {
			orders[i] = keyOrders(nw.executed[i])["k"]
		}
		if !planted {
			assert.Empty(t, nw.conflicts)
			for i := range orders {
				assert.Equal(t, []string{"4.1", "1.1"}, orders[i], "replica %d: ε then γ", i)
			}
			continue
		}
		assert.Contains(t, nw.conflicts, r4aGamma)
		for i := range orders {
			want := []string{"4.1", "1.1"} // ε then γ
			if i < 2 {
				want = []string{"1.1", "4.1"} // γ then ε
			}
			assert.Equal(t, want, orders[i], "planted bug, replica %d", i)
		}
	}
}

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
	nw2.propose(1, put(2, 1, "k", "delta"))
	nw2.drop(func(paxos.Message) bool { return true })
	nw2.crash(1) // so that replica 1 does not propose the command again
	nw2.restart(1)
	r2 := nw2.reps[2]
	r2.recover(r2.get(r4aDelta))
	nw2.collect(2)
	nw2.drop(to(1))
	nw2.deliver(nil)
	require.True(t, nw2.decided[r4aDelta].Commands[0].IsNop())
	before := nw2.reps[1].indexEntry(nw2.reps[1].index["k"])
	nw2.crash(1)
	nw2.restart(1)
	require.Contains(t, nw2.reps[1].index, "k")
	assert.Equal(t, before.Write, nw2.reps[1].indexEntry(nw2.reps[1].index["k"]).Write)
	assert.Equal(t, uint64(1), before.Write[1])
}

// Coverage counts the recovery events of this incarnation: the scripted
// schedule above runs two recoveries, one deciding a Nop, one ruling a
// replica out by rule 4a.
func TestCoverageCountsRecoveries(t *testing.T) {
	nw := rule4aAfterRestart(t, false, false)
	assert.Equal(t, paxos.Coverage{"recoveries": 1, "trypreaccepts": 0, "deferrals": 0, "rule3a": 0, "rule4a": 0,
		"recovery-commits": 1, "recovery-nops": 1, paxos.CoverageRefused: 0}, nw.reps[2].Coverage())
	assert.Equal(t, paxos.Coverage{"recoveries": 1, "trypreaccepts": 0, "deferrals": 0, "rule3a": 0, "rule4a": 1,
		"recovery-commits": 1, "recovery-nops": 0, paxos.CoverageRefused: 0}, nw.reps[4].Coverage())
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
	nw.tolerate = planted
	for i := 0; i < 5; i++ {
		nw.start(i, nil)
	}
	among := func(ids ...int) func(paxos.Message) bool {
		in := func(x paxos.NodeID) bool { return slices.Contains(ids, int(x)) }
		return func(m paxos.Message) bool { return in(m.From) && in(m.To) }
	}
	// 1.
	nw.propose(2, put(3, 1, "k", "delta"))
	nw.drop(from(2))
	// 2.
	r4 := nw.reps[4]
	r4.recover(r4.get(r4aGamma))
	nw.collect(4)
	require.Equal(t, 1, nw.deliver(and(typ[Prepare], to(3))))
	nw.drop(and(typ[Prepare], func(m paxos.Message) bool { return m.To == 1 || m.To == 2 }))
	require.Equal(t, 1, nw.deliver(typ[PrepareReply]))
	// 3.
	nw.propose(0, put(1, 1, "k", "gamma"))
	require.Equal(t, 1, nw.deliver(and(typ[PreAccept], to(3))))
	nw.drop(typ[PreAccept])
	require.Equal(t, 1, nw.deliver(typ[PreAcceptReply]))
	// 4.
	require.Equal(t, 1, nw.deliver(and(typ[Prepare], to(0))))
	require.Equal(t, 1, nw.deliver(typ[PrepareReply]))
	nw.drop(and(typ[PreAccept], func(m paxos.Message) bool { return m.To == 1 || m.To == 2 }))
	var delayed []paxos.Message
	for _, m := range nw.queue {
		if m.To == 0 {
			delayed = append(delayed, m)
		}
	}
	require.Len(t, delayed, 1)
	nw.crash(0)
	nw.restart(0)
	// 5.
	r1 := nw.reps[1]
	r1.recover(r1.get(r4aGamma))
	nw.collect(1)
	nw.deliver(and(among(0, 1, 2), func(m paxos.Message) bool { return !typ[Commit](m) }))
	if planted {
		require.Contains(t, nw.decided, r4aGamma, "replica 0 forgot its promise: replica 1 decides γ")
		require.True(t, depends(nw.decided[r4aGamma], paxos.Instance{Replica: 2, Slot: 1}))
	} else {
		require.NotContains(t, nw.decided, r4aGamma, "replica 0 refuses ballot 1.1")
	}
	// 6.
	nw.queue = append(nw.queue, delayed...)
	nw.deliver(among(0, 3, 4))
	require.Equal(t, StatusCommitted, r4.inst[0][1].status, "replica 4 decides γ")
	return nw
}

// TestPromiseSurvivesRestart: a promise granted at a ballot first seen in
// a refusal must be persisted like any other (mutant epaxos/volatile-promise).
func TestPromiseSurvivesRestart(t *testing.T) {
	t.Run("fixed", func(t *testing.T) {
		nw := volatilePromise(t, false)
		assert.Empty(t, nw.conflicts)
		assert.Zero(t, nw.decided[r4aGamma].Deps[2])
	})
	t.Run("planted", func(t *testing.T) {
		nw := volatilePromise(t, true)
		assert.Contains(t, nw.conflicts, r4aGamma, "γ decided twice")
	})
}
