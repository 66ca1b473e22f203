package paxos_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
)

// appendLog is a test state machine: "fail" errors, "panic" panics,
// anything else is appended to the log; a read returns the log.
type appendLog struct{ log string }

func (a *appendLog) Apply(cmd paxos.Command) (string, error) {
	switch p := string(cmd.Payload); {
	case cmd.ReadOnly:
		return a.log, nil
	case p == "fail":
		return "", errors.New("refused by the application")
	case p == "panic":
		panic("boom")
	default:
		a.log += p
		return a.log, nil
	}
}
func (a *appendLog) Snapshot() []byte       { return []byte(a.log) }
func (a *appendLog) Restore(b []byte) error { a.log = string(b); return nil }

func app(client, seq uint64, payload string) paxos.Command {
	return paxos.Command{Client: client, Seq: seq, Op: paxos.OpApp, Payload: []byte(payload), Keys: []string{"log"}}
}

func TestSessionsApplyOnceAndRememberOutputsAndErrors(t *testing.T) {
	sm := &appendLog{}
	s := paxos.NewSessions(sm)
	assert.Equal(t, "a", s.Apply(new(app(1, 1, "a"))).Output)
	ex := s.Apply(new(app(1, 2, "fail")))
	assert.Equal(t, "refused by the application", ex.Err)
	ex = s.Apply(new(app(1, 3, "panic")))
	assert.Contains(t, ex.Err, "state machine panicked: boom")
	assert.Equal(t, "ab", s.Apply(new(app(1, 5, "b"))).Output, "seq 4 not yet executed")

	for seq, want := range map[uint64]paxos.Execution{1: {Output: "a"}, 2: {Err: "refused by the application"}, 5: {Output: "ab"}} {
		ex := s.Apply(new(app(1, seq, "RETRY")))
		assert.True(t, ex.Duplicate, "seq %d", seq)
		assert.Equal(t, want.Output, ex.Output, "seq %d", seq)
		assert.Equal(t, want.Err, ex.Err, "seq %d", seq)
	}
	assert.Equal(t, "ab", sm.log, "retries took no effect")
	_, done := s.Executed(new(app(1, 4, "")))
	assert.False(t, done)
	// Done is Executed's bool: seqs 1..3 and 5 executed (5 above the gap), 4
	// and 6 not, client 2 has no session, and client 0 is never deduplicated.
	for _, c := range []paxos.Command{app(1, 1, ""), app(1, 3, ""), app(1, 4, ""), app(1, 5, ""), app(1, 6, ""), app(2, 1, ""), app(0, 1, "")} {
		_, done := s.Executed(&c)
		assert.Equal(t, done, s.Done(&c), "client %d seq %d", c.Client, c.Seq)
		assert.Equal(t, c.Client == 1 && c.Seq != 4 && c.Seq != 6, done, "client %d seq %d", c.Client, c.Seq)
	}

	// A snapshot holds the sessions and the state.
	other := paxos.NewSessions(&appendLog{})
	require.NoError(t, other.Restore(s.Snapshot()))
	ex = other.Apply(new(app(1, 2, "x")))
	assert.True(t, ex.Duplicate)
	assert.Equal(t, "refused by the application", ex.Err)
	assert.Equal(t, "abc", other.Apply(new(app(1, 4, "c"))).Output)
	assert.Equal(t, s.Snapshot(), s.Snapshot(), "snapshots are deterministic")

	require.Error(t, other.Restore([]byte{0xc1}), "garbage is refused")
}

// TestSessionsApplyToMatchesApply runs one random stream of commands (new,
// retried, out of order, nops, internal, refused) through two sessions, one
// with Apply and one with ApplyTo into a reused list whose stale entries
// must all be overwritten, and compares every execution and the snapshots.
func TestSessionsApplyToMatchesApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 11))
	a, b := paxos.NewSessions(&appendLog{}), paxos.NewSessions(&appendLog{})
	stale := paxos.Execution{Command: app(99, 99, "stale"), Output: "stale", Err: "stale", Duplicate: true, LocalRead: true, Missing: true}
	list := make([]paxos.Execution, 0, 8)
	for step := 0; step < 5000; step++ {
		var cmd paxos.Command
		switch k := rng.IntN(10); {
		case k == 0:
			cmd = paxos.Command{Op: paxos.OpNop, Client: uint64(rng.IntN(2))}
		case k == 1:
			cmd = app(0, 0, "internal")
		default:
			payload := []string{"x", "y", "fail", "panic"}[rng.IntN(4)]
			cmd = app(uint64(rng.IntN(4)+1), uint64(rng.IntN(40)+1), payload)
		}
		want := a.Apply(&cmd)
		if len(list) == cap(list) {
			list = list[:0]
		}
		i := len(list)
		list = list[:i+1]
		list[i] = stale
		b.ApplyTo(&list[i], &cmd)
		require.Equal(t, want, list[i], "step %d: %+v", step, cmd)
	}
	assert.Equal(t, a.Snapshot(), b.Snapshot())
}

func TestSessionsReadDoesNotRecord(t *testing.T) {
	s := paxos.NewSessions(&appendLog{})
	s.Apply(new(app(1, 1, "a")))
	rd := app(2, 1, "")
	rd.ReadOnly = true
	ex := s.Read(&rd)
	assert.Equal(t, "a", ex.Output)
	assert.True(t, ex.LocalRead)
	_, done := s.Executed(&rd)
	assert.False(t, done, "a lease read is not recorded")
}

func TestCheckCommand(t *testing.T) {
	require.ErrorIs(t, paxos.CheckCommand(&paxos.Command{Op: paxos.OpPut}, false), paxos.ErrReservedClient)
	require.ErrorIs(t, paxos.CheckCommand(new(app(0, 1, "x")), true), paxos.ErrReservedClient)
	require.NoError(t, paxos.CheckCommand(&paxos.Command{Client: 1, Op: paxos.OpGet}, false))
	require.ErrorIs(t, paxos.CheckCommand(&paxos.Command{Client: 1, Op: paxos.OpGet}, true), paxos.ErrBadCommand)
	require.ErrorIs(t, paxos.CheckCommand(new(app(1, 1, "x")), false), paxos.ErrBadCommand)
	require.NoError(t, paxos.CheckCommand(new(app(1, 1, "x")), true))
	require.ErrorIs(t, paxos.CheckCommand(&paxos.Command{Client: 1, Op: 42}, false), paxos.ErrBadCommand)
}

func TestInterferes(t *testing.T) {
	get := func(k string) paxos.Command { return paxos.Command{Client: 1, Op: paxos.OpGet, Key: k} }
	put := func(k string) paxos.Command { return paxos.Command{Client: 1, Op: paxos.OpPut, Key: k} }
	w := func(keys ...string) paxos.Command { return paxos.Command{Client: 1, Op: paxos.OpApp, Keys: keys} }
	r := func(keys ...string) paxos.Command { c := w(keys...); c.ReadOnly = true; return c }
	nop := paxos.Command{}
	for _, tc := range []struct {
		a, b paxos.Command
		want bool
	}{
		{put("x"), put("x"), true}, {put("x"), get("x"), true}, {get("x"), get("x"), false},
		{put("x"), put("y"), false}, {nop, put("x"), false},
		{w("a", "b"), w("b", "c"), true}, {w("a"), w("b"), false}, {w("a"), r("a"), true},
		{r("a"), r("a"), false}, {r(), r(), false}, {w(), r("z"), true}, {r(), w("z"), true},
		{w(), w(), true}, {w(), nop, false},
	} {
		assert.Equal(t, tc.want, paxos.Interferes(&tc.a, &tc.b), "%+v vs %+v", tc.a, tc.b)
		assert.Equal(t, tc.want, paxos.Interferes(&tc.b, &tc.a), "symmetric: %+v vs %+v", tc.b, tc.a)
	}
}

// legacyCommand is paxos.Command before application commands existed.
type legacyCommand struct {
	Client uint64   `msgpack:"c"`
	Seq    uint64   `msgpack:"s"`
	Op     paxos.Op `msgpack:"o"`
	Key    string   `msgpack:"k"`
	Value  string   `msgpack:"v"`
}

// TestKVCommandEncodingUnchanged: a key-value command encodes exactly as it
// did before Payload, Keys and ReadOnly existed, so logs written earlier,
// the wire format and the published results stay byte for byte the same.
func TestKVCommandEncodingUnchanged(t *testing.T) {
	for _, c := range []paxos.Command{{}, {Client: 1, Seq: 2, Op: paxos.OpPut, Key: "k", Value: strings.Repeat("v", 300)}} {
		got, err := msgpack.Marshal(c)
		require.NoError(t, err)
		want, err := msgpack.Marshal(legacyCommand{c.Client, c.Seq, c.Op, c.Key, c.Value})
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
}

// TestSameCommands: equal commands in the same order, whether in one array
// or two; a slice of one array from another element, a shorter slice, or
// one differing command is not the same.
func TestSameCommands(t *testing.T) {
	a := []paxos.Command{
		{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "v"},
		{Client: 1, Seq: 2, Op: paxos.OpApp, Payload: []byte{1}, Keys: []string{"x", "y"}},
		{Client: 1, Seq: 2, Op: paxos.OpApp, Payload: []byte{1}, Keys: []string{"x", "y"}},
		{Client: 2, Seq: 1, Op: paxos.OpGet, Key: "k", ReadOnly: true},
	}
	b := slices.Clone(a)
	assert.True(t, paxos.SameCommands(a, a))
	assert.True(t, paxos.SameCommands(a, b))
	assert.True(t, paxos.SameCommands(nil, []paxos.Command{}))
	assert.True(t, paxos.SameCommands(a[1:2], a[2:3]), "equal commands at two places of one array")
	assert.False(t, paxos.SameCommands(a[0:2], a[1:3]))
	assert.False(t, paxos.SameCommands(a, a[:3]))
	for i := range b {
		for _, change := range []func(c *paxos.Command){
			func(c *paxos.Command) { c.Seq++ },
			func(c *paxos.Command) { c.Key += "!" },
			func(c *paxos.Command) { c.Payload = append(slices.Clone(c.Payload), 0) },
			func(c *paxos.Command) { c.Keys = append(slices.Clone(c.Keys), "z") },
			func(c *paxos.Command) { c.ReadOnly = !c.ReadOnly },
		} {
			d := slices.Clone(a)
			change(&d[i])
			assert.False(t, paxos.SameCommands(a, d), "command %d changed", i)
			assert.False(t, a[i].Equal(&d[i]))
		}
	}
}
