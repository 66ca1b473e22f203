package epaxos

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/quorum"
)

// visibility returns every pair of interfering decided instances with no
// dependency in either direction (the EPaxos invariant says none).
func visibility(dec map[paxos.Instance]paxos.Decision) [][2]paxos.Instance {
	var bad [][2]paxos.Instance
	var ids []paxos.Instance
	for id := range dec {
		ids = append(ids, id)
	}
	sortInstances(ids)
	for i, a := range ids {
		for _, b := range ids[i+1:] {
			da, db := dec[a], dec[b]
			if paxos.BatchesInterfere(da.Commands, db.Commands) && !depends(da, b) && !depends(db, a) {
				bad = append(bad, [2]paxos.Instance{a, b})
			}
		}
	}
	return bad
}

// Test 1 at the protocol level: the replica uses the optimized fast quorum
// F + floor((F+1)/2) for N = 3..17, and the intersection property recovery
// relies on holds exhaustively for N <= 9.
func TestFastQuorumSizes(t *testing.T) {
	want := map[int]int{1: 1, 3: 2, 5: 3, 7: 5, 9: 6, 11: 8, 13: 9, 15: 11, 17: 12}
	for n, fq := range want {
		r, err := NewReplica(paxos.Config{N: n})
		require.NoError(t, err)
		assert.Equal(t, fq, r.FastQuorum(), "N=%d", n)
		f := (n - 1) / 2
		assert.Equal(t, max(1, f+(f+1)/2), r.FastQuorum(), "N=%d", n)
		assert.Equal(t, f+1, r.sq, "N=%d slow quorum", n)
		if n <= 9 {
			sys, err := quorum.NewEPaxos(n)
			require.NoError(t, err)
			require.NoError(t, quorum.CheckRecoveryOverlap(sys), "N=%d", n)
		}
	}
	for _, n := range []int{2, 4, 6} {
		_, err := New(paxos.Config{N: n})
		require.ErrorIs(t, err, paxos.ErrConfig, "even N=%d must be refused", n)
	}
	maj, err := quorum.NewMajority(3)
	require.NoError(t, err)
	_, err = New(paxos.Config{N: 3, Quorums: maj})
	require.ErrorIs(t, err, paxos.ErrConfig, "a non-EPaxos quorum system must be refused")
}

// Test 2: Sutra's counterexample. Three replicas; instance γ = (0,1) gets
// two competing recoveries. Replica 2 accepts value V1 at ballot 1.2, then
// promises 2.1; replicas 0 and 1 accept a different value V2 at 2.1 (so V2
// is chosen) without anyone learning it. A third recovery at 3.2 sees V1
// (at 2) and V2 (at 1): it must pick V2 by the ballot of the vote (2.1),
// not by the promise (at replica 2, 2.1 ≥ 1.2), which would pick V1.
func TestSutraCompetingRecoveries(t *testing.T) {
	nw := newNet(t, 3, nil)
	g := paxos.Instance{Replica: 0, Slot: 1}
	y := paxos.Instance{Replica: 2, Slot: 1}

	// γ's PreAccept reaches replica 1 only; its leader crashes.
	nw.Propose(0, put(1, 1, "k", "x"))
	nw.Deliver(and(replicatest.Is[PreAccept], to(1)))
	nw.Drop(from(0))
	nw.Crash(0)

	// Replica 2 commits an interfering Y that depends on γ.
	nw.Propose(2, put(2, 1, "k", "y"))
	nw.Deliver(nil)
	require.Contains(t, nw.Decided, y)
	require.True(t, depends(nw.Decided[y], g))

	// Recovery A by replica 2 at 1.2: TryPreAccept succeeds, it accepts V1
	// locally, and its Accept to replica 1 is lost.
	r2 := nw.rep(2)
	r2.recover(r2.inst[0][1])
	nw.Collect(2)
	nw.Deliver(and(replicatest.Is[Prepare], to(1)))
	nw.Deliver(and(replicatest.Is[PrepareReply], to(2)))
	require.Equal(t, StatusAccepted, r2.inst[0][1].status)
	require.Equal(t, MakeBallot(1, 2), r2.inst[0][1].vbal)
	v1 := r2.record(r2.inst[0][1])
	nw.Drop(func(paxos.Message) bool { return true })

	// Recovery B by replica 1 at 2.1. Its Prepare reaches replica 2 (which
	// promises 2.1 but keeps VBallot 1.2); the reply is lost. With the
	// restarted leader it decides V2 via PreAccept + Accept; replica 0
	// accepts, replica 1's commit never happens (the reply is lost).
	nw.Restart(0)
	r1 := nw.rep(1)
	r1.recover(r1.inst[0][1])
	nw.Collect(1)
	require.Equal(t, MakeBallot(2, 1), r1.inst[0][1].bal)
	nw.Deliver(and(replicatest.Is[Prepare], to(2)))
	assert.Equal(t, MakeBallot(2, 1), r2.inst[0][1].bal, "promise moves")
	assert.Equal(t, MakeBallot(1, 2), r2.inst[0][1].vbal, "the vote's ballot does not")
	nw.Drop(and(replicatest.Is[PrepareReply], from(2)))
	nw.Deliver(and(replicatest.Is[Prepare], to(0)))
	nw.Deliver(and(replicatest.Is[PrepareReply], to(1)))
	nw.Deliver(and(replicatest.Is[PreAccept], to(0)))
	nw.Deliver(and(replicatest.Is[PreAcceptReply], to(1)))
	nw.Deliver(and(replicatest.Is[Accept], to(0)))
	nw.Drop(func(paxos.Message) bool { return true })
	require.Equal(t, StatusAccepted, r1.inst[0][1].status)
	require.Equal(t, StatusAccepted, nw.rep(0).inst[0][1].status)
	v2 := r1.record(r1.inst[0][1])
	require.False(t, reflect.DeepEqual(v1.Deps, v2.Deps), "the two recoveries must have produced different values")

	// Recovery C by replica 2 at 3.2 with replies from 2 and 1.
	nw.Crash(0)
	r2.recover(r2.inst[0][1])
	nw.Collect(2)
	require.Equal(t, MakeBallot(3, 2), r2.inst[0][1].co.ballot)
	self := r2.inst[0][1].co.prep[2]
	assert.Equal(t, MakeBallot(1, 2), self.VBallot)
	nw.Deliver(nil)
	nw.Restart(0)
	require.True(t, nw.Settle(nw.allDecided(g, y), 300))
	got := nw.Decided[g]
	assert.Equal(t, v2.Deps, got.Deps, "the chosen value V2 must be kept")
	assert.Equal(t, v2.Seq, got.Seq)
	assert.Empty(t, visibility(nw.Decided))
}

// Test 3 (two interfering commands on the slow path with equal seq and
// mutual dependencies) is testdata/equal_seq.txt.

// deliverRandom delivers queued messages in a random order until none is left.
func (nw *tnet) deliverRandom(rng *rand.Rand) {
	for len(nw.Queue) > 0 {
		j := rng.IntN(len(nw.Queue))
		m := nw.Queue[j]
		nw.Queue = append(nw.Queue[:j], nw.Queue[j+1:]...)
		if !nw.Up[m.To] {
			continue
		}
		nw.Step(m)
	}
}

// randomGraph commits cmds proposed round-robin with random delivery and
// returns the decisions.
func randomGraph(t *testing.T, seed uint64, cmds int, keys int) map[paxos.Instance]paxos.Decision {
	rng := rand.New(rand.NewPCG(seed, 1))
	nw := newNet(t, 3, nil)
	for c := 0; c < cmds; c++ {
		k := string(rune('a' + rng.IntN(keys)))
		cmd := put(uint64(c+1), 1, k, "v")
		if rng.IntN(3) == 0 {
			cmd.Op, cmd.Value = paxos.OpGet, ""
		}
		nw.Propose(c%3, cmd)
		if rng.IntN(2) == 0 {
			nw.deliverRandom(rng)
		}
	}
	nw.deliverRandom(rng)
	require.Len(t, nw.Decided, cmds)
	return nw.Decided
}

func hasCycle(dec map[paxos.Instance]paxos.Decision) bool {
	for a, da := range dec {
		for b, db := range dec {
			if a != b && paxos.BatchesInterfere(da.Commands, db.Commands) && depends(da, b) && depends(db, a) {
				return true
			}
		}
	}
	return false
}

// executeIn feeds the commits to a fresh replica in the given order and
// returns its per-key execution order.
func executeIn(t *testing.T, dec []paxos.Decision) map[string][]string {
	r, err := NewReplica(paxos.Config{ID: 0, N: 3})
	require.NoError(t, err)
	var ex []paxos.Execution
	for _, d := range dec {
		require.NoError(t, r.Step(paxos.Message{From: 1, To: 0, Body: Commit{Inst: d.Instance, Cmds: d.Commands, Seq: d.Seq, Deps: d.Deps}}))
		ex = append(ex, r.Ready().Executed...)
	}
	require.Len(t, ex, len(dec), "everything executes once all commits are in")
	return keyOrders(ex)
}

func permute(xs []paxos.Decision, k int, fn func()) {
	if k == len(xs) {
		fn()
		return
	}
	for i := k; i < len(xs); i++ {
		xs[k], xs[i] = xs[i], xs[k]
		permute(xs, k+1, fn)
		xs[k], xs[i] = xs[i], xs[k]
	}
}

// Test 4: committed instances arriving in every order (all permutations of
// a small graph with a cycle; random orders of a large one) give the same
// per-key execution order.
func TestCommitPermutations(t *testing.T) {
	var small map[paxos.Instance]paxos.Decision
	for seed := uint64(1); seed < 50; seed++ {
		small = randomGraph(t, seed, 6, 2)
		if hasCycle(small) {
			break
		}
	}
	require.True(t, hasCycle(small), "want a dependency cycle in the small graph")
	list := make([]paxos.Decision, 0, len(small))
	for _, d := range small {
		list = append(list, d)
	}
	want := executeIn(t, list)
	perms := 0
	permute(list, 0, func() {
		perms++
		require.Equal(t, want, executeIn(t, list))
	})
	require.Equal(t, 720, perms)

	large := randomGraph(t, 99, 60, 3)
	require.True(t, hasCycle(large))
	list = list[:0]
	for _, d := range large {
		list = append(list, d)
	}
	want = executeIn(t, list)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := 0; i < 100; i++ {
		rng.Shuffle(len(list), func(a, b int) { list[a], list[b] = list[b], list[a] })
		require.Equal(t, want, executeIn(t, list))
	}
	assert.Empty(t, visibility(large))
}

// Test 5 (under asymmetric PreAccept loss the leader fast-commits and
// crashes before broadcasting Commit) is testdata/lost_preaccepts_leader_crash.txt.

// Test 5b: the same loss when γ was NOT fast-committed (its PreAccept
// reached one replica), with further interfering commands: recovery may
// choose any safe value but must not lose a dependency.
func TestLostPreAcceptsNotCommitted(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		nw := newNet(t, 5, func(c *paxos.Config) { c.Seed = seed })
		nw.Propose(0, put(1, 1, "k", "x"))
		keep := paxos.NodeID(1 + rng.IntN(4))
		nw.Deliver(and(replicatest.Is[PreAccept], from(0), func(m paxos.Message) bool { return m.To == keep }))
		nw.Drop(from(0))
		nw.Crash(0)
		for c := 0; c < 4; c++ {
			at := 1 + rng.IntN(4)
			nw.Propose(at, put(uint64(c+2), 1, "k", "y"))
			nw.Drop(func(m paxos.Message) bool { _, ok := m.Body.(PreAccept); return ok && rng.IntN(3) == 0 })
			nw.deliverRandom(rng)
		}
		if seed%2 == 0 {
			nw.Restart(0)
		}
		ok := nw.Settle(func() bool {
			for i := 1; i < 5; i++ {
				if len(keyOrders(nw.Executed[i])["k"]) < 4 {
					return false
				}
			}
			return true
		}, 400)
		require.True(t, ok, "seed %d: the four Y commands execute everywhere", seed)
		assert.Empty(t, visibility(nw.Decided), "seed %d", seed)
		ref := keyOrders(nw.Executed[1])["k"]
		for i := 2; i < 5; i++ {
			assert.Equal(t, ref, keyOrders(nw.Executed[i])["k"], "seed %d replica %d", seed, i)
		}
	}
}

// Test 6: a replica crashes right after replying to a PreAccept and
// restarts from its records: it answers a duplicate exactly as before and
// reports the instance to later conflicting commands, so two conflicting
// commands never both commit with empty deps. The control run restarts it
// without its records (what replying before persisting amounts to) and
// shows the violation this test would catch.
func TestCrashAfterPreAcceptReply(t *testing.T) {
	for _, keepRecords := range []bool{true, false} {
		nw := newNet(t, 3, nil)
		g := paxos.Instance{Replica: 0, Slot: 1}
		y := paxos.Instance{Replica: 2, Slot: 1}
		nw.Propose(0, put(1, 1, "k", "x"))
		var pa paxos.Message
		for _, m := range nw.Queue {
			if _, ok := m.Body.(PreAccept); ok && m.To == 1 {
				pa = m
			}
		}
		nw.Deliver(and(replicatest.Is[PreAccept], to(1)))
		var first PreAcceptReply
		for _, m := range nw.Queue {
			if rep, ok := m.Body.(PreAcceptReply); ok && m.From == 1 {
				first = rep
			}
		}
		require.True(t, first.OK)
		nw.Deliver(and(replicatest.Is[PreAcceptReply], to(0)))
		require.Contains(t, nw.Decided, g, "fast path")
		nw.Drop(from(0))
		nw.Crash(0)
		nw.Crash(1)
		if !keepRecords {
			nw.Persisted[1] = paxos.Persisted{}
		}
		nw.Restart(1)
		if keepRecords {
			require.NoError(t, nw.rep(1).Step(pa))
			nw.Collect(1)
			var again PreAcceptReply
			for _, m := range nw.Queue {
				if rep, ok := m.Body.(PreAcceptReply); ok && m.From == 1 {
					again = rep
				}
			}
			assert.Equal(t, first, again, "a restarted replica answers a duplicate as before")
			nw.Drop(from(1))
		}
		nw.Propose(2, put(2, 1, "k", "y"))
		nw.Deliver(nil)
		require.Contains(t, nw.Decided, y)
		bothEmpty := !depends(nw.Decided[g], y) && !depends(nw.Decided[y], g)
		if keepRecords {
			assert.False(t, bothEmpty, "conflicting commands both committed with empty deps")
			assert.Empty(t, visibility(nw.Decided))
		} else {
			assert.True(t, bothEmpty, "control: forgetting the reply must break the invariant")
			assert.NotEmpty(t, visibility(nw.Decided))
		}
	}
}

// A Get interferes only with writes to its key: two Gets of one key commit
// on the fast path without depending on each other.
func TestReadsDoNotInterfere(t *testing.T) {
	nw := newNet(t, 3, nil)
	nw.Propose(0, paxos.Command{Client: 1, Seq: 1, Op: paxos.OpGet, Key: "k"})
	nw.Propose(1, paxos.Command{Client: 2, Seq: 1, Op: paxos.OpGet, Key: "k"})
	nw.Deliver(nil)
	for _, d := range nw.Decided {
		assert.Equal(t, []uint64{0, 0, 0}, d.Deps)
	}
	for _, c := range nw.AllCommitted() {
		assert.Equal(t, paxos.PathFast, c.Path)
	}
	require.Len(t, nw.AllCommitted(), 2)
	assert.False(t, kv.Interferes(&paxos.Command{Op: paxos.OpGet, Key: "k"}, &paxos.Command{Op: paxos.OpGet, Key: "k"}))
}

// Batching: several commands share one instance.
func TestBatching(t *testing.T) {
	nw := newNet(t, 3, func(c *paxos.Config) { c.Batch = 4 })
	for s := uint64(1); s <= 3; s++ {
		nw.rep(0).Propose(put(1, s, "k", "v"))
	}
	nw.Collect(0) // Ready flushes the partial batch
	nw.Deliver(nil)
	require.Len(t, nw.Decided, 1)
	for _, d := range nw.Decided {
		assert.Len(t, d.Commands, 3)
	}
	assert.Len(t, nw.Executed[2], 3)
}

// Thrifty PreAccepts that widen after RetryTicks: testdata/thrifty.txt.

// When nobody knows the command, recovery commits a Nop, and the leader
// later proposes its command again.
func TestRecoveryCommitsNop(t *testing.T) {
	nw := newNet(t, 3, nil)
	nw.Propose(0, put(1, 1, "k", "x"))
	nw.Drop(from(0)) // nobody hears of it
	r1 := nw.rep(1)
	g := paxos.Instance{Replica: 0, Slot: 1}
	r1.recover(r1.get(g))
	nw.Collect(1)
	nw.Deliver(and(func(m paxos.Message) bool { return m.To != 0 && m.From != 0 }))
	require.Contains(t, nw.Decided, g)
	assert.Equal(t, nopBatch(), nw.Decided[g].Commands)
	// The leader learns of the Nop and re-proposes.
	require.True(t, nw.Settle(func() bool { return len(keyOrders(nw.Executed[2])["k"]) == 1 }, 100))
	assert.Equal(t, []string{"1.1"}, keyOrders(nw.Executed[2])["k"])
}

// Malformed messages are errors, not panics.
func TestMalformed(t *testing.T) {
	r, err := NewReplica(paxos.Config{ID: 0, N: 3})
	require.NoError(t, err)
	for _, body := range []any{
		PreAccept{Inst: paxos.Instance{Replica: 9, Slot: 1}, Deps: make([]uint64, 3)},
		PreAccept{Inst: paxos.Instance{Replica: 1, Slot: 0}, Deps: make([]uint64, 3)},
		PreAccept{Inst: paxos.Instance{Replica: 1, Slot: 1}, Deps: make([]uint64, 2)},
		Commit{Inst: paxos.Instance{Replica: 1, Slot: 1}},
		Watermark{Executed: []uint64{1}},
		TryPreAcceptReply{Inst: paxos.Instance{Replica: 1, Slot: 1}, Conflict: paxos.Instance{Replica: -1, Slot: 1}, LeaderOut: true},
		TryPreAcceptReply{Inst: paxos.Instance{Replica: 1, Slot: 1}, Conflict: paxos.Instance{Replica: 3, Slot: 1}},
		"junk",
	} {
		require.Error(t, r.Step(paxos.Message{From: 1, To: 0, Body: body}), "%T", body)
	}
	require.Error(t, r.Step(paxos.Message{From: 7, To: 0, Body: Prepare{Inst: paxos.Instance{Replica: 1, Slot: 1}}}))
	_, err = New(paxos.Config{ID: 5, N: 3})
	require.ErrorIs(t, err, paxos.ErrConfig)
	_, err = New(paxos.Config{ID: 0, N: 3, Restore: &paxos.Persisted{Records: []any{"junk"}}})
	require.Error(t, err)
}

// Snapshots: with SnapshotEvery set, a replica's durable state collapses to
// a snapshot plus later records; a restart from it keeps the key-value state
// and re-executes only what came after the snapshot.
func TestSnapshotRestart(t *testing.T) {
	nw := newNet(t, 3, func(c *paxos.Config) { c.SnapshotEvery = 4 })
	for s := uint64(1); s <= 10; s++ {
		nw.Propose(int(s%3), put(s, 1, "k", fmt.Sprintf("v%d", s)))
		nw.Deliver(nil)
	}
	require.NotNil(t, nw.Persisted[2].Snapshot, "a snapshot was taken")
	assert.Less(t, len(nw.Persisted[2].Records), 40, "records before the snapshot were dropped")
	nw.Crash(2)
	nw.Restart(2)
	nw.Deliver(nil)
	// One more write and a read at the restarted replica.
	nw.Propose(0, put(11, 1, "k", "v11"))
	nw.Deliver(nil)
	nw.Propose(2, paxos.Command{Client: 12, Seq: 1, Op: paxos.OpGet, Key: "k"})
	nw.Deliver(nil)
	ex := nw.Executed[2]
	require.NotEmpty(t, ex)
	last := ex[len(ex)-1]
	assert.Equal(t, paxos.OpGet, last.Command.Op)
	assert.Equal(t, "v11", last.Output)
	assert.Less(t, len(ex), 12, "only what followed the snapshot is re-executed")
}

// TryPreAccept with a proof: at N=5, γ's PreAccept reached one replica
// before its leader crashed; another replica is down too, so recovery
// cannot tell whether γ took the fast path and runs TryPreAccept. An
// interfering Y, committed on the fast path without γ, refuses it and proves
// γ was not fast-committed with its original attributes; recovery then
// re-runs PreAccept and γ commits depending on Y.
func TestTryPreAcceptProof(t *testing.T) {
	nw := newNet(t, 5, nil)
	g := paxos.Instance{Replica: 0, Slot: 1}
	y := paxos.Instance{Replica: 3, Slot: 1}
	nw.Propose(0, put(1, 1, "k", "x"))
	nw.Deliver(and(replicatest.Is[PreAccept], to(1)))
	nw.Drop(from(0))
	nw.Crash(0)
	nw.Drop(from(1))

	nw.Propose(3, put(2, 1, "k", "y"))
	nw.Deliver(and(replicatest.Is[PreAccept], func(m paxos.Message) bool { return m.To == 2 || m.To == 4 }))
	nw.Drop(replicatest.Is[PreAccept])
	nw.Deliver(replicatest.Is[PreAcceptReply])
	require.Contains(t, nw.Decided, y)
	require.False(t, depends(nw.Decided[y], g), "Y took the fast path without γ")
	nw.Crash(2)
	nw.Deliver(nil) // Y's commit reaches 1 and 4

	r4 := nw.rep(4)
	r4.recover(r4.get(g))
	nw.Collect(4)
	nw.Deliver(nil)
	require.Equal(t, phPrepare, r4.inst[0][1].co.phase, "ambiguous: waits for more replies")
	nw.Tick(4, 2*nw.Config.RetryTicks)
	nw.Deliver(nil)
	assert.Equal(t, uint64(1), r4.Stats().TryPreAccepts)
	require.Contains(t, nw.Decided, g)
	assert.True(t, depends(nw.Decided[g], y), "γ now depends on Y")
	assert.Empty(t, visibility(nw.Decided))
	nw.Restart(0)
	nw.Restart(2)
	require.True(t, nw.Settle(nw.allDecided(g, y), 300))
	for i := 1; i < 5; i++ {
		assert.Equal(t, []string{"2.1", "1.1"}, keyOrders(nw.Executed[i])["k"], "replica %d", i)
	}
}

// The thrifty three-replica shortcut: replica 0 sends γ's PreAccept to
// replica 1 only; replica 1 adds δ (its own interfering command) to γ's
// deps, and replica 0 commits the changed attributes after that one reply.
// Replica 0 then stops before anyone learns the commit, and replica 2
// proposes ε, which replica 1 pre-accepts before recovering γ. Recovery
// must decide γ exactly as replica 0 did (the three-replica rule: replica 1
// is the only one that voted at γ's initial ballot); running PreAccept again
// would have added ε. The harness fails the test if γ is decided twice
// differently.
func TestThreeReplicaShortcut(t *testing.T) {
	nw := newNet(t, 3, func(c *paxos.Config) { c.Thrifty = true; c.Distances = []float64{0, 1, 2} })
	g := paxos.Instance{Replica: 0, Slot: 1}
	nw.Propose(1, put(2, 1, "k", "d")) // δ = (1,1): replica 1 keeps its PreAccepts for now
	nw.Drop(from(1))
	nw.Propose(0, put(1, 1, "k", "g"))
	require.Equal(t, 1, nw.Deliver(and(replicatest.Is[PreAccept], from(0), to(1))), "thrifty: γ's PreAccept goes to one replica")
	require.Equal(t, 1, nw.Deliver(and(replicatest.Is[PreAcceptReply], to(0))))
	dec, ok := nw.Decided[g]
	require.True(t, ok, "replica 0 commits after the single reply")
	assert.Equal(t, uint64(1), dec.Deps[1], "γ's committed deps include δ, added by replica 1")
	assert.Equal(t, uint64(1), nw.rep(0).Stats().FastPath)

	nw.Crash(0)
	nw.Drop(func(m paxos.Message) bool { return m.From == 0 || m.To == 0 })
	nw.Propose(2, put(3, 1, "k", "e")) // ε = (2,1)
	nw.Deliver(nil)
	require.True(t, nw.Settle(nw.allDecided(g), 400), "γ must be recovered with replica 0 down")
	assert.Equal(t, dec, nw.Decided[g])
	assert.Positive(t, nw.rep(1).Coverage()["rule3a"]+nw.rep(2).Coverage()["rule3a"], "recovered by rule 3a")
	nw.Restart(0)
	eps := paxos.Instance{Replica: 2, Slot: 1}
	d := paxos.Instance{Replica: 1, Slot: 1}
	require.True(t, nw.Settle(nw.allDecided(g, d, eps), 400))
	order := keyOrders(nw.Executed[1])["k"]
	require.Len(t, order, 3)
	for i := 0; i < 3; i++ {
		assert.Equal(t, order, keyOrders(nw.Executed[i])["k"], "replica %d", i)
	}
}

// A lost commit caught up from a peer: testdata/lost_commit_caught_up.txt.
