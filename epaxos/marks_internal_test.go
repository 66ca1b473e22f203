package epaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// A write executed as the next slot of its replica's executed prefix is
// marked executed by the prefix, with no write to the index; one executed
// above the prefix is marked in the index; a slot of the prefix executed as
// a Nop, or facts packed with their write in the prefix but not executed,
// are not marked. Every reader (expand, a snapshot) sees the marks the
// index stored before the prefix marked any.
func TestIndexPrefixMarks(t *testing.T) {
	r, err := NewReplica(paxos.Config{ID: 0, N: 3})
	require.NoError(t, err)
	put := func(k string) paxos.Command {
		return paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: k, Value: "v"}
	}
	entry := func(k string) IndexEntry {
		f, ok := r.index.get(k)
		require.True(t, ok, k)
		return r.indexEntry(f)
	}

	// Slot 1 of replica 1, next above the prefix: no write, marked by it.
	r.indexCmds(paxos.Instance{Replica: 1, Slot: 1}, []paxos.Command{put("a")}, 1)
	r.noteExecuted(paxos.Instance{Replica: 1, Slot: 1}, new(put("a")), true)
	f, _ := r.index.get("a")
	assert.Equal(t, uint64(factsPacked), f.kind())
	assert.Nil(t, entry("a").ExecWrite) // slot 1 not yet in the prefix
	r.execUpTo[1] = 1
	assert.Equal(t, []uint64{0, 1, 0}, entry("a").ExecWrite)

	// Slot 3 executes above the prefix: marked in the index.
	r.indexCmds(paxos.Instance{Replica: 1, Slot: 3}, []paxos.Command{put("c")}, 1)
	r.noteExecuted(paxos.Instance{Replica: 1, Slot: 3}, new(put("c")), false)
	f, _ = r.index.get("c")
	assert.Equal(t, uint64(factsPackedExecuted), f.kind())

	// Slot 2 held a write of b, and executes as a Nop: b's write never
	// executed, though slot 2 is in the prefix.
	r.indexCmds(paxos.Instance{Replica: 1, Slot: 2}, []paxos.Command{put("b")}, 1)
	r.noteNop(1, 2)
	r.execUpTo[1] = 3
	assert.Nil(t, entry("b").ExecWrite)
	assert.Equal(t, []uint64{0, 3, 0}, entry("c").ExecWrite)

	// Facts packed with their write in the prefix, not executed (as a
	// restart rebuilds them), are marked unexecuted; executing the write
	// marks them executed.
	r.index.set("d", r.pack(&keyIndex{writeSeq: 1, rows: []keyRow{{replica: 2, write: 4}}}, 0))
	r.execUpTo[2] = 4
	r.index.set("e", r.pack(&keyIndex{writeSeq: 1, rows: []keyRow{{replica: 2, write: 4}}}, 0))
	f, _ = r.index.get("e")
	assert.Equal(t, uint64(factsPackedUnexecuted), f.kind())
	assert.Nil(t, entry("e").ExecWrite)
	r.noteExecuted(paxos.Instance{Replica: 2, Slot: 4}, new(put("e")), true)
	f, _ = r.index.get("e")
	assert.Equal(t, uint64(factsPackedExecuted), f.kind())

	// A snapshot keeps the marks of when it was taken.
	snap := r.indexSnapshot()
	r.execUpTo[2] = 5
	facts := snapshotFacts(t, snap)
	assert.Equal(t, []keyRow{{replica: 1, write: 1, execWrite: 1}}, facts["a"].rows)
	assert.Equal(t, []keyRow{{replica: 1, write: 2}}, facts["b"].rows)
	assert.Equal(t, []keyRow{{replica: 1, write: 3, execWrite: 3}}, facts["c"].rows)
	assert.Equal(t, []keyRow{{replica: 2, write: 4, execWrite: 4}}, facts["d"].rows) // packed before slot 4 was in the prefix
	assert.Equal(t, []keyRow{{replica: 2, write: 4, execWrite: 4}}, facts["e"].rows)
}

// Pruning the index up to a slot forgets the Nops up to it: facts packed
// afterwards with such a write, not executed, are marked unexecuted.
func TestPruneForgetsNops(t *testing.T) {
	r, err := NewReplica(paxos.Config{ID: 0, N: 3})
	require.NoError(t, err)
	r.noteNop(1, 2)
	r.noteNop(1, 5)
	r.execUpTo[1] = 5
	r.pruneIndex([]uint64{0, 2, 0})
	assert.Equal(t, []uint64{5}, r.nops[1])
	f := r.pack(&keyIndex{writeSeq: 1, rows: []keyRow{{replica: 1, write: 2}}}, 0)
	assert.Equal(t, uint64(factsPackedUnexecuted), f.kind())
	f = r.pack(&keyIndex{writeSeq: 1, rows: []keyRow{{replica: 1, write: 5}}}, 0)
	assert.Equal(t, uint64(factsPacked), f.kind()) // slot 5 a Nop: not marked by the prefix
}
