package basic_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/basic"
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

// TestRebuildScripted steps a rebuilding replica by hand: no promise, no
// acceptance and no proposal until enough peers reported the highest slot
// they know and it learned every slot up to it; then it votes.
func TestRebuildScripted(t *testing.T) {
	r, err := basic.New(paxos.Config{ID: 2, N: 3, Rebuild: true})
	require.NoError(t, err)
	w := r.(*basic.Replica)
	require.True(t, w.Rebuilding())
	rd := w.Ready()
	require.Equal(t, []any{basic.RebuildRecord{}}, rd.Persist)
	require.Len(t, sentOf[basic.RebuildQuery](rd), 2)
	persisted := append([]any(nil), rd.Persist...)

	val := func(i uint64) []paxos.Command {
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
		require.Empty(t, sentOf[basic.Promise](rd))
		require.Empty(t, sentOf[basic.Accepted](rd))
		require.Empty(t, sentOf[basic.Nack](rd))
		require.Empty(t, sentOf[basic.Prepare](rd))
		require.Empty(t, sentOf[basic.Accept](rd))
	}
	b := basic.Ballot{Round: 1, Node: 0}
	noVote(step(0, basic.Prepare{Slot: 1, Ballot: b}))
	noVote(step(0, basic.Accept{Slot: 1, Ballot: b, Value: val(1)}))
	w.Propose(val(7)[0]) // queued, not proposed
	for i := 0; i < 100; i++ {
		w.Tick()
		noVote(w.Ready())
	}

	again, err := basic.New(paxos.Config{ID: 2, N: 3, Restore: &paxos.Persisted{Records: persisted}})
	require.NoError(t, err)
	require.True(t, again.(*basic.Replica).Rebuilding(), "a crash mid-rebuild resumes rebuilding without Config.Rebuild")

	noVote(step(0, basic.RebuildInfo{MaxSlot: 2}))
	noVote(step(1, basic.RebuildInfo{MaxSlot: 1}))
	require.True(t, w.Rebuilding())
	noVote(step(0, basic.Commit{Slot: 1, Value: val(1)}))
	var ask []basic.CatchUp
	for i := 0; i < 20 && len(ask) == 0; i++ {
		w.Tick()
		rd := w.Ready()
		noVote(rd)
		ask = sentOf[basic.CatchUp](rd)
	}
	require.NotEmpty(t, ask, "it asks for the decisions up to H = 2")
	require.Equal(t, uint64(2), ask[0].To)
	// The decided slot 1 is answered with its decision, not a vote.
	rd = step(1, basic.Prepare{Slot: 1, Ballot: basic.Ballot{Round: 3, Node: 1}})
	noVote(rd)
	require.Len(t, sentOf[basic.Commit](rd), 1)

	noVote(step(0, basic.Learned{Entries: []basic.Entry{{Slot: 2, Value: val(2)}}, MaxLearned: 2}))
	for i := 0; i < 20 && w.Rebuilding(); i++ {
		w.Tick()
		rd = w.Ready()
		persisted = append(persisted, rd.Persist...)
	}
	require.False(t, w.Rebuilding(), "every slot up to H decided: the rebuild is complete")
	require.Contains(t, persisted, any(basic.RebuildRecord{Done: true}))
	own := sentOf[basic.Prepare](rd)
	require.NotEmpty(t, own, "the queued command is proposed once the rebuild is complete")
	for _, p := range own {
		require.Greater(t, p.Slot, uint64(2), "above every slot it may have voted in")
	}

	// It votes now, in a slot it has not touched.
	rd = step(1, basic.Prepare{Slot: 5, Ballot: basic.Ballot{Round: 2, Node: 1}})
	require.Len(t, sentOf[basic.Promise](rd), 1)
}

func TestRebuildRefusedForOneReplica(t *testing.T) {
	_, err := basic.New(paxos.Config{ID: 0, N: 1, Rebuild: true})
	require.ErrorIs(t, err, paxos.ErrConfig)
}
