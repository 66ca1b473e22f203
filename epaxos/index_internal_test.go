package epaxos

import (
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
	r.noteExecuted(paxos.Instance{Replica: 3, Slot: 7}, c)
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
			r.noteExecuted(id, c)
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
