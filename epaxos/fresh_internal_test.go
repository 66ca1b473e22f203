package epaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// An instance whose indexAdd stored each key as a new key's facts is
// executed without looking its keys up again while the index rewrote no
// facts since (instance.freshAt); once any facts were rewritten, or above
// the executed prefix, or with a key written twice, execution records its
// writes in the index as before.
func TestFreshInstanceExecution(t *testing.T) {
	r, err := NewReplica(paxos.Config{ID: 0, N: 3})
	require.NoError(t, err)
	seq := uint64(0)
	put := func(k string) paxos.Command {
		seq++
		return paxos.Command{Client: 1, Seq: seq, Op: paxos.OpPut, Key: k, Value: "v"}
	}
	add := func(q paxos.NodeID, s uint64, cmds ...paxos.Command) *instance {
		in := &instance{id: paxos.Instance{Replica: q, Slot: s}, cmds: cmds, seq: 1, deps: r.zeroDeps(), status: StatusCommitted}
		r.inst[q][s] = in
		r.indexAdd(in)
		return in
	}
	entry := func(k string) IndexEntry {
		f, ok := r.index.get(k)
		require.True(t, ok, k)
		return r.indexEntry(f)
	}

	// New keys, executed next above the prefix: no index write, and the
	// prefix marks them executed.
	x := add(1, 1, put("a"), put("b"))
	assert.NotZero(t, x.freshAt)
	rewrites := r.index.rewrites
	r.apply(x)
	assert.Equal(t, rewrites, r.index.rewrites)
	assert.Equal(t, []uint64{0, 1, 0}, entry("a").ExecWrite)
	assert.Equal(t, []uint64{0, 1, 0}, entry("b").ExecWrite)

	// Another replica's write of c after y's: the facts of c were
	// rewritten, so executing y records its write in them.
	y := add(1, 2, put("c"))
	assert.NotZero(t, y.freshAt)
	add(2, 1, put("c"))
	assert.NotEqual(t, y.freshAt, r.index.rewrites+1)
	r.apply(y)
	assert.Equal(t, []uint64{0, 2, 0}, entry("c").ExecWrite)

	// Above the prefix (slot 3 not executed): marked in the index.
	w := add(1, 4, put("d"))
	assert.Equal(t, w.freshAt, r.index.rewrites+1)
	r.apply(w)
	f, _ := r.index.get("d")
	assert.Equal(t, uint64(factsPackedExecuted), f.kind())

	// A key written twice by one batch, or written again later, is not
	// fresh; nor is a Nop.
	assert.Zero(t, add(1, 3, put("e"), put("e")).freshAt)
	assert.Zero(t, add(1, 5, put("d")).freshAt)
	assert.Zero(t, add(1, 6, paxos.Command{Op: paxos.OpNop}).freshAt)

	// Pruning that drops keys counts as a rewrite.
	rewrites = r.index.rewrites
	r.index.prune(func(k string, _ uint32, _ keyFacts) bool { return k == "a" })
	assert.Equal(t, rewrites+1, r.index.rewrites)
}
