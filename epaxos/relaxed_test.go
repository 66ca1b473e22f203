package epaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// TestRelaxedTryPreAcceptOrder drives the one case where TryPreAccept is
// more permissive than the strict rule: a replica accepts γ's original
// attributes A0 although it knows a committed interfering δ that is in A0's
// deps with seq(δ) >= seq(A0). It checks what that can and cannot do to
// execution order.
//
// Schedule (N=5, F=2, fast quorum 3; instances are (replica, slot), and
// 1.1, 2.1, 3.1 are the commands' client.seq, as keyOrders prints them):
//  1. Replica 2 pre-accepts ε = (2,1), command 3.1 on key k, and tells
//     nobody.
//  2. Replica 3 proposes δ = (3,1), command 2.1, with seq 1; replica 0
//     takes it unchanged, replica 2 raises it to seq 2 (deps ε): δ goes the
//     slow path and is committed with seq 2 at 3, 1 and 4.
//  3. Before that commit reaches it, replica 0 proposes γ = (0,1), command
//     1.1, with A0 = (seq 2, deps {δ}); only replica 1 gets the PreAccept
//     (keeps A0 unchanged, so it holds Orig). Replicas 0 and 2 crash.
//  4. Replica 4 recovers γ with replies from 1, 3, 4: one Orig holder and
//     one unknown replica, so γ may have been fast-committed; TryPreAccept
//     asks 3 and 4, which know δ committed with seq 2 >= 2, in A0's deps,
//     and not depending on γ. The strict rule refuses here for as long as
//     replicas 0 and 2 stay down (δ is committed, so recovering it teaches
//     nothing, and rule 4a does not apply: nobody live holds ε with Orig);
//     the relaxed rule accepts and γ commits A0.
//  5. Replicas 0 and 2 come back; ε, recovered at a higher ballot, runs
//     PreAccept and picks up γ and δ.
//
// Result: seq(γ) = seq(δ) = 2 and γ → δ → ε → γ is one strongly connected
// component: exactly the rare schedule the package comment names, where
// seq alone would put γ (replica 0 breaks the tie) before δ. Execution
// still runs δ, γ, ε at every replica, because the edge δ → ε is ignored (ε
// depends on δ and comes after it), and in any case δ had completed nowhere
// when γ was proposed (it waited for ε), so either order is linearizable.
//
// Why the relaxed rule cannot produce a client-visible real-time
// violation under our execution rules: a client gets its answer only when
// the command executes (Executed; EPaxos has no local reads), and an
// instance executes only once every instance in its dependency closure is
// committed. If δ completed before γ was proposed, δ's closure was then
// complete, committed and fixed (committed attributes never change) and
// could not contain γ, which did not exist. So γ and δ are never in one
// strongly connected component; by the dependency invariant (which the
// relaxed rule keeps) γ depends on δ, and δ executes first at every
// replica whatever the seqs; the same holds with the roles swapped. Seq
// therefore only orders instances that were
// concurrent in real time, where either order is linearizable. The relaxed
// rule can put γ before δ inside one component (for example if ε, recovered
// later, depends on γ), but only when δ, waiting on ε, had not completed
// before γ was proposed.
func TestRelaxedTryPreAcceptOrder(t *testing.T) {
	nw := newNet(t, 5, nil)
	g := paxos.Instance{Replica: 0, Slot: 1}
	d := paxos.Instance{Replica: 3, Slot: 1}
	e := paxos.Instance{Replica: 2, Slot: 1}

	// 1. ε pre-accepted at 2 only.
	nw.Propose(2, put(3, 1, "k", "e"))
	nw.Drop(from(2))

	// 2. δ: PreAccept to 0 and 2; replica 2 raises its seq.
	nw.Propose(3, put(2, 1, "k", "d"))
	nw.Deliver(and(replicatest.Is[PreAccept], from(3), func(m paxos.Message) bool { return m.To == 0 || m.To == 2 }))
	nw.Drop(and(replicatest.Is[PreAccept], from(3)))
	require.Equal(t, uint64(1), nw.rep(0).get(d).seq, "replica 0 takes δ unchanged")
	require.Equal(t, uint64(2), nw.rep(2).get(d).seq, "replica 2 raises δ above ε")
	nw.Deliver(and(replicatest.Is[PreAcceptReply], to(3)))
	require.Equal(t, StatusAccepted, nw.rep(3).get(d).status, "δ goes the slow path; its Accepts wait")

	// 3. γ at 0 sees δ with seq 1: A0 = (2, {δ}); only 1 gets it.
	nw.Propose(0, put(1, 1, "k", "g"))
	a0 := nw.rep(0).get(g)
	require.Equal(t, uint64(2), a0.seq)
	require.Equal(t, uint64(1), a0.deps[3])
	nw.Deliver(and(replicatest.Is[PreAccept], from(0), to(1)))
	require.True(t, nw.rep(1).get(g).orig, "replica 1 holds A0 unchanged")
	nw.Drop(func(m paxos.Message) bool { return m.From == 0 || m.To == 0 })
	nw.Crash(0)

	// δ's slow path through 1 and 4; its commit reaches 1 and 4, not 2.
	nw.Drop(func(m paxos.Message) bool { return m.To == 2 || m.From == 2 })
	nw.Crash(2)
	nw.Deliver(func(m paxos.Message) bool { return m.From == 3 || m.To == 3 })
	require.Contains(t, nw.Decided, d)
	dd := nw.Decided[d]
	require.Equal(t, uint64(2), dd.Seq, "δ committed with the raised seq")
	require.False(t, depends(dd, g))
	require.True(t, depends(dd, e))
	for _, i := range []int{1, 3, 4} {
		require.Equal(t, StatusCommitted, nw.rep(i).get(d).status, "replica %d", i)
	}
	nw.Drop(func(paxos.Message) bool { return true })

	// 4. Replica 4 recovers γ; TryPreAccept meets the committed δ.
	r4 := nw.rep(4)
	r4.recover(r4.get(g))
	nw.Collect(4)
	nw.Deliver(nil)
	require.Equal(t, phPrepare, r4.get(g).co.phase, "ambiguous: waits for more replies")
	nw.Tick(4, 2*nw.Config.RetryTicks)
	nw.Deliver(replicatest.Is[TryPreAccept])
	replies := 0
	for _, m := range nw.Queue {
		if rep, ok := m.Body.(TryPreAcceptReply); ok && rep.Inst == g {
			replies++
			assert.True(t, rep.OK, "relaxed rule: committed δ in A0's deps does not block (from %d)", m.From)
		}
	}
	require.Equal(t, 1, replies, "replica 3 answers; replica 4 answered itself")
	nw.Deliver(nil)
	assert.Equal(t, uint64(1), r4.Stats().TryPreAccepts)
	require.Contains(t, nw.Decided, g)
	gd := nw.Decided[g]
	assert.Equal(t, uint64(2), gd.Seq, "γ kept A0")
	assert.Equal(t, dd.Seq, gd.Seq, "seq(γ) is not above seq(δ)")
	assert.True(t, depends(gd, d))
	for _, i := range []int{1, 3, 4} {
		assert.False(t, nw.rep(i).get(d).executed, "δ (waiting for ε) has completed nowhere: it is concurrent with γ")
	}

	// Everyone back; everything resolves; δ before γ at every replica.
	nw.Restart(0)
	nw.Restart(2)
	require.True(t, nw.Settle(nw.allDecided(g, d, e), 500))
	assert.Empty(t, visibility(nw.Decided))
	// ε, recovered from replica 2's record, went through PreAccept at a
	// higher ballot and picked up both: γ, δ and ε form one component.
	ed := nw.Decided[e]
	require.True(t, depends(ed, g) && depends(ed, d), "ε depends on γ and δ: %+v", ed)
	assert.Less(t, gd.Seq, ed.Seq)
	for i := 0; i < 5; i++ {
		assert.Equal(t, []string{"2.1", "1.1", "3.1"}, keyOrders(nw.Executed[i])["k"], "replica %d", i)
	}
}

// TestDeferralCycle: two interfering instances whose leaders both crashed
// with 2 of 5 replicas down. γ1 = 0.1 was pre-accepted by replica 2 only,
// γ2 = 1.1 by replica 3 only, neither knowing the other. Recovery of either
// sees one Orig holder and one silent replica (the other leader), so it
// cannot rule out a fast commit and runs TryPreAccept, which the replica
// holding the other instance refuses: each blocks the other. Rule 4a of
// recovery breaks the cycle: once a recoverer holds γ2 with its leader's
// original attributes, which exclude γ1, replica 1 cannot have been in γ1's
// fast quorum, so γ1 is free (or the other way round). Both must commit,
// one depending on the other, and execute in the same order everywhere.
// (With rule 4a disabled, settle gives up: neither instance commits while
// replicas 0 and 1 are down.)
func TestDeferralCycle(t *testing.T) {
	nw, g1, g2 := twoStoppedLeaders(t)
	require.True(t, nw.rep(2).get(g1).orig)
	require.True(t, nw.rep(3).get(g2).orig)
	require.Equal(t, uint64(0), nw.rep(2).get(g1).deps[1], "γ1 does not depend on γ2")
	require.Equal(t, uint64(0), nw.rep(3).get(g2).deps[0], "γ2 does not depend on γ1")

	require.True(t, nw.Settle(nw.allDecided(g1, g2), 400), "both instances must be recovered with replicas 0 and 1 down")
	d1, d2 := nw.Decided[g1], nw.Decided[g2]
	assert.True(t, depends(d1, g2) || depends(d2, g1))
	assert.Empty(t, visibility(nw.Decided))
	var tp uint64
	for i := 2; i < 5; i++ {
		tp += nw.rep(i).Stats().TryPreAccepts
	}
	assert.Positive(t, tp, "the cycle went through TryPreAccept")
	order := keyOrders(nw.Executed[2])["k"]
	require.Len(t, order, 2)
	nw.Restart(0)
	nw.Restart(1)
	require.True(t, nw.Settle(nw.allDecided(g1, g2), 400))
	for i := 0; i < 5; i++ {
		assert.Equal(t, order, keyOrders(nw.Executed[i])["k"], "replica %d", i)
	}
}

// Rule 4a with the evidence at another replica: γ1 = (0,1) reached only
// replica 2 and γ2 = (1,1) only replica 3, both on key k; replicas 0 and 1
// stop. A recovery of γ1 sees one Orig holder (2) and one silent replica
// (1), so γ1 may have been fast-committed, and its TryPreAccept goes to 3
// and 4. Replica 3 refuses because of γ2, which it holds with replica 1's
// original attributes leaving γ1 out; its reply says so (LeaderOut), which
// rules replica 1 out of γ1's fast quorum: γ1 is free in the same attempt.
// The symmetric recovery of γ2 goes the same way. No recovery is abandoned
// and retried, where before this rule each instance needed a second
// attempt (the recoverer first had to hold the other instance with Orig).
func TestTryPreAcceptReplyRulesOutLeader(t *testing.T) {
	nw, g1, g2 := twoStoppedLeaders(t)

	require.True(t, nw.Settle(nw.allDecided(g1, g2), 400), "both instances must be recovered with replicas 0 and 1 down")
	assert.True(t, depends(nw.Decided[g1], g2) || depends(nw.Decided[g2], g1))
	var recoveries, tpa, deferred uint64
	for i := 2; i < 5; i++ {
		st := nw.rep(i).Stats()
		recoveries += st.Recoveries
		tpa += st.TryPreAccepts
		deferred += st.Deferred
	}
	assert.Positive(t, tpa, "the recoveries went through TryPreAccept")
	assert.Zero(t, deferred, "no TryPreAccept was left waiting on the other instance")
	assert.Equal(t, uint64(2), recoveries, "one recovery per instance, none abandoned and retried")
	cov := paxos.Coverage{}
	for i := 2; i < 5; i++ {
		cov.Add(nw.rep(i).Coverage())
	}
	assert.Positive(t, cov["rule4a"], "a TryPreAccept refusal ruled the other leader out (LeaderOut)")
	assert.Equal(t, tpa, cov["trypreaccepts"])
}

// twoStoppedLeaders sets up N=5 with γ1 = (0,1) pre-accepted only by
// replica 2 and γ2 = (1,1) only by replica 3, both writes of key k, and
// replicas 0 and 1 stopped with nothing more in flight from or to them.
func twoStoppedLeaders(t *testing.T) (nw *tnet, g1, g2 paxos.Instance) {
	nw = newNet(t, 5, nil)
	nw.Propose(0, put(1, 1, "k", "a"))
	nw.Propose(1, put(2, 1, "k", "b"))
	nw.Deliver(and(replicatest.Is[PreAccept], from(0), to(2)))
	nw.Deliver(and(replicatest.Is[PreAccept], from(1), to(3)))
	nw.Crash(0)
	nw.Crash(1)
	nw.Drop(func(m paxos.Message) bool { return m.To == 0 || m.To == 1 || m.From == 0 || m.From == 1 })
	return nw, paxos.Instance{Replica: 0, Slot: 1}, paxos.Instance{Replica: 1, Slot: 1}
}
