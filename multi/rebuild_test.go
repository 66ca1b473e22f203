package multi_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/multi"
	"github.com/paxos-lab/paxos/quorum"
)

func sentOf[T any](rd paxos.Ready) []T {
	var out []T
	for _, m := range rd.Messages {
		if b, ok := m.Body.(T); ok {
			out = append(out, b)
		}
	}
	return out
}

// TestRebuildScripted steps a rebuilding replica by hand: it promises and
// accepts nothing until enough peers answered, it has learned every slot up
// to the highest one reported and one slot beyond; then it votes, reporting
// what it learned as committed.
func TestRebuildScripted(t *testing.T) {
	cfg := paxos.Config{ID: 2, N: 3, InitialLeader: 0, Rebuild: true}
	r, err := multi.New(cfg)
	require.NoError(t, err)
	w := r.(*multi.Replica)
	require.True(t, w.Rebuilding())
	rd := w.Ready()
	require.Equal(t, []any{multi.RebuildRecord{}}, rd.Persist, "the marker is persisted first")
	require.Len(t, sentOf[multi.RebuildQuery](rd), 2)
	persisted := append([]any(nil), rd.Persist...)

	b1 := paxos.Ballot{Round: 1, Node: 0}
	cmd := func(i uint64) []paxos.Command {
		return []paxos.Command{{Client: 9, Seq: i, Op: paxos.OpPut, Key: "k", Value: "v"}}
	}
	step := func(from paxos.NodeID, body any) paxos.Ready {
		t.Helper()
		require.NoError(t, w.Step(paxos.Message{From: from, To: 2, Body: body}))
		rd := w.Ready()
		persisted = append(persisted, rd.Persist...)
		return rd
	}
	noVote := func(rd paxos.Ready) {
		t.Helper()
		require.Empty(t, sentOf[multi.Promise](rd))
		require.Empty(t, sentOf[multi.Accepted](rd))
		require.Empty(t, sentOf[multi.Prepare](rd))
	}
	noVote(step(1, multi.Prepare{Ballot: paxos.Ballot{Round: 5, Node: 1}}))
	noVote(step(0, multi.Accept{Ballot: b1, Slot: 4, Cmds: cmd(4)}))
	for i := 0; i < 50; i++ {
		w.Tick()
		noVote(w.Ready())
	}
	require.True(t, w.Ballot().Less(paxos.Ballot{Round: 5, Node: 1}), "no promise to the Prepare it dropped")

	// A crash now restarts the rebuild from what was persisted since it began.
	again, err := multi.New(paxos.Config{ID: 2, N: 3, InitialLeader: 0, Restore: &paxos.Persisted{Records: persisted}})
	require.NoError(t, err)
	require.True(t, again.(*multi.Replica).Rebuilding(), "a crash mid-rebuild resumes rebuilding without Config.Rebuild")

	// Replica 0 leads at 1.0 and holds slots up to 3; replica 1 promised
	// 2.1 (a failed candidate) and holds slots up to 2.
	noVote(step(0, multi.RebuildInfo{Promised: b1, Last: 3}))
	require.True(t, w.Rebuilding(), "one of two peers is not enough at N = 3")
	noVote(step(1, multi.RebuildInfo{Promised: paxos.Ballot{Round: 2, Node: 1}, Last: 2}))
	require.Equal(t, paxos.Ballot{Round: 2, Node: 1}, w.Ballot(), "promised the highest reported ballot")
	require.True(t, w.Rebuilding())

	// Catch-up from a leader at 3.0 brings slots 1..3; still waiting for a
	// slot above H = 3, so W forwards a Nop to the leader.
	b3 := paxos.Ballot{Round: 3, Node: 0}
	var entries []multi.Entry
	for s := uint64(1); s <= 3; s++ {
		entries = append(entries, multi.Entry{Slot: s, Ballot: b3, Cmds: cmd(s), Committed: true})
	}
	noVote(step(0, multi.CatchUp{Ballot: b3, Entries: entries}))
	require.Equal(t, uint64(3), w.Executed())
	var fwd []multi.Forward
	for i := 0; i < 20 && len(fwd) == 0; i++ {
		w.Tick()
		rd := w.Ready()
		noVote(rd)
		fwd = sentOf[multi.Forward](rd)
	}
	require.NotEmpty(t, fwd, "a caught-up rebuilding replica forwards a Nop to the leader")
	require.True(t, fwd[0].Cmds[0].IsNop())
	require.True(t, w.Rebuilding())

	noVote(step(0, multi.Commit{Ballot: b3, Slot: 4, Cmds: fwd[0].Cmds}))
	w.Tick()
	rd = w.Ready()
	require.False(t, w.Rebuilding(), "slot 4 > H executed: the rebuild is complete")
	require.NotNil(t, rd.Snapshot, "what it learned is made durable")
	require.Equal(t, []any{multi.RebuildRecord{Done: true}}, rd.Persist)

	// Now it votes, and reports slots 1..4 as committed.
	rd = step(1, multi.Prepare{Ballot: paxos.Ballot{Round: 4, Node: 1}})
	ps := sentOf[multi.Promise](rd)
	require.Len(t, ps, 1)
	committed := 0
	for _, e := range ps[0].Entries {
		if e.Committed {
			committed++
		}
	}
	if ps[0].Snapshot != nil {
		committed += int(ps[0].Snapshot.Index)
	}
	require.Equal(t, 4, committed)
	rd = step(1, multi.Accept{Ballot: paxos.Ballot{Round: 4, Node: 1}, Slot: 5, Cmds: cmd(5)})
	require.Len(t, sentOf[multi.Accepted](rd), 1)
}

func TestRebuildRefusedWhenOneReplicaIsAQuorum(t *testing.T) {
	_, err := multi.New(paxos.Config{ID: 0, N: 1, Rebuild: true})
	require.ErrorIs(t, err, paxos.ErrConfig)
	q, err := quorum.NewCounting(3, 3, 1)
	require.NoError(t, err)
	_, err = multi.New(paxos.Config{ID: 0, N: 3, Quorums: q, Rebuild: true})
	require.ErrorIs(t, err, paxos.ErrConfig)
}
