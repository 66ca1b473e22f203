package kv_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

func put(client, seq uint64, key, value string) paxos.Command {
	return paxos.Command{Client: client, Seq: seq, Op: paxos.OpPut, Key: key, Value: value}
}

func get(client, seq uint64, key string) paxos.Command {
	return paxos.Command{Client: client, Seq: seq, Op: paxos.OpGet, Key: key}
}

func nop(client, seq uint64) paxos.Command {
	return paxos.Command{Client: client, Seq: seq, Op: paxos.OpNop}
}

func TestGetPutNop(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	ex := s.Apply(new(get(1, 1, "a")))
	assert.Equal(t, "", ex.Output, "missing key reads empty")
	assert.False(t, ex.Duplicate)
	ex = s.Apply(new(put(1, 2, "a", "x")))
	assert.Equal(t, "", ex.Output, "a put outputs nothing")
	assert.Equal(t, put(1, 2, "a", "x"), ex.Command)
	assert.Equal(t, "x", s.Apply(new(get(2, 1, "a"))).Output)
	s.Apply(new(put(2, 2, "a", "y")))
	assert.Equal(t, "y", s.Apply(new(get(1, 3, "a"))).Output)
	assert.Equal(t, "y", s.Store().Read("a"))
	assert.Equal(t, "", s.Store().Read("b"))

	ex = s.Apply(new(nop(0, 0)))
	assert.Equal(t, paxos.Execution{Command: nop(0, 0)}, ex)
	assert.Equal(t, uint64(5), s.Store().Applied(), "nops do not count")
	assert.Equal(t, 1, s.Len())
	s.Apply(new(put(3, 1, "c", "1")))
	s.Apply(new(put(3, 2, "b", "1")))
	assert.Equal(t, []string{"a", "b", "c"}, s.Store().Keys())
}

func TestInterferes(t *testing.T) {
	for _, tt := range []struct {
		name string
		a, b paxos.Command
		want bool
	}{
		{"put/put same key", put(1, 1, "k", "1"), put(2, 1, "k", "2"), true},
		{"put/get same key", put(1, 1, "k", "1"), get(2, 1, "k"), true},
		{"get/put same key", get(1, 1, "k"), put(2, 1, "k", "2"), true},
		{"get/get same key", get(1, 1, "k"), get(2, 1, "k"), false},
		{"put/put different keys", put(1, 1, "k", "1"), put(2, 1, "j", "1"), false},
		{"put/get different keys", put(1, 1, "k", "1"), get(2, 1, "j"), false},
		{"nop/put", nop(1, 1), put(2, 1, "", "1"), false},
		{"put/nop", put(2, 1, "", "1"), nop(1, 1), false},
		{"nop/nop", nop(1, 1), nop(2, 1), false},
		{"same command", put(1, 1, "k", "1"), put(1, 1, "k", "1"), true},
	} {
		assert.Equal(t, tt.want, kv.Interferes(&tt.a, &tt.b), tt.name)
		assert.Equal(t, tt.want, kv.Interferes(&tt.b, &tt.a), tt.name+" (symmetric)")
	}
}

func TestDedupExactlyOnce(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	first := s.Apply(new(put(1, 1, "k", "a")))
	assert.False(t, first.Duplicate)
	s.Apply(new(put(2, 1, "k", "b"))) // another client overwrites
	retry := s.Apply(new(put(1, 1, "k", "a")))
	assert.True(t, retry.Duplicate)
	assert.Equal(t, "b", s.Store().Read("k"), "the retried put took no effect again")

	g := s.Apply(new(get(1, 2, "k")))
	assert.Equal(t, "b", g.Output)
	s.Apply(new(put(2, 2, "k", "c")))
	g2 := s.Apply(new(get(1, 2, "k")))
	assert.True(t, g2.Duplicate)
	assert.Equal(t, "b", g2.Output, "a retried get returns its first output")
	assert.Equal(t, uint64(4), s.Store().Applied())

	out, ok := executed(s, 1, 2)
	assert.True(t, ok)
	assert.Equal(t, "b", out)
	_, ok = executed(s, 1, 3)
	assert.False(t, ok)
	_, ok = executed(s, 7, 1)
	assert.False(t, ok)
}

// TestDedupOutOfOrder: one client's seq 2 executes before its seq 1 (as in
// EPaxos with non-interfering commands, or a client with several commands
// outstanding). Both take effect once; retries of either return the
// original output, before and after the gap closes.
func TestDedupOutOfOrder(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	s.Apply(new(put(9, 1, "x", "X0")))
	s.Apply(new(put(9, 2, "y", "Y0")))

	ex2 := s.Apply(new(get(1, 2, "x")))
	assert.Equal(t, "X0", ex2.Output)
	assert.False(t, ex2.Duplicate)
	_, ok := executed(s, 1, 1)
	assert.False(t, ok, "seq 1 has not executed yet")
	r2 := s.Apply(new(get(1, 2, "x")))
	assert.True(t, r2.Duplicate)
	assert.Equal(t, "X0", r2.Output)

	s.Apply(new(put(9, 3, "x", "X1")))
	s.Apply(new(put(9, 4, "y", "Y1")))
	ex1 := s.Apply(new(get(1, 1, "y")))
	assert.False(t, ex1.Duplicate, "seq 1 executes although seq 2 already did")
	assert.Equal(t, "Y1", ex1.Output)

	s.Apply(new(put(9, 5, "x", "X2")))
	s.Apply(new(put(9, 6, "y", "Y2")))
	for _, tt := range []struct {
		cmd  paxos.Command
		want string
	}{{get(1, 1, "y"), "Y1"}, {get(1, 2, "x"), "X0"}} {
		ex := s.Apply(&tt.cmd)
		assert.True(t, ex.Duplicate, "seq %d", tt.cmd.Seq)
		assert.Equal(t, tt.want, ex.Output, "retry of seq %d returns the original output", tt.cmd.Seq)
	}
	// Seq 3 executes after; everything stays once.
	assert.Equal(t, "X2", s.Apply(new(get(1, 3, "x"))).Output)
	ex := s.Apply(new(get(1, 1, "y")))
	assert.True(t, ex.Duplicate)
	assert.Equal(t, "Y1", ex.Output)
	assert.Equal(t, uint64(9), s.Store().Applied())
}

// TestDedupManyOutstanding: a client with many commands outstanding,
// executed in reverse order; each retry returns its own output.
func TestDedupManyOutstanding(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	const n = 50
	for seq := uint64(n); seq >= 1; seq-- {
		s.Apply(new(put(2, seq, "k", fmt.Sprint("v", seq))))
		ex := s.Apply(new(get(1, seq, "k")))
		require.False(t, ex.Duplicate)
		require.Equal(t, fmt.Sprint("v", seq), ex.Output)
	}
	for seq := uint64(1); seq <= n; seq++ {
		ex := s.Apply(new(get(1, seq, "k")))
		assert.True(t, ex.Duplicate)
		assert.Equal(t, fmt.Sprint("v", seq), ex.Output)
	}
}

// TestDedupRetentionBounded: outputs are kept for the last
// kv.RetainOutputs seqs only; older retries are still duplicates.
func TestDedupRetentionBounded(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	s.Apply(new(put(2, 1, "k", "v")))
	total := uint64(kv.RetainOutputs + 10)
	for seq := uint64(1); seq <= total; seq++ {
		s.Apply(new(get(1, seq, "k")))
	}
	ex := s.Apply(new(get(1, total-kv.RetainOutputs+1, "k")))
	assert.True(t, ex.Duplicate)
	assert.Equal(t, "v", ex.Output, "within the window")
	ex = s.Apply(new(get(1, 1, "k")))
	assert.True(t, ex.Duplicate, "beyond the window: still executed once")
	assert.Equal(t, "", ex.Output, "beyond the window the output is forgotten")
	snap := s.Snapshot()
	data, err := msgpack.Marshal(snap)
	require.NoError(t, err)
	assert.Less(t, len(data), 40*kv.RetainOutputs, "retained state is bounded")
}

func TestNopAndClientZeroNotDeduplicated(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	assert.False(t, s.Apply(new(nop(1, 1))).Duplicate)
	assert.False(t, s.Apply(new(nop(1, 1))).Duplicate)
	_, ok := executed(s, 1, 1)
	assert.False(t, ok, "a nop does not consume its seq")
	assert.False(t, s.Apply(new(put(1, 1, "k", "v"))).Duplicate)

	s.Apply(new(put(0, 1, "z", "a")))
	s.Apply(new(put(0, 1, "z", "b")))
	assert.Equal(t, "b", s.Store().Read("z"), "client 0 is internal and never deduplicated")
	assert.False(t, s.Apply(new(get(0, 1, "z"))).Duplicate)
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	s.Apply(new(put(1, 1, "a", "1")))
	s.Apply(new(put(1, 3, "b", "2"))) // seq 2 outstanding: Done holds 3
	s.Apply(new(get(2, 1, "a")))
	s.Apply(new(get(2, 2, "a")))
	snap := s.Snapshot()

	r := fromSnapshot(t, snap)
	assert.Equal(t, s.Snapshot(), r.Snapshot())
	assert.Equal(t, s.Store().Applied(), r.Store().Applied())
	assert.Equal(t, s.Store().Keys(), r.Store().Keys())
	for _, cmd := range []paxos.Command{put(1, 1, "a", "1"), put(1, 3, "b", "2"), get(2, 1, "a"), get(2, 2, "a")} {
		ex := r.Apply(&cmd)
		assert.True(t, ex.Duplicate, "restored store remembers %v", cmd.ID())
		if cmd.Op == paxos.OpGet {
			assert.Equal(t, "1", ex.Output)
		}
	}
	assert.False(t, r.Apply(new(put(1, 2, "c", "3"))).Duplicate, "the gap seq still executes")
	assert.True(t, r.Apply(new(put(1, 2, "c", "3"))).Duplicate)
}

func TestSnapshotIndependence(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	s.Apply(new(put(1, 1, "a", "1")))
	s.Apply(new(put(1, 3, "c", "3")))
	snap := s.Snapshot()

	// Changing the store does not change the snapshot.
	s.Apply(new(put(1, 2, "a", "2")))
	s.Apply(new(put(5, 1, "n", "new")))
	got, _ := snap.Get("a")
	assert.Equal(t, "1", got)
	assert.NotContains(t, snap.Map(), "n")
	_, ok := executed(fromSnapshot(t, snap), 5, 1)
	assert.False(t, ok, "the snapshot's sessions do not see later commands")
	assert.Equal(t, uint64(2), snap.Applied)

	// A store built from the snapshot and the snapshot do not change each
	// other.
	r := fromSnapshot(t, snap)
	assert.Equal(t, "1", r.Store().Read("a"))
	assert.True(t, r.Apply(new(put(1, 3, "c", "3"))).Duplicate)
	r.Apply(new(put(1, 2, "a", "two")))
	snap2 := r.Snapshot()
	r.Apply(new(put(1, 4, "a", "four")))
	got, _ = snap2.Get("a")
	assert.Equal(t, "two", got)
	got, _ = snap.Get("a")
	assert.Equal(t, "1", got, "a store built from a snapshot copies a shared shard before writing it")
	assert.Equal(t, "1", fromSnapshot(t, snap).Store().Read("a"))
	assert.Equal(t, "four", r.Store().Read("a"))
	_, ok = executed(fromSnapshot(t, snap2), 1, 4)
	assert.False(t, ok, "sessions are copied too")
}

func TestSnapshotMsgpack(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	s.Apply(new(put(1, 1, "a", "1")))
	s.Apply(new(get(1, 2, "a")))
	s.Apply(new(get(1, 4, "a"))) // gap at 3
	s.Apply(new(put(2, 1, "b", "x")))
	s.Apply(new(get(2, 2, "b")))
	s.Apply(new(get(2, 3, "b"))) // moves seq 2's output into the retained window
	snap := s.Snapshot()

	data, err := msgpack.Marshal(snap)
	require.NoError(t, err)
	var back kv.Snapshot
	require.NoError(t, msgpack.Unmarshal(data, &back))
	assert.Equal(t, snap, back)
	assert.Equal(t, map[string]string{"a": "1", "b": "x"}, back.Map())
	// The wire format: a map of the data ("d"), sessions ("s") and the
	// applied count ("a").
	var plain struct {
		Data    map[string]string `msgpack:"d"`
		Applied uint64            `msgpack:"a"`
	}
	require.NoError(t, msgpack.Unmarshal(data, &plain))
	assert.Equal(t, map[string]string{"a": "1", "b": "x"}, plain.Data)
	assert.Equal(t, snap.Applied, plain.Applied)

	r := fromSnapshot(t, back)
	for _, tt := range []struct {
		cmd  paxos.Command
		want string
	}{{get(1, 2, "a"), "1"}, {get(1, 4, "a"), "1"}, {get(2, 2, "b"), "x"}, {get(2, 3, "b"), "x"}} {
		ex := r.Apply(&tt.cmd)
		assert.True(t, ex.Duplicate)
		assert.Equal(t, tt.want, ex.Output)
	}
	assert.False(t, r.Apply(new(get(1, 3, "a"))).Duplicate)

	var empty kv.Snapshot
	data, err = msgpack.Marshal(kv.NewExecutor(paxos.Config{}).Snapshot())
	require.NoError(t, err)
	require.NoError(t, msgpack.Unmarshal(data, &empty))
	assert.Equal(t, 0, fromSnapshot(t, empty).Len())
}

// TestSnapshotSharesData: taking a snapshot copies no data; the store
// copies a chunk of a shard when it next writes where the snapshot reads,
// and neither the snapshot nor a
// store built from it sees later writes of the other.
func TestSnapshotSharesData(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	for i := 0; i < 10_000; i++ {
		s.Apply(new(put(1, uint64(i+1), fmt.Sprint("k", i), "v0")))
	}
	allocs := testing.AllocsPerRun(10, func() { _ = s.Snapshot() })
	assert.Less(t, allocs, 30.0, "a snapshot allocates a few objects (most for encoding the one client's session), not one per key")
	snap := s.Snapshot()
	r := fromSnapshot(t, snap)
	for i := 0; i < 10_000; i += 7 {
		s.Apply(new(put(2, uint64(i+1), fmt.Sprint("k", i), "v1")))
		r.Apply(new(put(3, uint64(i+1), fmt.Sprint("k", i), "v2")))
	}
	for i := 0; i < 10_000; i += 7 {
		k := fmt.Sprint("k", i)
		got, ok := snap.Get(k)
		assert.True(t, ok)
		assert.Equal(t, "v0", got)
		assert.Equal(t, "v1", s.Store().Read(k))
		assert.Equal(t, "v2", r.Store().Read(k))
	}
	assert.Equal(t, 10_000, snap.Len())
	assert.Equal(t, 10_000, s.Len())
	assert.Equal(t, 10_000, r.Len())
}

// TestSnapshotEncodedWhileStoreWrites encodes a snapshot on another
// goroutine while the store goes on overwriting its keys with longer and
// shorter values (enough to compact its shards hundreds of times) and adding new ones, and
// checks that the encoding holds the snapshot's data (run with -race: the
// store must not write what the snapshot shares).
func TestSnapshotEncodedWhileStoreWrites(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	want := map[string]string{}
	for i := 0; i < 20_000; i++ {
		k, v := fmt.Sprint("k", i), fmt.Sprint("v", i)
		s.Apply(new(put(1, uint64(i+1), k, v)))
		want[k] = v
	}
	snap := s.Snapshot()
	done := make(chan []byte)
	go func() {
		b, err := msgpack.Marshal(snap)
		assert.NoError(t, err)
		done <- b
	}()
	for round := 0; round < 20; round++ {
		for i := 0; i < 20_000; i += 3 {
			v := fmt.Sprint(strings.Repeat("x", 20*(round%3)), i) // longer twice, then shorter
			s.Apply(new(put(uint64(2+round), uint64(i+1), fmt.Sprint("k", i), v)))
		}
		s.Apply(new(put(100, uint64(round+1), fmt.Sprint("new", round), "x")))
	}
	var got kv.Snapshot
	require.NoError(t, msgpack.Unmarshal(<-done, &got))
	assert.Equal(t, want, got.Map())
	assert.Equal(t, want, snap.Map())
	assert.Equal(t, strings.Repeat("x", 20)+"19998", s.Store().Read("k19998"))
	assert.Equal(t, 20_020, s.Len())
}

func Example() {
	s := kv.NewExecutor(paxos.Config{})
	s.Apply(&paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "x", Value: "42"})
	got := s.Apply(&paxos.Command{Client: 2, Seq: 1, Op: paxos.OpGet, Key: "x"})
	fmt.Println(got.Output, got.Duplicate)

	// A retried command takes no effect again and repeats its output.
	s.Apply(&paxos.Command{Client: 1, Seq: 2, Op: paxos.OpPut, Key: "x", Value: "43"})
	again := s.Apply(&paxos.Command{Client: 2, Seq: 1, Op: paxos.OpGet, Key: "x"})
	fmt.Println(again.Output, again.Duplicate)

	w := paxos.Command{Op: paxos.OpPut, Key: "x"}
	r := paxos.Command{Op: paxos.OpGet, Key: "x"}
	fmt.Println(kv.Interferes(&w, &r), kv.Interferes(&r, &r))
	// Output:
	// 42 false
	// 42 true
	// true false
}

func TestExecutedAndApplyChosen(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	p, g := put(1, 1, "k", "v"), get(1, 2, "k")
	_, done := s.Executed(&g)
	assert.False(t, done)
	ex := s.ApplyChosen([]paxos.Command{p, {Op: paxos.OpNop}, g})
	require.Len(t, ex, 2, "the internal Nop is left out")
	assert.Equal(t, "v", ex[1].Output)
	got, done := s.Executed(&g)
	assert.True(t, done)
	assert.Equal(t, paxos.Execution{Command: g, Output: "v", Duplicate: true}, got)
	_, done = s.Executed(&paxos.Command{Op: paxos.OpNop})
	assert.False(t, done, "internal commands are never answered from the table")
}

// executed reports whether e executed (client, seq), and its output.
func executed(e *kv.Executor, client, seq uint64) (string, bool) {
	ex, ok := e.Executed(&paxos.Command{Client: client, Seq: seq, Op: paxos.OpPut})
	return ex.Output, ok
}

// fromSnapshot rebuilds a key-value executor from snap.
func fromSnapshot(t *testing.T, snap kv.Snapshot) *kv.Executor {
	t.Helper()
	e, err := kv.ExecutorFromSnapshot(paxos.Config{}, snap)
	require.NoError(t, err)
	return e
}
