package kv

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// TestPrefetchReadsTheSlotFindProbesFirst ties Store.prefetch to find: for
// a key the store holds at the first slot its probe reads (most keys,
// with linear probing), prefetch reads that key's own slot. It skips
// commands that touch no key and leaves a thawed shard without a table.
func TestPrefetchReadsTheSlotFindProbesFirst(t *testing.T) {
	s := New()
	const n = 5000
	for i := range n {
		s.put("k"+strconv.Itoa(i), "v")
	}
	home := 0
	for i := range n {
		k := "k" + strconv.Itoa(i)
		h := hashKey(k)
		sh := s.shards[shardOf(h)]
		slot, _, o := sh.find(k, h)
		require.GreaterOrEqual(t, o, 0, k)
		if s.prefetch([]paxos.Command{{Op: paxos.OpPut, Key: k}}) == sh.slots[slot] {
			home++
		}
	}
	require.Greater(t, home, n/2, "prefetch read the key's own slot for only %d of %d keys", home, n)

	require.Zero(t, s.prefetch([]paxos.Command{{Op: paxos.OpNop, Key: "k1"}, {Op: paxos.OpApp, Key: "k2"}}))

	thawed := FromSnapshot(s.share())
	thawed.prefetch([]paxos.Command{{Op: paxos.OpGet, Key: "k1"}, {Op: paxos.OpPut, Key: "k2"}})
	for _, sh := range thawed.shards {
		if sh != nil {
			require.Nil(t, sh.slots, "prefetch built a thawed shard's table")
		}
	}
	require.Equal(t, "v", thawed.get("k1"))
}
