package kv

import (
	"math/rand/v2"
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

// TestApplyUsesPrefetchedHashes: the puts and gets after a prefetch take
// their keys' hashes from it, in order, passing over commands left out
// (a duplicate, say), and each lands where a fresh hash finds it; Lookup
// (a lease read) takes none. Taking the next hash without comparing its
// key, or not taking it, fails.
func TestApplyUsesPrefetchedHashes(t *testing.T) {
	s := New()
	for i := range 100 {
		s.put("old"+strconv.Itoa(i), "o")
	}
	cmds := []paxos.Command{
		{Op: paxos.OpPut, Key: "a", Value: "1"},
		{Op: paxos.OpNop},
		{Op: paxos.OpPut, Key: "b", Value: "2"}, // left out below
		{Op: paxos.OpGet, Key: "old7"},
		{Op: paxos.OpPut, Key: "c", Value: "3"},
	}
	s.prefetch(cmds)
	require.Len(t, s.hashed, 4, "prefetch keeps one hash per Get and Put")
	s.Lookup("old7") // a lease read in between changes nothing
	require.Zero(t, s.next)
	s.ApplyKV(cmds[0].Op, cmds[0].Key, cmds[0].Value)
	require.Equal(t, 1, s.next, "the put took the first prefetched hash")
	out, missing := s.ApplyKV(cmds[3].Op, cmds[3].Key, cmds[3].Value)
	require.Equal(t, "o", out)
	require.False(t, missing)
	require.Equal(t, 3, s.next, "the get passed over b and took old7's hash")
	s.ApplyKV(cmds[4].Op, cmds[4].Key, cmds[4].Value)
	require.Equal(t, 4, s.next)

	// A key the prefetch did not hash drops what is left of the list.
	s.prefetch(cmds[:3])
	s.ApplyKV(paxos.OpPut, "z", "26")
	require.Equal(t, len(s.hashed), s.next)
	s.ApplyKV(paxos.OpPut, "b", "2") // hashed afresh
	for k, v := range map[string]string{"a": "1", "b": "2", "c": "3", "z": "26", "old7": "o", "old99": "o"} {
		require.Equal(t, v, s.get(k), k)
	}
	require.Equal(t, 104, s.Len())
}

// TestApplyAfterPrefetchMatchesMap: batches prefetched and then applied
// with random commands left out, with keys equal to the prefetched ones
// but other strings, and with puts of keys not in the batch in between,
// leave the store as a map given the same puts.
func TestApplyAfterPrefetchMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	s, want := New(), map[string]string{}
	key := func() string { return "k" + strconv.Itoa(rng.IntN(3000)) }
	for range 2000 {
		cmds := make([]paxos.Command, 1+rng.IntN(64))
		for i := range cmds {
			c := &cmds[i]
			c.Key, c.Value = key(), strconv.Itoa(rng.IntN(1000))
			switch rng.IntN(8) {
			case 0:
				c.Op = paxos.OpNop
			case 1, 2:
				c.Op = paxos.OpGet
			default:
				c.Op = paxos.OpPut
			}
		}
		s.prefetch(cmds)
		for i := range cmds {
			c := &cmds[i]
			k := c.Key
			switch rng.IntN(10) {
			case 0:
				continue // left out, as a duplicate is
			case 1:
				k = string([]byte(k)) // equal, but another string
			case 2:
				k = key() // another key
			}
			switch c.Op {
			case paxos.OpPut:
				s.ApplyKV(paxos.OpPut, k, c.Value)
				want[k] = c.Value
			case paxos.OpGet:
				out, missing := s.ApplyKV(paxos.OpGet, k, "")
				v, ok := want[k]
				require.Equal(t, v, out, k)
				require.Equal(t, !ok, missing, k)
			}
		}
	}
	require.Equal(t, len(want), s.Len())
	for k, v := range want {
		require.Equal(t, v, s.get(k), k)
	}
}
