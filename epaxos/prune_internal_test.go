package epaxos

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// newPruneNet is a 5-replica tnet without routine snapshots, with the
// planted bugs plant sets (nil: none).
func newPruneNet(t *testing.T, plant func(*Replica)) *tnet {
	nw := newNet(t, 5, func(c *paxos.Config) { c.SnapshotEvery = -1 })
	for i := 0; i < nw.N(); i++ {
		if plant != nil {
			plant(nw.rep(i))
		}
	}
	return nw
}

// preAcceptOf matches the PreAccepts of instance id.
func preAcceptOf(id paxos.Instance) func(m paxos.Message) bool {
	return func(m paxos.Message) bool {
		p, ok := m.Body.(PreAccept)
		return ok && p.Inst == id
	}
}

// pruneScenario: γ = (0,1), a put on k, reaches nobody; δ = (1,1), a put
// on k, commits without replica 0 (so without depending on γ) and is
// executed everywhere; watermarks go round. Then γ's PreAccepts go
// through. It returns γ as decided and whether replicas 1-4 still index k
// before γ's PreAccepts went through.
func pruneScenario(t *testing.T, plant func(*Replica)) (*instance, bool) {
	nw := newPruneNet(t, plant)
	gamma, delta := paxos.Instance{Replica: 0, Slot: 1}, paxos.Instance{Replica: 1, Slot: 1}
	held := replicatest.Or(preAcceptOf(gamma), and(preAcceptOf(delta), to(0)))
	nw.Propose(0, put(1, 1, "k", "g"))
	nw.Propose(1, put(2, 1, "k", "d"))
	// Replica 0, whose PreAccept of δ is held back, ignores δ's short Commit and
	// learns δ by recovering it; then watermarks go round: every replica
	// executed δ, and knows it.
	everywhere := func() bool {
		for i := 0; i < nw.N(); i++ {
			if r := nw.rep(i); r.inst[1][1] != nil && !r.inst[1][1].executed || r.gcUpTo[1] < 1 {
				return false
			}
		}
		return true
	}
	for k := 0; k < 3 || !everywhere() && k < 100; k++ {
		nw.Drop(held)
		nw.Deliver(nil)
		nw.TickAll(1)
	}
	nw.Drop(held)
	nw.Deliver(nil)
	indexed := true
	for i := 0; i < nw.N(); i++ {
		r := nw.rep(i)
		require.True(t, r.inst[1][1] == nil || r.inst[1][1].executed, "replica %d executed δ", i)
		require.GreaterOrEqual(t, r.gcUpTo[1], uint64(1), "replica %d knows δ executed everywhere", i)
		if i > 0 {
			_, ok := r.index.get("k")
			indexed = indexed && ok
		}
	}
	require.True(t, nw.Settle(nw.allDecided(gamma), 200), "γ decided once its PreAccepts go through")
	g := nw.rep(0).inst[gamma.Replica][gamma.Slot]
	nw.Settle(nil, 20)
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
	nw := newPruneNet(t, nil)
	nw.Propose(1, put(2, 1, "k", "d"))
	nw.Settle(nil, 40)
	for i := 0; i < nw.N(); i++ {
		r := nw.rep(i)
		_, ok := r.index.get("k")
		assert.False(t, ok, "replica %d pruned k", i)
		deps := r.zeroDeps()
		applyFloor(&r.floor, paxos.Command{Op: paxos.OpPut, Key: "k"}, deps)
		assert.Equal(t, []uint64{0, 1, 0, 0, 0}, deps, "replica %d's floor of k covers δ", i)
		assert.Positive(t, r.Stats().Pruned)
	}
	nw.Propose(3, put(4, 1, "k", "e"))
	nw.Deliver(nil)
	e := nw.rep(3).inst[3][1]
	require.NotNil(t, e)
	assert.Equal(t, StatusCommitted, e.status)
	assert.Equal(t, uint64(1), e.deps[1], "the new command depends on δ through the floor")
	assert.Equal(t, uint64(1), nw.rep(3).Stats().FastPath, "and still takes the fast path")
}

// A snapshot carries the pruned index with its floor, and restore takes
// both; a floor above the snapshot's collection point is refused.
func TestSnapshotCarriesFloor(t *testing.T) {
	nw := newPruneNet(t, nil)
	for i := 0; i < 10; i++ {
		nw.Propose(i%5, put(uint64(i%5+1), uint64(i/5+1), fmt.Sprint("k", i), "v"))
	}
	nw.Settle(nil, 40)
	r := nw.rep(2)
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
	x.raise(fnv1a("w"), []keyRow{{replica: 1, write: 4, execWrite: 4}})
	x.raise(fnv1a("r"), []keyRow{{replica: 2, read: 7, execRead: 7}})
	require.NotEqual(t, keyBucket("w"), keyBucket("r"))
	require.NotEqual(t, keyBucket("w"), keyBucket("other"))
	require.NotEqual(t, keyBucket("r"), keyBucket("other"))
	deps := func(c paxos.Command) []uint64 {
		d := make([]uint64, 3)
		applyFloor(&x, c, d)
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

// applyFloor raises deps to x's floor of the keys c touches, as attrs does
// for one command: apply with the hashes of c's keys, then allKeys's
// bucket.
func applyFloor(x *indexFloor, c paxos.Command, deps []uint64) {
	var found []foundFacts
	var one [1]string
	if keys := touched(&c, &one); len(keys) != 1 || keys[0] != allKeys {
		for _, k := range keys {
			found = append(found, foundFacts{k: k, h: fnv1a(k)})
		}
	}
	x.applyAll(x.apply(&c, found, deps), deps)
}
