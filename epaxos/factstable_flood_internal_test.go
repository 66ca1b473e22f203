package epaxos

import (
	"encoding/binary"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// fnvState is FNV-1a's state after it reads p from state h.
func fnvState(h uint32, p []byte) uint32 {
	for _, c := range p {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// fnvMulticollision returns 2^t keys of one fnv1a hash, built as Joux's
// multicollisions are: t pairs of 4-byte blocks, each pair colliding from
// the state the blocks before it leave, so that any choice of one block of
// each pair gives the same hash.
func fnvMulticollision(t *testing.T, pairs int) []string {
	t.Helper()
	h := uint32(2166136261)
	var blocks [][2][4]byte
	for p := 0; p < pairs; p++ {
		seen := map[uint32][4]byte{}
		found := false
		for i := uint32(0); !found; i++ {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], i*2654435761+uint32(p))
			s := fnvState(h, b[:])
			if o, ok := seen[s]; ok && o != b {
				blocks = append(blocks, [2][4]byte{o, b})
				h, found = s, true
			}
			seen[s] = b
		}
	}
	keys := make([]string, 0, 1<<pairs)
	for m := 0; m < 1<<pairs; m++ {
		k := make([]byte, 0, 4*pairs)
		for p := range blocks {
			b := blocks[p][m>>p&1]
			k = append(k, b[:]...)
		}
		keys = append(keys, string(k))
	}
	return keys
}

// TestFactsTableResistsCollidingKeys makes 1,024 distinct keys of one fnv1a
// hash, which a client can do cheaply, and checks that they do not pile up
// on one probe sequence of their shard's table: the shard switches to the
// seeded slot hash, after which no key walks far to be found. With slots
// placed by fnv1a every key would start at the same slot and the last
// would walk past all 1,023 others. Honest keys never switch a shard.
func TestFactsTableResistsCollidingKeys(t *testing.T) {
	keys := fnvMulticollision(t, 10)
	require.Len(t, keys, 1024)
	x := newFactsIndex()
	for i, k := range keys {
		require.Equal(t, fnv1a(keys[0]), fnv1a(k), "key %d collides", i)
		x.set(k, keyFacts(i+1)<<2)
	}
	sh := x.shards[indexShardOf(keys[0])]
	require.Len(t, sh.entries, len(keys), "one shard holds them all")
	require.True(t, sh.seeded, "the shard switched to the seeded slot hash")
	longest := 0
	mask := uint32(len(sh.slots) - 1)
	for e, k := range keys {
		got, ok := x.get(k)
		require.True(t, ok)
		require.Equal(t, keyFacts(e+1)<<2, got)
		walked := 1
		for i := sh.entries[e].s * slotMul >> sh.shift; int(uint32(sh.slots[i]))-1 != e; i = (i + 1) & mask {
			walked++
		}
		longest = max(longest, walked)
	}
	require.Less(t, longest, 64, "the longest probe among %d keys of one fnv1a hash in %d slots", len(keys), len(sh.slots))
}

// TestFactsTableKeepsFNVForHonestKeys fills the index with a million
// ordinary keys and checks that no shard switched: the seeded hash costs a
// second hash per lookup, paid only under colliding keys.
func TestFactsTableKeepsFNVForHonestKeys(t *testing.T) {
	x := newFactsIndex()
	for i := range 1 << 20 {
		x.set("key-"+strconv.Itoa(i), keyFacts(i+1)<<2)
	}
	for i, sh := range x.shards {
		require.False(t, sh.seeded, "shard %d switched with %d keys", i, len(sh.entries))
	}
}
