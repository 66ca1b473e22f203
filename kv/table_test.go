package kv

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestShardTable fills one shard past several doublings, overwriting every
// third key, and checks every key against a map, through a view taken
// midway (freeze) that must not see later writes.
func TestShardTable(t *testing.T) {
	sh := newShard(1)
	want := map[string]string{}
	var frozen *shard
	var frozenWant map[string]string
	for i := 0; i < 5000; i++ {
		k := "k" + strconv.Itoa(i)
		assert.True(t, sh.put(k, "v"+k, hashKey(k)), "key %s is new", k)
		want[k] = "v" + k
		if i%3 == 0 {
			j := "k" + strconv.Itoa(i/3)
			assert.False(t, sh.put(j, "w", hashKey(j)), "key %s is not new", j)
			want[j] = "w"
		}
		if i == 2500 {
			frozen = freezeOne(sh)
			frozenWant = map[string]string{}
			for k, v := range want {
				frozenWant[k] = v
			}
		}
	}
	require.Equal(t, len(want), sh.n)
	for k, v := range want {
		got, ok := sh.get(k, hashKey(k))
		assert.True(t, ok, k)
		assert.Equal(t, v, got, k)
	}
	for k, v := range frozenWant {
		got, ok := frozen.scan(k)
		assert.True(t, ok, k)
		assert.Equal(t, v, got, "the view keeps its values: %s", k)
	}
	_, ok := sh.get("absent", hashKey("absent"))
	assert.False(t, ok)
	assert.LessOrEqual(t, sh.n*4, len(sh.slots)*3, "at most three quarters full")
}

// TestFreezeCopiesOnOverwriteOnly checks that a shard frozen for a
// snapshot copies nothing when new keys are appended after it (the table
// is its own; entries and bytes go past what the view reads), copies the
// chunks an in-place overwrite writes to, and that the view keeps
// everything as it was.
func TestFreezeCopiesOnOverwriteOnly(t *testing.T) {
	sh := newShard(1)
	for i := 0; i < 20*512; i++ {
		k := "k" + strconv.Itoa(i)
		sh.put(k, k, hashKey(k))
	}
	v := freezeOne(sh)
	assert.Nil(t, v.slots, "a view has no table")
	before := map[string]string{}
	v.each(func(k, val []byte) bool {
		before[string(k)] = string(val)
		return true
	})
	same := func() (ents, data int) {
		for i, c := range v.ents {
			if len(c) > 0 && &c[0] == &sh.ents[i][0] {
				ents++
			}
		}
		for i, c := range v.data {
			if len(c) > 0 && &c[0] == &sh.data[i][0] {
				data++
			}
		}
		return ents, data
	}
	for i := 0; i < 1000; i++ {
		k := "new" + strconv.Itoa(i)
		require.True(t, sh.put(k, k, hashKey(k)))
	}
	ents, data := same()
	assert.Equal(t, len(v.ents), ents, "appending new keys copies no chunk of entries")
	assert.Equal(t, len(v.data), data, "appending new keys copies no chunk of the arena")
	require.False(t, sh.put("k7", "K7", hashKey("k7")))     // same length: in place
	require.False(t, sh.put("k8", "longer", hashKey("k8"))) // longer: appended, entry rewritten
	ents2, data2 := same()
	assert.Equal(t, len(v.ents)-1, ents2, "one chunk of entries copied")
	assert.Equal(t, len(v.data)-1, data2, "one chunk of the arena copied")
	after := map[string]string{}
	v.each(func(k, val []byte) bool {
		after[string(k)] = string(val)
		return true
	})
	assert.Equal(t, before, after, "the view is unchanged")
	for k, want := range map[string]string{"k7": "K7", "k8": "longer", "new5": "new5", "k9": "k9"} {
		got, ok := sh.get(k, hashKey(k))
		assert.True(t, ok, k)
		assert.Equal(t, want, got, k)
	}
	got, ok := v.scan("k7")
	assert.True(t, ok)
	assert.Equal(t, "k7", got)
	_, ok = v.scan("new5")
	assert.False(t, ok)
}

// TestPresizedShard checks that a shard made for n keys takes them without
// growing its table.
func TestPresizedShard(t *testing.T) {
	sh := newShard(1000)
	size := len(sh.slots)
	for i := 0; i < 1000; i++ {
		k := strconv.Itoa(i)
		sh.put(k, k, hashKey(k))
	}
	assert.Equal(t, size, len(sh.slots))
}

// TestPairBytesMatchEncoder checks a snapshot's pairs, written by hand,
// against the bytes of the encoder's EncodeString (see also
// internal/msgpackappend).
func TestPairBytesMatchEncoder(t *testing.T) {
	st := New()
	for i := 0; i < 3000; i++ { // more than one chunk
		st.put("key-"+strconv.Itoa(i), strings.Repeat("v", i%300))
	}
	snap := st.share()
	var want bytes.Buffer
	enc := msgpack.NewEncoder(&want)
	snap.Range(func(k, v string) bool {
		require.NoError(t, enc.EncodeString(k))
		require.NoError(t, enc.EncodeString(v))
		return true
	})
	var got bytes.Buffer
	require.NoError(t, snap.writePairs(msgpack.NewEncoder(&got)))
	assert.Equal(t, want.Bytes(), got.Bytes())
}

// TestShardThawsShareChunks freezes one shard and thaws two copies of the
// view, as two stores restored from one snapshot do, writes new keys and
// overwrites old ones in each and in the shard frozen, and checks that
// none of the three nor the view sees another's writes (the frozen shard
// appends in place past the view; the copies' chunks are cut at the view's
// lengths, so they append to new chunks).
func TestShardThawsShareChunks(t *testing.T) {
	base := newShard(1)
	for i := 0; i < 3000; i++ { // full chunks and a partly filled last one
		k := strconv.Itoa(i)
		base.put(k, "base", hashKey(k))
	}
	v := freezeOne(base)
	a, b := v.thaw(), v.thaw()
	for i := 0; i < 2000; i++ {
		k := strconv.Itoa(i * 2) // old keys below 3000, new ones above
		a.put(k, "a", hashKey(k))
		k = strconv.Itoa(i*2 + 1)
		b.put(k, "b", hashKey(k))
		k = strconv.Itoa(i*3 + 1)
		base.put(k, "BASE", hashKey(k))
	}
	for i := 0; i < 6000; i++ {
		k := strconv.Itoa(i)
		av, aok := a.get(k, hashKey(k))
		bv, bok := b.get(k, hashKey(k))
		basev, baseok := base.get(k, hashKey(k))
		vv, vok := v.scan(k)
		switch {
		case i < 4000 && i%2 == 0:
			assert.Equal(t, "a", av, k)
			assert.Equal(t, i < 3000, bok, k)
		case i < 4000:
			assert.Equal(t, "b", bv, k)
			assert.Equal(t, i < 3000, aok, k)
		default:
			assert.False(t, aok || bok, k)
		}
		switch {
		case i < 6000 && i%3 == 1:
			assert.Equal(t, "BASE", basev, k)
		case i < 3000:
			assert.Equal(t, "base", basev, k)
		default:
			assert.False(t, baseok, k)
		}
		if i < 3000 {
			assert.Equal(t, "base", vv, "the view keeps %s", k)
			if i%2 == 0 {
				assert.Equal(t, "base", bv, k)
			} else {
				assert.Equal(t, "base", av, k)
			}
		} else {
			assert.False(t, vok, k)
		}
	}
	assert.Equal(t, 3000, v.n)
	assert.Equal(t, 3500, a.n)
	assert.Equal(t, 3500, b.n)
	assert.Equal(t, 3000+1000, base.n)
}

// TestShardCompacts overwrites the values of a shard's keys many times
// with values of changing lengths (some larger than an arena chunk, some
// empty), taking a view now and then as a snapshot does (and going on,
// every other time, as a store restored from it), and checks every key
// against a map in the shard and in each view, and that the arena
// stays within twice the live bytes (plus the garbage below minCompact and
// one chunk) however many bytes were written.
func TestShardCompacts(t *testing.T) {
	sh := newShard(1)
	want := map[string]string{}
	type frozen struct {
		sh   *shard
		want map[string]string
	}
	var views []frozen
	written := 0
	for i := 0; i < 200_000; i++ {
		k := "k" + strconv.Itoa(i%700)
		n := (i * 7919) % 97
		if i%5000 == 0 {
			n = maxArena + i%3
		}
		v := strings.Repeat(string(rune('a'+i%26)), n)
		sh.put(k, v, hashKey(k))
		want[k] = v
		written += len(v)
		if i%40_000 == 39_999 {
			w := map[string]string{}
			for k, v := range want {
				w[k] = v
			}
			v := freezeOne(sh)
			views = append(views, frozen{v, w})
			if i%80_000 == 79_999 { // go on as a store restored from the snapshot
				sh = v.thaw()
			}
		}
		if g := sh.used - sh.live; g > max(sh.live, minCompact)+maxArena {
			t.Fatalf("after %d puts: %d bytes of garbage for %d live", i+1, g, sh.live)
		}
	}
	require.Greater(t, written, 20*sh.live, "many times the live data was written")
	check := func(sh *shard, want map[string]string) {
		live := 0
		for k, v := range want {
			got, ok := sh.scan(k)
			if sh.slots != nil {
				got, ok = sh.get(k, hashKey(k))
			}
			require.True(t, ok, k)
			require.Equal(t, v, got, k)
			live += len(k) + len(v)
		}
		require.Equal(t, live, sh.live)
		require.Equal(t, len(want), sh.n)
	}
	check(sh, want)
	for _, c := range views {
		check(c.sh, c.want)
	}
}

// TestShardEmptyAndLarge stores empty keys and values and a value larger
// than an arena chunk in a fresh shard.
func TestShardEmptyAndLarge(t *testing.T) {
	sh := newShard(1)
	big := strings.Repeat("x", 3*maxArena)
	assert.True(t, sh.put("", "", hashKey("")))
	assert.True(t, sh.put("big", big, hashKey("big")))
	assert.True(t, sh.put("e", "", hashKey("e")))
	assert.False(t, sh.put("", "now", hashKey("")))
	for k, v := range map[string]string{"": "now", "big": big, "e": ""} {
		got, ok := sh.get(k, hashKey(k))
		assert.True(t, ok, k)
		assert.Equal(t, v, got, k)
	}
}

// TestSnapshotWireShape checks the hand-written coder against wireSnapshot
// written and read by reflection: a snapshot encoded by reflection decodes
// by hand (keys as strings, binary or nil, and a field it does not know
// skipped), and one encoded by hand decodes by reflection.
func TestSnapshotWireShape(t *testing.T) {
	sessions, err := msgpack.Marshal([]byte{1, 2, 3})
	require.NoError(t, err)
	data := map[string]string{"": "empty key", "e": "", "big": strings.Repeat("b", 3*readLimit+5)}
	for i := 0; i < 2000; i++ {
		data["k"+strconv.Itoa(i)] = strconv.Itoa(i * i)
	}
	b, err := msgpack.Marshal(wireSnapshot{Data: data, Sessions: sessions, Applied: 9})
	require.NoError(t, err)
	var snap Snapshot
	require.NoError(t, msgpack.Unmarshal(b, &snap))
	assert.Equal(t, data, snap.Map())
	assert.Equal(t, []byte{1, 2, 3}, snap.Sessions)
	assert.Equal(t, uint64(9), snap.Applied)

	var w wireSnapshot
	b, err = msgpack.Marshal(snap)
	require.NoError(t, err)
	require.NoError(t, msgpack.Unmarshal(b, &w))
	assert.Equal(t, data, w.Data)
	assert.Equal(t, uint64(9), w.Applied)

	other, err := msgpack.Marshal(map[string]any{"d": map[string]any{"bin": []byte("v"), "nil": nil}, "z": []int{1}, "a": 3})
	require.NoError(t, err)
	require.NoError(t, msgpack.Unmarshal(other, &snap))
	assert.Equal(t, map[string]string{"bin": "v", "nil": ""}, snap.Map())
	assert.Equal(t, uint64(3), snap.Applied)

	truncated := b[:len(b)/2]
	assert.Error(t, msgpack.Unmarshal(truncated, &snap))
	var nilSnap Snapshot
	require.NoError(t, msgpack.Unmarshal([]byte{0xc0}, &nilSnap))
	assert.Equal(t, 0, nilSnap.Len())
}

// freezeOne returns a view of sh (freeze).
func freezeOne(sh *shard) *shard {
	var from shards
	from[0] = sh
	return freezeAll(&from)[0]
}
