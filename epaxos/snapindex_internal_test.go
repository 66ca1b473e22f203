package epaxos

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// randomIndex fills r's index with random facts over 300 keys: most
// written once by one replica (inline), the rest read, written by several
// replicas or with huge seqs (in the slab).
func randomIndex(r *Replica, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for step := 0; step < 3000; step++ {
		k := fmt.Sprintf("key-%d", rng.IntN(300))
		e, ki := r.edit(k)
		f := ki.rowFor(paxos.NodeID(rng.IntN(r.n)))
		slot, seq := uint64(rng.IntN(1<<20)+1), uint64(rng.IntN(300))
		if rng.IntN(100) == 0 {
			seq = 1 << 50
		}
		switch kind := rng.IntN(10); {
		case kind < 6:
			f.write, ki.writeSeq = max(f.write, slot), max(ki.writeSeq, seq)
		case kind < 8:
			f.execWrite = max(f.execWrite, f.write)
		case kind < 9:
			f.read, ki.readSeq = max(f.read, slot), max(ki.readSeq, seq)
		default:
			f.execRead = max(f.execRead, slot)
		}
		r.save(e, ki)
	}
}

// facts returns every key's facts in r's index, one row per replica
// (zero when it has none).
func facts(r *Replica) map[string]keyIndex {
	out := map[string]keyIndex{}
	for k, f := range indexMap(r) {
		var ki keyIndex
		r.expand(f, &ki)
		rows := make([]keyRow, r.n)
		for q := range rows {
			rows[q].replica = paxos.NodeID(q)
		}
		for _, row := range ki.rows {
			rows[row.replica] = row
		}
		ki.rows = rows
		out[k] = ki
	}
	return out
}

// restoredFrom encodes and decodes snap and restores a 5-replica cluster's
// replica 0 from it.
func restoredFrom(t *testing.T, snap SnapshotRecord) (*Replica, SnapshotRecord) {
	t.Helper()
	b, err := paxos.Encode(snap)
	require.NoError(t, err)
	v, err := paxos.Decode(b)
	require.NoError(t, err)
	r, err := NewReplica(paxos.Config{ID: 0, N: 5, Restore: &paxos.Persisted{Snapshot: v}})
	require.NoError(t, err)
	return r, v.(SnapshotRecord)
}

// The index a snapshot carries restores to the same facts after encoding
// and decoding, and later changes to the replica's index leave the
// snapshot as it was.
func TestIndexSnapshotRoundTrip(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		r, err := NewReplica(paxos.Config{ID: 0, N: 5})
		require.NoError(t, err)
		randomIndex(r, seed)
		want := facts(r)
		snap := r.snapshot()
		randomIndex(r, seed+100) // must not reach the snapshot
		got, v := restoredFrom(t, snap)
		assert.Equal(t, want, facts(got), "seed %d", seed)
		assert.Equal(t, len(want), v.Keys.Len())
	}
}

// A snapshot written before the index had its own encoding (Index, a map
// of IndexEntry) still restores to the same facts.
func TestIndexSnapshotReadsLegacyIndex(t *testing.T) {
	r, err := NewReplica(paxos.Config{ID: 0, N: 5})
	require.NoError(t, err)
	randomIndex(r, 3)
	snap := r.snapshot()
	snap.Keys = IndexSnapshot{}
	snap.Index = map[string]IndexEntry{}
	for k, f := range indexMap(r) {
		snap.Index[k] = r.indexEntry(f)
	}
	got, _ := restoredFrom(t, snap)
	assert.Equal(t, facts(r), facts(got))
}

// A snapshot whose index names a replica outside the cluster is refused.
func TestIndexSnapshotRefusesUnknownReplica(t *testing.T) {
	r, err := NewReplica(paxos.Config{ID: 0, N: 7})
	require.NoError(t, err)
	e, ki := r.edit("k")
	ki.rowFor(6).write = 3
	r.save(e, ki)
	b, err := paxos.Encode(r.snapshot())
	require.NoError(t, err)
	v, err := paxos.Decode(b)
	require.NoError(t, err)
	snap := v.(SnapshotRecord)
	snap.ExecUpTo, snap.GCUpTo = snap.ExecUpTo[:5], snap.GCUpTo[:5]
	_, err = NewReplica(paxos.Config{ID: 0, N: 5, Restore: &paxos.Persisted{Snapshot: snap}})
	assert.ErrorContains(t, err, "names replica 6")
}
