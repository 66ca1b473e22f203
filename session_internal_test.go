package paxos

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkSession fails unless cs keeps its invariants (clientSession).
func checkSession(t *testing.T, cs *clientSession) {
	t.Helper()
	for i, r := range cs.Runs {
		switch {
		case r.From > r.To:
			t.Fatalf("run %d is empty: %+v", i, r)
		case i == 0 && r.From <= cs.Low+1:
			t.Fatalf("the first run %+v does not start above Low+1 = %d", r, cs.Low+1)
		case i > 0 && r.From <= cs.Runs[i-1].To+1:
			t.Fatalf("runs %d and %d are not sorted, disjoint and apart: %+v %+v", i-1, i, cs.Runs[i-1], r)
		}
	}
	for seq := range cs.Above {
		if i := cs.run(seq); i == len(cs.Runs) || cs.Runs[i].From > seq || seq > cs.Runs[i].To {
			t.Fatalf("a result above Low is not one of a run's seqs: %d", seq)
		}
	}
	if len(cs.Above) > 2*RetainOutputs+1 {
		t.Fatalf("%d results above Low", len(cs.Above))
	}
	for seq := range cs.Recent {
		if seq > cs.Low || seq+RetainOutputs <= cs.Low {
			t.Fatalf("Recent holds seq %d with Low %d", seq, cs.Low)
		}
	}
}

// TestClientSessionMatchesASet records random seqs (in order, out of
// order, far ahead, retried) with random results in a session and in a
// plain set of every executed seq with its result, and checks after every
// step that the session keeps its invariants, knows exactly the executed
// seqs, and returns the result of every seq it still keeps one for (the
// RetainOutputs seqs below the newest, and below Low); a snapshot round
// trip, in the encoded form of this build and of the earlier one (every
// executed seq above Low listed with its result), gives the same session.
func TestClientSessionMatchesASet(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		cs := &clientSession{}
		executed := map[uint64]result{}
		newest := uint64(0)
		front := 5 // in tenths: how often a seq near Low comes
		if seed > 5 {
			front = 1 // gaps that last: results above Low pile up and get pruned
		}
		pruned := false
		for step := range 6000 {
			var seq uint64
			switch k := rng.IntN(10); {
			case k < front:
				seq = cs.Low + 1 + uint64(rng.IntN(8)) // near the front
			case k < 8:
				seq = newest + 1 + uint64(rng.IntN(3)) // the client's next, or just past it
			case k < 9:
				seq = newest + uint64(rng.IntN(3*RetainOutputs)) // far ahead
			default:
				seq = 1 + uint64(rng.IntN(int(newest)+1)) // a retry, or a gap filled
			}
			if seq == 0 {
				seq = 1
			}
			res := result{}
			if rng.IntN(3) > 0 {
				res = result{Out: "o" + strconv.FormatUint(seq, 10)}
			}
			_, done := cs.result(seq)
			_, was := executed[seq]
			require.Equal(t, was, done, "seed %d step %d seq %d", seed, step, seq)
			if !done {
				require.True(t, cs.admits(seq), "far below MaxSessionGaps")
				before := len(cs.Above)
				cs.record(seq, res)
				pruned = pruned || len(cs.Above) < before
				executed[seq] = res
				newest = max(newest, seq)
			}
			checkSession(t, cs)
			if step%300 != 299 {
				continue
			}
			for q, want := range executed {
				got, ok := cs.result(q)
				kept := q+RetainOutputs > newest // the client's last RetainOutputs seqs
				if !ok || (kept && got != want) {
					t.Fatalf("seed %d: seq %d executed with %+v; the session says %v, %+v", seed, q, want, ok, got)
				}
			}
			entry := clientEntry{Low: cs.Low, Above: sortedResults(cs.Above), Recent: sortedResults(cs.Recent), Runs: cs.Runs}
			back := newClientSession(entry.Low, entry.Runs, resultMap(entry.Above), resultMap(entry.Recent))
			require.Equal(t, cs.Low, back.Low)
			require.Equal(t, cs.Runs, back.Runs)
			require.Equal(t, len(cs.Above), len(back.Above))
			// The earlier build's form: every executed seq above Low in
			// Above, empty results included, and no runs.
			old := map[uint64]result{}
			for q := range executed {
				if q > cs.Low {
					r, _ := cs.result(q)
					old[q] = r
				}
			}
			fromOld := newClientSession(cs.Low, nil, old, resultMap(entry.Recent))
			require.Equal(t, cs.Runs, fromOld.Runs, "seed %d", seed)
			checkSession(t, fromOld)
		}
		if seed > 5 {
			require.True(t, pruned, "seed %d: results above Low were pruned", seed)
		}
	}
}

// TestClientSessionGapKeepsItSmall: a client that never sends one seq
// (it gave up on it) and then a million more leaves one gap, not a
// million entries, in its session and its snapshot; filling the gap
// moves Low past all of them.
func TestClientSessionGapKeepsItSmall(t *testing.T) {
	s := NewSessions(&nullSM{})
	const n = 1_000_000
	for seq := uint64(1); seq <= n; seq++ {
		if seq == 10 {
			continue
		}
		op := OpApp
		var ex Execution
		s.ApplyTo(&ex, &Command{Client: 7, Seq: seq, Op: op})
		require.Empty(t, ex.Err)
	}
	cs := s.session(7)
	require.Equal(t, uint64(9), cs.Low)
	require.Equal(t, []seqRun{{From: 11, To: n}}, cs.Runs)
	require.Less(t, len(s.SnapshotSessions()), 256, "the snapshot holds the gap, not the seqs above it")
	var ex Execution
	s.ApplyTo(&ex, &Command{Client: 7, Seq: 10, Op: OpApp})
	require.False(t, ex.Duplicate)
	require.Equal(t, uint64(n), cs.Low)
	require.Empty(t, cs.Runs)
}

// TestClientSessionGapsAreBounded: a client that leaves a gap before each
// of its commands gets ErrSessionGaps, without the command executing, once
// it has MaxSessionGaps of them; a command that extends a run or fills a
// gap still executes.
func TestClientSessionGapsAreBounded(t *testing.T) {
	sm := &nullSM{}
	s := NewSessions(sm)
	for i := uint64(1); i <= MaxSessionGaps; i++ {
		var ex Execution
		s.ApplyTo(&ex, &Command{Client: 3, Seq: 2 * i, Op: OpApp})
		require.Empty(t, ex.Err)
	}
	require.Equal(t, MaxSessionGaps, sm.applied)
	var ex Execution
	s.ApplyTo(&ex, &Command{Client: 3, Seq: 2*MaxSessionGaps + 2, Op: OpApp})
	require.Equal(t, ErrSessionGaps.Error(), ex.Err)
	require.Equal(t, MaxSessionGaps, sm.applied, "refused: not executed")
	require.Len(t, s.session(3).Runs, MaxSessionGaps)
	for _, seq := range []uint64{2*MaxSessionGaps + 1, 1, 3} {
		s.ApplyTo(&ex, &Command{Client: 3, Seq: seq, Op: OpApp})
		require.Empty(t, ex.Err, "seq %d joins a run or fills a gap", seq)
	}
	require.Equal(t, uint64(4), s.session(3).Low)
}

// nullSM is an application state machine that counts what it applied.
type nullSM struct{ applied int }

func (m *nullSM) Apply(Command) (string, error) { m.applied++; return "", nil }
func (m *nullSM) Snapshot() []byte              { return nil }
func (m *nullSM) Restore([]byte) error          { return nil }

// TestClientSessionLargestSeqs: seqs at the top of the range keep the
// runs in order (no seq+1 or To+1 wraps around).
func TestClientSessionLargestSeqs(t *testing.T) {
	const top = ^uint64(0)
	cs := &clientSession{}
	for _, seq := range []uint64{top, top - 2, top - 1, 5, top - 4} {
		require.True(t, cs.admits(seq))
		cs.record(seq, result{})
		checkSession(t, cs)
	}
	require.Equal(t, []seqRun{{From: 5, To: 5}, {From: top - 4, To: top - 4}, {From: top - 2, To: top}}, cs.Runs)
	for _, seq := range []uint64{top, top - 1, top - 2, 5, top - 4} {
		_, ok := cs.result(seq)
		require.True(t, ok, "seq %d", seq)
	}
	_, ok := cs.result(top - 3)
	require.False(t, ok)
}
