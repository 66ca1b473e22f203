package epaxos

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// pruneNet steps replicas by hand, dropping the messages drop says to.
type pruneNet struct {
	reps  []*Replica
	queue []paxos.Message
	drop  func(m paxos.Message) bool
}

func newPruneNet(t *testing.T, n int, plant func(*Replica)) *pruneNet {
	nw := &pruneNet{drop: func(paxos.Message) bool { return false }}
	for i := 0; i < n; i++ {
		r, err := NewReplica(paxos.Config{ID: paxos.NodeID(i), N: n, SnapshotEvery: -1})
		require.NoError(t, err)
		if plant != nil {
			plant(r)
		}
		nw.reps = append(nw.reps, r)
	}
	return nw
}

func (nw *pruneNet) drain(i int) {
	for _, m := range nw.reps[i].Ready().Messages {
		if !nw.drop(m) {
			nw.queue = append(nw.queue, m)
		}
	}
}

func (nw *pruneNet) run() {
	for len(nw.queue) > 0 {
		m := nw.queue[0]
		nw.queue = nw.queue[1:]
		_ = nw.reps[m.To].Step(m)
		nw.drain(int(m.To))
	}
}

func (nw *pruneNet) ticks(k int) {
	for ; k > 0; k-- {
		for i, r := range nw.reps {
			r.Tick()
			nw.drain(i)
		}
		nw.run()
	}
}

func isPreAcceptOf(m paxos.Message, id paxos.Instance) bool {
	p, ok := m.Body.(PreAccept)
	return ok && p.Inst == id
}

// pruneScenario: γ = (0,1), a put on k, reaches nobody; δ = (1,1), a put
// on k, commits without replica 0 (so without depending on γ) and is
// executed everywhere; watermarks go round. Then γ's PreAccepts go
// through. It returns γ as decided and whether replicas 1-4 still index k
// before γ's PreAccepts went through.
func pruneScenario(t *testing.T, plant func(*Replica)) (*instance, bool) {
	nw := newPruneNet(t, 5, plant)
	gamma, delta := paxos.Instance{Replica: 0, Slot: 1}, paxos.Instance{Replica: 1, Slot: 1}
	held := true
	nw.drop = func(m paxos.Message) bool {
		return held && (isPreAcceptOf(m, gamma) || isPreAcceptOf(m, delta) && m.To == 0)
	}
	nw.reps[0].Propose(paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "g"})
	nw.drain(0)
	nw.reps[1].Propose(paxos.Command{Client: 2, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "d"})
	nw.drain(1)
	nw.run()
	nw.ticks(3) // watermarks: every replica executed δ, and knows it
	for i, r := range nw.reps {
		require.True(t, r.inst[1][1] == nil || r.inst[1][1].executed, "replica %d executed δ", i)
		require.GreaterOrEqual(t, r.gcUpTo[1], uint64(1), "replica %d knows δ executed everywhere", i)
	}
	indexed := true
	for _, r := range nw.reps[1:] {
		_, ok := r.index.get("k")
		indexed = indexed && ok
	}
	held = false
	for i := 0; i < 200 && nw.reps[0].inst[0][1].status != StatusCommitted; i++ {
		nw.ticks(1)
	}
	g := nw.reps[0].inst[gamma.Replica][gamma.Slot]
	require.Equal(t, StatusCommitted, g.status)
	nw.ticks(20)
	return g, indexed
}

// An instance undecided while an interfering one is executed everywhere
// keeps the latter's key in every index until it is executed everywhere
// too, so it comes to depend on it; then the key goes. Pruning at once
// (mutant "epaxos/prune-at-once") lets it be decided without.
func TestPruneWaitsForInstancesHeldBefore(t *testing.T) {
	g, indexed := pruneScenario(t, nil)
	assert.True(t, indexed, "k stays indexed while γ is undecided")
	assert.GreaterOrEqual(t, g.deps[1], uint64(1), "γ depends on δ")

	g, indexed = pruneScenario(t, func(r *Replica) { r.planted.pruneAtOnce = true })
	assert.False(t, indexed, "the mutant prunes k at once")
	assert.Zero(t, g.deps[1], "the mutant decides γ without δ")
}

// Once every instance on a key is executed everywhere and an epoch has
// passed, the key goes from every index, every replica's floor covers its
// instances, and a new command on it depends on them through the floor.
func TestPrunedKeyCoveredByFloor(t *testing.T) {
	nw := newPruneNet(t, 5, nil)
	nw.reps[1].Propose(paxos.Command{Client: 2, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "d"})
	nw.drain(1)
	nw.run()
	for i := 0; i < 40; i++ {
		nw.ticks(1)
	}
	for i, r := range nw.reps {
		_, ok := r.index.get("k")
		assert.False(t, ok, "replica %d pruned k", i)
		deps := r.zeroDeps()
		r.floor.apply(paxos.Command{Op: paxos.OpPut, Key: "k"}, deps)
		assert.Equal(t, []uint64{0, 1, 0, 0, 0}, deps, "replica %d's floor of k covers δ", i)
		assert.Positive(t, r.Stats().Pruned)
	}
	nw.reps[3].Propose(paxos.Command{Client: 4, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "e"})
	nw.drain(3)
	nw.run()
	e := nw.reps[3].inst[3][1]
	require.NotNil(t, e)
	assert.Equal(t, StatusCommitted, e.status)
	assert.Equal(t, uint64(1), e.deps[1], "the new command depends on δ through the floor")
	assert.Equal(t, uint64(1), nw.reps[3].Stats().FastPath, "and still takes the fast path")
}

// A snapshot carries the pruned index with its floor, and restore takes
// both; a floor above the snapshot's collection point is refused.
func TestSnapshotCarriesFloor(t *testing.T) {
	nw := newPruneNet(t, 5, nil)
	for i := 0; i < 10; i++ {
		nw.reps[i%5].Propose(paxos.Command{Client: uint64(i%5 + 1), Seq: uint64(i/5 + 1), Op: paxos.OpPut, Key: fmt.Sprint("k", i), Value: "v"})
		nw.drain(i % 5)
	}
	nw.run()
	nw.ticks(40)
	r := nw.reps[2]
	require.Positive(t, r.Stats().Pruned)
	b, err := paxos.Encode(r.snapshot())
	require.NoError(t, err)
	v, err := paxos.Decode(b)
	require.NoError(t, err)
	snap := v.(SnapshotRecord)
	got, _ := restoredFrom(t, snap)
	assert.Equal(t, r.floor, got.floor)
	require.False(t, got.floor.zero)
	assert.Equal(t, facts(r), facts(got))

	snap.Floor = append([]uint64(nil), snap.Floor...)
	snap.Floor[0] = snap.GCUpTo[0] + 1
	_, err = NewReplica(paxos.Config{ID: 2, N: 5, Restore: &paxos.Persisted{Snapshot: snap}})
	assert.ErrorContains(t, err, "above its garbage-collection point")
}

// The floor stands for pruned facts by key bucket and kind: a read
// depends on pruned writes only, a write on pruned writes and reads, a
// command naming no keys on every bucket's; other buckets add nothing.
func TestFloorByBucketAndKind(t *testing.T) {
	x := newIndexFloor(3)
	x.raise("w", []keyRow{{replica: 1, write: 4, execWrite: 4}})
	x.raise("r", []keyRow{{replica: 2, read: 7, execRead: 7}})
	require.NotEqual(t, keyBucket("w"), keyBucket("r"))
	require.NotEqual(t, keyBucket("w"), keyBucket("other"))
	require.NotEqual(t, keyBucket("r"), keyBucket("other"))
	deps := func(c paxos.Command) []uint64 {
		d := make([]uint64, 3)
		x.apply(c, d)
		return d
	}
	assert.Equal(t, []uint64{0, 4, 0}, deps(paxos.Command{Op: paxos.OpGet, Key: "w"}))
	assert.Equal(t, []uint64{0, 0, 0}, deps(paxos.Command{Op: paxos.OpGet, Key: "r"}), "reads do not wait for reads")
	assert.Equal(t, []uint64{0, 0, 7}, deps(paxos.Command{Op: paxos.OpPut, Key: "r"}))
	assert.Equal(t, []uint64{0, 0, 0}, deps(paxos.Command{Op: paxos.OpPut, Key: "other"}))
	assert.Equal(t, []uint64{0, 4, 7}, deps(paxos.Command{Op: paxos.OpApp}), "a command naming no keys touches every key")
	assert.Equal(t, []uint64{0, 4, 7}, deps(paxos.Command{Op: paxos.OpApp, Keys: []string{"w", "r"}}))
	assert.Equal(t, []uint64{0, 0, 0}, deps(paxos.Command{Op: paxos.OpNop}))
}
