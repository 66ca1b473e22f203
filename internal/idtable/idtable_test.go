package idtable

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTableMatchesMap churns a Table with adds, updates and deletes of ids
// from a small space (long probe runs that wrap around the table, holes
// refilled by backward shifts) beside a map, and compares every lookup,
// the count, and now and then every entry All visits.
func TestTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	var tab Table[uint64]
	ref := map[ID]uint64{}
	for step := 1; step <= 200_000; step++ {
		id := ID{Client: uint64(rng.IntN(8)), Seq: uint64(rng.IntN(64))}
		i := tab.Find(id)
		v, ok := ref[id]
		require.Equal(t, v, tab.At(i), "step %d: %v", step, id)
		require.Equal(t, v, tab.Get(id), "step %d: %v", step, id)
		switch {
		case ok && rng.IntN(2) == 0:
			tab.Delete(i)
			delete(ref, id)
		case rng.IntN(2) == 0:
			tab.SetAt(i, id, uint64(step))
			ref[id] = uint64(step)
		default:
			tab.Set(id, uint64(step))
			ref[id] = uint64(step)
		}
		require.Equal(t, len(ref), tab.Len())
		if step%1000 == 0 {
			seen := map[ID]uint64{}
			tab.All(func(id ID, v uint64) { seen[id] = v })
			require.Equal(t, ref, seen, "step %d", step)
		}
	}
	tab.Clear()
	require.Zero(t, tab.Len())
	require.Zero(t, tab.Get(ID{Client: 1, Seq: 1}))
}

// TestTablePointers stores pointers (nil marks an empty slot), as the
// node's table of waiting requests does, across growth.
func TestTablePointers(t *testing.T) {
	var tab Table[*int]
	vals := make([]int, 1000)
	for i := range vals {
		vals[i] = i
		tab.Set(ID{Client: uint64(i % 7), Seq: uint64(i)}, &vals[i])
	}
	require.Equal(t, 1000, tab.Len())
	for i := range vals {
		p := tab.Get(ID{Client: uint64(i % 7), Seq: uint64(i)})
		require.NotNil(t, p)
		require.Equal(t, i, *p)
	}
	require.Nil(t, tab.Get(ID{Client: 8, Seq: 1}))
}

// TestTableShrinks fills a table to a burst's size, then deletes the ids
// in random order beside a map: every lookup stays right while the table
// halves, and an emptied table is back to minShrink slots.
func TestTableShrinks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 11))
	var tab Table[uint64]
	ref := map[ID]uint64{}
	var ids []ID
	for i := 1; i <= 40_000; i++ {
		id := ID{Client: uint64(rng.IntN(50)), Seq: uint64(i)}
		tab.Set(id, uint64(i))
		ref[id] = uint64(i)
		ids = append(ids, id)
	}
	peak := len(tab.slots)
	require.GreaterOrEqual(t, peak, 2*40_000)
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	for k, id := range ids {
		i := tab.Find(id)
		require.Equal(t, ref[id], tab.At(i), "delete %d: %v", k, id)
		tab.Delete(i)
		delete(ref, id)
		require.Equal(t, len(ref), tab.Len())
		require.LessOrEqual(t, 2*tab.Len(), len(tab.slots), "delete %d: more than half full", k)
		if k%997 == 0 {
			for _, other := range ids[k+1 : min(k+50, len(ids))] {
				require.Equal(t, ref[other], tab.Get(other), "after delete %d: %v", k, other)
			}
		}
	}
	require.Equal(t, minShrink, len(tab.slots), "an emptied table keeps %d slots, not its peak %d", minShrink, peak)
}

// TestTableKeepSize: a table told to keep its size does not shrink as its
// ids leave, and stays right; refilled to the same peak, it does not grow.
func TestTableKeepSize(t *testing.T) {
	var tab Table[uint64]
	tab.KeepSize()
	for round := range 3 {
		for i := 1; i <= 5000; i++ {
			tab.Set(ID{Client: uint64(round + 1), Seq: uint64(i)}, uint64(i))
		}
		peak := len(tab.slots)
		require.GreaterOrEqual(t, peak, 2*5000)
		for i := 1; i <= 5000; i++ {
			id := ID{Client: uint64(round + 1), Seq: uint64(i)}
			j := tab.Find(id)
			require.Equal(t, uint64(i), tab.At(j))
			tab.Delete(j)
		}
		require.Equal(t, 0, tab.Len())
		require.Equal(t, peak, len(tab.slots), "round %d: an emptied table that keeps its size has %d slots, not its peak %d", round, len(tab.slots), peak)
	}
}

// BenchmarkChurn is a node's pattern: each request's id is looked up
// (a miss), added, and later deleted, with about 1024 in the table.
func BenchmarkChurn(b *testing.B) {
	var tab Table[uint64]
	for i := 0; i < b.N; i++ {
		id := ID{Client: uint64(i%1024 + 1), Seq: uint64(i/1024 + 1)}
		j := tab.Find(id)
		tab.SetAt(j, id, 1)
		if i >= 1024 {
			old := ID{Client: uint64((i-1024)%1024 + 1), Seq: uint64((i-1024)/1024 + 1)}
			tab.Delete(tab.Find(old))
		}
	}
}

// BenchmarkChurnMap is BenchmarkChurn with a Go map, for comparison.
func BenchmarkChurnMap(b *testing.B) {
	m := map[ID]uint64{}
	for i := 0; i < b.N; i++ {
		id := ID{Client: uint64(i%1024 + 1), Seq: uint64(i/1024 + 1)}
		if _, ok := m[id]; !ok {
			m[id] = 1
		}
		if i >= 1024 {
			delete(m, ID{Client: uint64((i-1024)%1024 + 1), Seq: uint64((i-1024)/1024 + 1)})
		}
	}
}
