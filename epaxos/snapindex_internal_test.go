package epaxos

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

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

// appendIndexEntry writes the bytes msgpack.Encoder's methods write for an
// entry, across every size class of key, array and integer.
func TestIndexEntryBytesMatchEncoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	edges := []uint64{0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, 1<<64 - 1}
	num := func() uint64 {
		if rng.IntN(2) == 0 {
			return edges[rng.IntN(len(edges))]
		}
		return rng.Uint64() >> rng.IntN(64)
	}
	for i := 0; i < 1000; i++ {
		key := strings.Repeat("k", []int{0, 1, 31, 32, 255, 256, 65535, 65536}[rng.IntN(8)])
		ki := keyIndex{writeSeq: num(), readSeq: num()}
		rows := rng.IntN(4) // arrays of up to 15 numbers, then 16 or more
		switch i {
		case 998:
			rows = 13099 // 65497 numbers: the largest 16-bit array length class
		case 999:
			rows = 13107 // 65537 numbers: a 32-bit array length
		}
		for len(ki.rows) < rows {
			ki.rows = append(ki.rows, keyRow{replica: paxos.NodeID(rng.IntN(64)), write: num(), read: num(), execWrite: num(), execRead: num()})
		}
		var want bytes.Buffer
		e := msgpack.NewEncoder(&want)
		require.NoError(t, e.EncodeString(key))
		require.NoError(t, e.EncodeArrayLen(2+5*len(ki.rows)))
		for _, v := range []uint64{ki.writeSeq, ki.readSeq} {
			require.NoError(t, e.EncodeUint(v))
		}
		for _, f := range ki.rows {
			for _, v := range []uint64{uint64(f.replica), f.write, f.read, f.execWrite, f.execRead} {
				require.NoError(t, e.EncodeUint(v))
			}
		}
		require.Equal(t, want.Bytes(), appendIndexEntry(nil, key, &ki), "key of %d bytes, %d rows", len(key), len(ki.rows))
	}
}
