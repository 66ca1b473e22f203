package epaxos

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
)

// snapshotFacts returns every key's facts as an index snapshot holds them.
func snapshotFacts(t *testing.T, s IndexSnapshot) map[string]keyIndex {
	out := map[string]keyIndex{}
	require.NoError(t, s.each(func(k string, ki *keyIndex) error {
		out[k] = keyIndex{writeSeq: ki.writeSeq, readSeq: ki.readSeq, rows: append([]keyRow(nil), ki.rows...)}
		return nil
	}))
	return out
}

// Taking an index snapshot copies none of the index: the snapshot shares
// every shard and slab chunk, and the index copies a part only when it
// next writes it, so the snapshot never changes afterwards.
func TestIndexSnapshotSharesCopyOnWrite(t *testing.T) {
	r, err := NewReplica(paxos.Config{ID: 0, N: 5})
	require.NoError(t, err)
	randomIndex(r, 1)
	require.NotZero(t, r.index.used, "the random index has keys in the slab")
	snap := r.indexSnapshot()
	for i := range r.index.shards {
		assert.Same(t, r.index.shards[i], snap.idx.shards[i], "shard %d is shared, not copied", i)
	}
	for i := range r.index.chunks {
		assert.Same(t, r.index.chunks[i], snap.idx.chunks[i], "slab chunk %d is shared, not copied", i)
	}
	before := snapshotFacts(t, snap)
	require.Equal(t, facts(r), factsOf(r, before))
	randomIndex(r, 2) // rewrites most keys, inline and in the slab
	assert.Equal(t, before, snapshotFacts(t, snap), "a snapshot never changes once taken")
	assert.NotEqual(t, before, snapshotFacts(t, r.indexSnapshot()))
}

// factsOf widens a snapshot's facts to one row per replica, as facts does.
func factsOf(r *Replica, in map[string]keyIndex) map[string]keyIndex {
	out := map[string]keyIndex{}
	for k, ki := range in {
		rows := make([]keyRow, r.n)
		for q := range rows {
			rows[q] = ki.row(paxos.NodeID(q))
		}
		out[k] = keyIndex{writeSeq: ki.writeSeq, readSeq: ki.readSeq, rows: rows}
	}
	return out
}

// A snapshot may be encoded on another goroutine while the replica goes on
// editing its index (run with -race).
func TestIndexSnapshotEncodesWhileIndexChanges(t *testing.T) {
	r, err := NewReplica(paxos.Config{ID: 0, N: 5})
	require.NoError(t, err)
	randomIndex(r, 3)
	snap := r.indexSnapshot()
	want, err := msgpack.Marshal(snap)
	require.NoError(t, err)
	done := make(chan []byte)
	go func() {
		b, _ := msgpack.Marshal(snap)
		done <- b
	}()
	randomIndex(r, 4)
	got := <-done
	var a, b IndexSnapshot
	require.NoError(t, msgpack.Unmarshal(want, &a))
	require.NoError(t, msgpack.Unmarshal(got, &b))
	assert.Equal(t, snapshotFacts(t, a), snapshotFacts(t, b))
	assert.Equal(t, snapshotFacts(t, snap), snapshotFacts(t, b))
}

// prune keeps exactly the keys drop spares, with their facts, whichever
// way it treats a shard (deleting in place, rebuilding a large shard,
// copying one a snapshot shares, dropping a shard whole).
func TestPruneKeepsWhatDropSpares(t *testing.T) {
	const large = 300 // keys per shard, above the 256 from which prune rebuilds a shard it mostly empties
	cases := []struct{ perShard, keepOneIn int }{
		{8, 0}, {8, 1}, {8, 3}, // small shards: dropped whole, kept, deleted from
		{large, 2}, {large, 10}, // large ones: deleted from, rebuilt
	}
	for _, c := range cases {
		for _, share := range []bool{false, true} {
			perShard, keepOneIn := c.perShard, c.keepOneIn
			x := newFactsIndex()
			want := map[string]keyFacts{}
			spare := map[string]bool{}
			for i := 0; i < perShard*indexShards; i++ {
				k := fmt.Sprintf("key-%d", i)
				f := keyFacts(uint64(i+1) << factsSlotShift)
				x.set(k, f)
				want[k] = f
				spare[k] = keepOneIn > 0 && i%keepOneIn == 0
			}
			if share {
				x.share()
			}
			asked := map[string]int{}
			n := x.prune(func(k string, _ uint32, f keyFacts) bool {
				asked[k]++
				return !spare[k]
			})
			dropped := 0
			for k := range want {
				if asked[k] != 1 {
					t.Errorf("drop asked %d times for %s; want once", asked[k], k)
				}
				if !spare[k] {
					delete(want, k)
					dropped++
				}
			}
			name := fmt.Sprintf("%d per shard, shared %v, keep one in %d", perShard, share, keepOneIn)
			assert.Equal(t, dropped, n, name)
			got := map[string]keyFacts{}
			require.NoError(t, x.each(func(k string, f keyFacts) error {
				got[k] = f
				return nil
			}))
			assert.Equal(t, want, got, name)
			assert.Equal(t, len(want), x.len(), name)
			for k, f := range want {
				if g, ok := x.get(k); !ok || g != f {
					t.Errorf("%s: key %s has %v, %v; want %v", name, k, g, ok, f)
				}
			}
		}
	}
}

// benchIndex is an index of n one-write keys, as many commands on keys of
// their own leave it.
func benchIndex(n int) factsIndex {
	x := newFactsIndex()
	for i := 0; i < n; i++ {
		x.set(fmt.Sprintf("u%d", i), keyFacts(uint64(i+1)<<factsSlotShift))
	}
	return x
}

// BenchmarkIndexWriteAfterShare measures the first write to every shard
// after a snapshot shared them: each shard is copied once.
func BenchmarkIndexWriteAfterShare(b *testing.B) {
	x := benchIndex(64 * indexShards)
	keys := make([]string, indexShards) // one key per shard
	for i, found := 0, 0; found < indexShards; i++ {
		k := fmt.Sprintf("u%d", i)
		if s := indexShardOf(k); keys[s] == "" {
			keys[s] = k
			found++
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x.share()
		for _, k := range keys {
			x.set(k, keyFacts(uint64(i+2)<<factsSlotShift))
		}
	}
}

// BenchmarkIndexPrune measures pruning an index of 64 keys per shard
// down to keepOneIn of them, its shards owned or shared with a snapshot.
func BenchmarkIndexPrune(b *testing.B) {
	for _, c := range []struct {
		perShard, keepOneIn int
		share               bool
	}{{64, 2, false}, {64, 2, true}, {512, 8, false}, {512, 8, true}} {
		b.Run(fmt.Sprintf("keys=%d/keep=1in%d/shared=%v", c.perShard*indexShards, c.keepOneIn, c.share), func(b *testing.B) {
			src := benchIndex(c.perShard * indexShards)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				x := src.share()
				x.owner = new(uint64)
				if !c.share { // an owned copy, as an index nobody shares
					for j, sh := range x.shards {
						if sh != nil {
							x.shards[j] = sh.clone(x.owner)
						}
					}
				}
				b.StartTimer()
				x.prune(func(_ string, _ uint32, f keyFacts) bool { return f.inlineWrite()%uint64(c.keepOneIn) != 0 })
			}
		})
	}
}

// TestFactsTableMatchesMap drives the index's shards (factstable.go)
// through random new keys, rewrites, snapshots and prunes, and compares
// them after each step with a Go map holding what they should: every key
// found with its facts, absent keys not found, the key count, and each
// key visited once by each.
func TestFactsTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := newFactsIndex()
	want := map[string]keyFacts{}
	var snaps []*factsIndex
	var snapWant []map[string]keyFacts
	for step := 0; step < 40_000; step++ {
		switch r := rng.IntN(1000); {
		case r < 700: // a key, new or not
			k := fmt.Sprintf("k%d", rng.IntN(8000))
			f := keyFacts(rng.Uint64N(1<<40)) &^ 3
			x.set(k, f)
			want[k] = f
		case r < 703: // a snapshot, checked later
			snaps = append(snaps, x.share())
			snapWant = append(snapWant, maps.Clone(want))
		case r < 710: // drop about a share of the keys
			cut := rng.IntN(8)
			n := x.prune(func(k string, h uint32, f keyFacts) bool {
				require.Equal(t, fnv1a(k), h, "hash of %s", k)
				return int(f>>2)%8 <= cut
			})
			dropped := 0
			for k, f := range want {
				if int(f>>2)%8 <= cut {
					delete(want, k)
					dropped++
				}
			}
			require.Equal(t, dropped, n, "step %d", step)
		default: // a lookup
			k := fmt.Sprintf("k%d", rng.IntN(8000))
			f, ok := x.get(k)
			g, in := want[k]
			require.Equal(t, in, ok, "step %d: key %s", step, k)
			require.Equal(t, g, f, "step %d: key %s", step, k)
		}
	}
	check := func(x *factsIndex, want map[string]keyFacts, name string) {
		got := map[string]keyFacts{}
		require.NoError(t, x.each(func(k string, f keyFacts) error {
			_, seen := got[k]
			require.False(t, seen, "%s: key %s visited twice", name, k)
			got[k] = f
			return nil
		}))
		require.Equal(t, want, got, name)
		require.Equal(t, len(want), x.len(), name)
		for k, f := range want {
			g, ok := x.get(k)
			require.True(t, ok && g == f, "%s: key %s", name, k)
		}
	}
	check(&x, want, "index")
	require.NotEmpty(t, snaps)
	for i, s := range snaps {
		check(s, snapWant[i], fmt.Sprintf("snapshot %d", i))
	}
}

// fnv1a, four bytes per pass, is the FNV-1a hash of the standard library
// for keys of every length up to 40 (each remainder of the unrolled loop)
// and of random bytes: shards, table slots and floor buckets depend on it.
func TestFNV1aMatchesStandardLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for n := 0; n <= 40; n++ {
		for range 20 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			want := fnv.New32a()
			_, _ = want.Write(b)
			require.Equal(t, want.Sum32(), fnv1a(string(b)), "key %q", b)
		}
	}
	assert.Equal(t, uint32(2166136261), fnv1a(""), "offset basis")
}
