package epaxos

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The index's stored form (keyFacts, inline or in the slab) holds exactly
// the facts of the keyIndex it was packed from, through any sequence of
// updates, including keys moving between the inline form and the slab.
func TestIndexStoredFormKeepsEveryFact(t *testing.T) {
	r, err := NewReplica(paxos.Config{ID: 0, N: 5})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string]*keyIndex{}
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for step := 0; step < 20_000; step++ {
		k := keys[rng.IntN(len(keys))]
		w := want[k]
		if w == nil {
			w = &keyIndex{}
			want[k] = w
		}
		q := paxos.NodeID(rng.IntN(5))
		slot := uint64(rng.IntN(1000) + 1)
		seq := uint64(rng.IntN(50))
		if rng.IntN(500) == 0 {
			seq = 1 << 50 // beyond what fits inline
		}
		if rng.IntN(5000) == 0 {
			slot = 1 << 30 // likewise
		}
		kind := rng.IntN(10)
		apply := func(ki *keyIndex) {
			f := ki.rowFor(q)
			switch {
			case kind < 6: // a write, mostly by the key's first replica
				f.write = max(f.write, slot)
				ki.writeSeq = max(ki.writeSeq, seq)
			case kind < 8: // its execution
				f.execWrite = max(f.execWrite, f.write)
			case kind < 9:
				f.read = max(f.read, slot)
				ki.readSeq = max(ki.readSeq, seq)
			default:
				f.execRead = max(f.execRead, slot)
			}
		}
		apply(w)
		e, ki := r.edit(k)
		apply(ki)
		r.save(e, ki)
		var got keyIndex
		r.expand(indexMap(r)[k], &got)
		require.Equal(t, w.writeSeq, got.writeSeq, "step %d key %s", step, k)
		require.Equal(t, w.readSeq, got.readSeq, "step %d key %s", step, k)
		require.ElementsMatch(t, w.rows, got.rows, "step %d key %s", step, k)
	}
	// The slab holds only keys that need it, reusing freed positions.
	full := 0
	for _, f := range indexMap(r) {
		if f.kind() == factsFull {
			full++
		}
	}
	assert.Equal(t, full, int(r.index.used)-len(r.index.free))
}

// A key written once by one replica, and executed, is stored inline.
func TestIndexWrittenKeyIsInline(t *testing.T) {
	r, err := NewReplica(paxos.Config{ID: 0, N: 5})
	require.NoError(t, err)
	c := paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "v"}
	r.indexCmds(paxos.Instance{Replica: 3, Slot: 7}, []paxos.Command{c}, 2)
	r.noteExecuted(paxos.Instance{Replica: 3, Slot: 7}, &c, false)
	f := indexMap(r)["k"]
	assert.Equal(t, uint64(factsPackedExecuted), f.kind())
	assert.Zero(t, r.index.used)
	e := r.indexEntry(f)
	assert.Equal(t, []uint64{0, 0, 0, 7, 0}, e.Write)
	assert.Equal(t, []uint64{0, 0, 0, 7, 0}, e.ExecWrite)
	assert.Equal(t, uint64(2), e.WriteSeq)
}

// indexMap returns every key's stored facts in r's index.
func indexMap(r *Replica) map[string]keyFacts {
	m := map[string]keyFacts{}
	_ = r.index.each(func(k string, f keyFacts) error {
		m[k] = f
		return nil
	})
	return m
}

// The inline form holds replica ids up to 63 and slots and seqs below
// 2^28; a fact beyond any of those keeps the key in the slab, with every
// fact intact.
func TestIndexInlineLimits(t *testing.T) {
	for _, tc := range []struct {
		replica     paxos.NodeID
		slot, seq   uint64
		inline      bool
		description string
	}{
		{63, factsSlotMax, factsSeqMax, true, "every field at its largest"},
		{64, 1, 1, false, "replica id above 63"},
		{0, factsSlotMax + 1, 1, false, "slot of 2^28"},
		{0, 1, factsSeqMax + 1, false, "seq of 2^28"},
	} {
		ki := &keyIndex{writeSeq: tc.seq, rows: []keyRow{{replica: tc.replica, write: tc.slot, execWrite: tc.slot}}}
		f, ok := packInline(ki)
		require.Equal(t, tc.inline, ok, tc.description)
		if !ok {
			continue
		}
		assert.Equal(t, uint64(factsPackedExecuted), f.kind(), tc.description)
		var got keyIndex
		expandInline(f, &got)
		assert.Equal(t, *ki, got, tc.description)
	}
}

// indexCmds and noteExecuted store what expanding a key's facts, updating
// them and packing them again stores (their shortcuts for a new key
// written and for an inline write executed included): random writes,
// reads and executions of a few keys by a few replicas, with slots and
// seqs now and then beyond the inline form.
func TestIndexUpdatesMatchExpandAndPack(t *testing.T) {
	r, err := NewReplica(paxos.Config{ID: 0, N: 5})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[string]*keyIndex{}
	keys := []string{"a", "b", "c", "d", "e", "f"}
	for step := 0; step < 50_000; step++ {
		if rng.IntN(2000) == 0 { // start afresh: new keys again
			r, err = NewReplica(paxos.Config{ID: 0, N: 5})
			require.NoError(t, err)
			want = map[string]*keyIndex{}
		}
		k := keys[rng.IntN(len(keys))]
		w := want[k]
		if w == nil {
			w = &keyIndex{}
			want[k] = w
		}
		q := paxos.NodeID(rng.IntN(3))
		id := paxos.Instance{Replica: q, Slot: uint64(rng.IntN(20) + 1)}
		if rng.IntN(3000) == 0 {
			id.Slot = factsSlotMax + 1
		}
		seq := uint64(rng.IntN(30))
		if rng.IntN(3000) == 0 {
			seq = factsSeqMax + 1
		}
		c := paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: k, Value: "v"}
		if rng.IntN(5) == 0 {
			c.Op, c.Value = paxos.OpGet, ""
		}
		f := w.rowFor(q)
		if rng.IntN(2) == 0 {
			r.indexCmds(id, []paxos.Command{c}, seq)
			if c.Writes() {
				f.write, w.writeSeq = max(f.write, id.Slot), max(w.writeSeq, seq)
			} else {
				f.read, w.readSeq = max(f.read, id.Slot), max(w.readSeq, seq)
			}
		} else {
			r.noteExecuted(id, &c, false)
			if c.Writes() {
				f.execWrite = max(f.execWrite, id.Slot)
			} else {
				f.execRead = max(f.execRead, id.Slot)
			}
		}
		stored := indexMap(r)[k]
		inline, fits := packInline(w)
		require.Equal(t, fits, stored.kind() != factsFull, "step %d key %s", step, k)
		if fits {
			require.Equal(t, inline, stored, "step %d key %s", step, k)
		}
		var got keyIndex
		r.expand(stored, &got)
		require.Equal(t, w.writeSeq, got.writeSeq, "step %d key %s", step, k)
		require.Equal(t, w.readSeq, got.readSeq, "step %d key %s", step, k)
		require.ElementsMatch(t, w.rows, got.rows, "step %d key %s", step, k)
	}
}

// indexAddFound, reusing the facts attrs found, leaves the index as
// indexAdd finding them again does, batch after batch: with a key read
// then written in one batch, written twice, keys sharing a shard, an
// application command naming keys and one naming none (every key).
func TestIndexAddFoundIsIndexAdd(t *testing.T) {
	var sameShard []string // two keys of one shard
	for i := 0; len(sameShard) < 2; i++ {
		if k := fmt.Sprintf("s%d", i); indexShardOf(k) == indexShardOf("s0") {
			sameShard = append(sameShard, k)
		}
	}
	get := func(k string) paxos.Command { return paxos.Command{Client: 9, Seq: 1, Op: paxos.OpGet, Key: k} }
	batches := [][]paxos.Command{
		{put(1, 1, "a", "x"), get("b")},
		{get("a"), put(1, 2, "a", "y"), put(1, 3, "b", "z"), put(1, 4, "b", "w")},
		{put(1, 5, sameShard[0], "x"), get(sameShard[1]), put(1, 6, sameShard[1], "y"), get(sameShard[0])},
		{{Op: paxos.OpApp, Keys: []string{"a", "c", "a"}}, get("c"), put(1, 7, "d", "x")},
		{{Op: paxos.OpApp}, put(1, 8, "a", "x"), get("e")},
		{put(1, 9, "a", "x"), {Op: paxos.OpNop}, get("a")},
	}
	rs := make([]*Replica, 2)
	for i := range rs {
		r, err := NewReplica(paxos.Config{ID: 0, N: 3})
		require.NoError(t, err)
		rs[i] = r
	}
	for b, cmds := range batches {
		for i, r := range rs {
			// Replica 1's instances, as PreAccepts bring them, then one
			// of replica 2 with the same commands.
			for _, id := range []paxos.Instance{{Replica: 1, Slot: uint64(b + 1)}, {Replica: 2, Slot: uint64(b + 1)}} {
				in := &instance{id: id, cmds: cmds}
				in.seq, in.deps = r.attrs(id, cmds, 1, make([]uint64, 3), nil)
				if i == 0 {
					r.indexAddFound(in)
				} else {
					r.indexAdd(in)
				}
			}
		}
		for _, k := range rs[1].index.sortedKeys() {
			var want, got keyIndex
			f, _ := rs[1].index.get(k)
			rs[1].expand(f, &want)
			g, ok := rs[0].index.get(k)
			require.True(t, ok, "batch %d: key %q indexed", b, k)
			rs[0].expand(g, &got)
			assert.Equal(t, want, got, "batch %d: key %q", b, k)
		}
		assert.Equal(t, rs[1].index.len(), rs[0].index.len(), "batch %d: keys", b)
	}
}
