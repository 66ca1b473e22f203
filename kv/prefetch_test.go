package kv

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// TestPrefetchReadsTheSlotFindProbesFirst: the slot prefetch reads for a
// key (home) is where find finds most keys, with linear probing. Prefetch
// skips commands that touch no key, leaves a thawed shard without a table
// and changes nothing.
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
		if sh.home(h) == slot {
			home++
		}
	}
	require.Greater(t, home, n/2, "find found only %d of %d keys at their first slot", home, n)

	require.Zero(t, s.prefetch([]paxos.Command{{Op: paxos.OpNop, Key: "k1"}, {Op: paxos.OpApp, Key: "k2"}}))
	require.NotZero(t, s.prefetch([]paxos.Command{{Op: paxos.OpPut, Key: "k1"}}))

	thawed := FromSnapshot(s.share())
	thawed.prefetch([]paxos.Command{{Op: paxos.OpGet, Key: "k1"}, {Op: paxos.OpPut, Key: "k2"}})
	for _, sh := range thawed.shards {
		if sh != nil {
			require.Nil(t, sh.slots, "prefetch built a thawed shard's table")
		}
	}
	require.Equal(t, "v", thawed.get("k1"))
	for i := range n {
		require.Equal(t, "v", s.get("k"+strconv.Itoa(i)))
	}
}
