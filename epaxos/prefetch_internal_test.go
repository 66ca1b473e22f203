package epaxos

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// TestIndexPrefetchReadsTheSlotLookupProbesFirst: the slot prefetch reads
// for a key (home) holds most keys' own entries, with linear probing.
// Prefetch hashes each command's key, skips commands that name no key and
// the slots of shards placed by slotHash, and changes nothing.
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
		if int(uint32(sh.slots[sh.home(sh.slotOf(k, h))]))-1 == e {
			home++
		}
	}
	require.Greater(t, home, n/2, "only %d of %d keys at their first slot", home, n)
	sum, hs := x.prefetch([]paxos.Command{{Op: paxos.OpNop, Key: "k1"}, {Op: paxos.OpApp, Key: "k2"}}, []uint32{7})
	require.Zero(t, sum)
	sum, hs = x.prefetch([]paxos.Command{{Op: paxos.OpPut, Key: "k3"}}, hs)
	require.Equal(t, []uint32{7, 0, 0, fnv1a("k3")}, hs, "the hashes appended, one per command")
	require.NotZero(t, sum)

	h := fnv1a("k1")
	sh := x.shards[shardOfHash(h)]
	sh.seeded = true // as insert switches a shard
	for e := range sh.entries {
		sh.entries[e].s = slotHash(sh.entries[e].k)
	}
	sh.resize(len(sh.slots))
	sum, _ = x.prefetch([]paxos.Command{{Op: paxos.OpPut, Key: "k1"}}, nil)
	require.Equal(t, uint64(sh.shift), sum, "prefetch read a seeded shard's slot")
	for i := range n {
		f, ok := x.get("k" + strconv.Itoa(i))
		require.True(t, ok)
		require.Equal(t, keyFacts(i+1), f)
	}
}
