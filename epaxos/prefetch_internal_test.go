package epaxos

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// TestIndexPrefetchReadsTheSlotLookupProbesFirst ties factsIndex.prefetch
// to lookup: for a key the index holds at the first slot its probe reads
// (most keys, with linear probing), prefetch reads that key's own slot. It
// skips commands that name no key and shards placed by slotHash, and
// changes nothing.
func TestIndexPrefetchReadsTheSlotLookupProbesFirst(t *testing.T) {
	x := newFactsIndex()
	const n = 5000
	for i := range n {
		k := "k" + strconv.Itoa(i)
		_, ok, h := x.find(k)
		require.False(t, ok)
		x.put(k, h, keyFacts(i+1), true)
	}
	home := 0
	for i := range n {
		k := "k" + strconv.Itoa(i)
		h := fnv1a(k)
		sh := x.shards[shardOfHash(h)]
		e := sh.lookup(k, sh.slotOf(k, h))
		require.GreaterOrEqual(t, e, 0, k)
		if v, _ := x.prefetch([]paxos.Command{{Op: paxos.OpGet, Key: k}}, nil); int(uint32(v))-1 == e {
			home++
		}
	}
	require.Greater(t, home, n/2, "prefetch read the key's own slot for only %d of %d keys", home, n)
	sum, hs := x.prefetch([]paxos.Command{{Op: paxos.OpNop, Key: "k1"}, {Op: paxos.OpApp, Key: "k2"}, {Op: paxos.OpPut, Key: "k3"}}, []uint32{7})
	require.Equal(t, []uint32{7, 0, 0, fnv1a("k3")}, hs, "the hashes appended, one per command")
	_, _, e3 := x.find("k3")
	want, _ := x.prefetch([]paxos.Command{{Op: paxos.OpPut, Key: "k3"}}, nil)
	require.Equal(t, want, sum, "only k3 read")
	require.Equal(t, fnv1a("k3"), e3)

	h := fnv1a("k1")
	sh := x.shards[shardOfHash(h)]
	sh.seeded = true // as insert switches a shard
	for e := range sh.entries {
		sh.entries[e].s = slotHash(sh.entries[e].k)
	}
	sh.resize(len(sh.slots))
	sum, _ = x.prefetch([]paxos.Command{{Op: paxos.OpPut, Key: "k1"}}, nil)
	require.Zero(t, sum, "prefetch read a seeded shard")
	for i := range n {
		f, ok := x.get("k" + strconv.Itoa(i))
		require.True(t, ok)
		require.Equal(t, keyFacts(i+1), f)
	}
}
