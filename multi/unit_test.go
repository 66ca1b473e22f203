package multi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/multi"
	"github.com/paxos-lab/paxos/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCodecRoundTrip(t *testing.T) {
	store := kv.NewExecutor(paxos.Config{})
	store.Apply(new(put(3, 1, "a", "1")))
	store.Apply(new(put(3, 3, "b", "2"))) // a gap in the session: Done map kept
	cmds := []paxos.Command{put(1, 2, "k", "v")}
	b := multi.Ballot{Round: 4, Node: 2}
	snap := multi.Snapshot{Index: 9, KV: store.Snapshot()}
	for _, v := range []any{
		multi.Prepare{Ballot: b, Commit: 3},
		multi.Promise{Ballot: b, Entries: []multi.Entry{{Slot: 4, Ballot: b, Cmds: cmds, Committed: true}}, Snapshot: &snap},
		multi.Accept{Ballot: b, Slot: 5, Cmds: cmds},
		multi.Accepted{Ballot: b, Slot: 5},
		multi.Commit{Ballot: b, Slot: 5, Cmds: cmds},
		multi.Chosen{Ballot: b, Slot: 5},
		multi.Nack{Promised: b},
		multi.Heartbeat{Ballot: b, Commit: 5, Tick: 77},
		multi.HeartbeatReply{Ballot: b, Executed: 4, Commit: 5, Tick: 77},
		multi.Forward{Cmds: cmds},
		multi.CatchUp{Ballot: b, Entries: []multi.Entry{{Slot: 1, Ballot: b, Cmds: cmds}}},
		multi.InstallSnapshot{Ballot: b, Snapshot: snap},
		multi.PromiseRecord{Ballot: b},
		multi.AcceptRecord{Slot: 5, Ballot: b, Cmds: cmds},
		multi.SnapshotRecord{Promised: b, Snapshot: snap, Entries: []multi.Entry{{Slot: 10, Ballot: b, Cmds: cmds}}},
	} {
		data, err := paxos.EncodeMessage(paxos.Message{From: 1, To: 2, Body: v})
		require.NoError(t, err, "%T", v)
		m, err := paxos.DecodeMessage(data)
		require.NoError(t, err, "%T", v)
		assert.Equal(t, v, m.Body, "%T", v)
	}
	// The restored store answers like the original.
	got, err := kv.ExecutorFromSnapshot(paxos.Config{}, snap.KV)
	require.NoError(t, err)
	ex, done := got.Executed(new(put(3, 3, "b", "2")))
	assert.True(t, done)
	assert.Equal(t, "", ex.Output)
	_, done = got.Executed(new(put(3, 2, "b", "2")))
	assert.False(t, done)
}

func TestMalformedMessages(t *testing.T) {
	r, err := multi.New(paxos.Config{N: 3, ID: 1, InitialLeader: 0})
	require.NoError(t, err)
	b := multi.Ballot{Round: 1, Node: 0}
	for _, m := range []paxos.Message{
		{From: 0, To: 2, Body: multi.Heartbeat{Ballot: b}},                                  // not for us
		{From: 7, To: 1, Body: multi.Heartbeat{Ballot: b}},                                  // no such sender
		{From: 1, To: 1, Body: multi.Heartbeat{Ballot: b}},                                  // from ourselves
		{From: 0, To: 1, Body: "hello"},                                                     // unknown body
		{From: 0, To: 1, Body: multi.Accept{Ballot: b, Slot: 0, Cmds: []paxos.Command{{}}}}, // slot 0
		{From: 0, To: 1, Body: multi.Accept{Ballot: b, Slot: 3}},                            // no value
		{From: 2, To: 1, Body: multi.Accept{Ballot: b, Slot: 3, Cmds: []paxos.Command{{}}}}, // not the ballot's leader
		{From: 0, To: 1, Body: multi.Accept{Ballot: b, Slot: 1 << 40, Cmds: []paxos.Command{{}}}},
		{From: 0, To: 1, Body: multi.Forward{}},
		{From: 0, To: 1, Body: multi.CatchUp{Ballot: b, Entries: []multi.Entry{{Slot: 2}}}},
	} {
		err := r.Step(m)
		require.ErrorIs(t, err, paxos.ErrMalformed, "%+v", m)
	}
	// Still usable.
	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: multi.Accept{Ballot: b, Slot: 1, Cmds: []paxos.Command{put(1, 1, "a", "b")}}}))
	rd := r.Ready()
	require.Len(t, rd.Messages, 1)
	assert.Equal(t, multi.Accepted{Ballot: b, Slot: 1}, rd.Messages[0].Body)
	assert.Equal(t, []any{multi.PromiseRecord{Ballot: b}, multi.AcceptRecord{Slot: 1, Ballot: b, Cmds: []paxos.Command{put(1, 1, "a", "b")}}}, rd.Persist,
		"the accept is persisted in the same Ready as the reply")
}

func TestStaleAcceptRejected(t *testing.T) {
	r, err := multi.New(paxos.Config{N: 3, ID: 1, InitialLeader: 0})
	require.NoError(t, err)
	r.Ready()
	high := multi.Ballot{Round: 5, Node: 2}
	require.NoError(t, r.Step(paxos.Message{From: 2, To: 1, Body: multi.Prepare{Ballot: high}}))
	rd := r.Ready()
	assert.Equal(t, []any{multi.PromiseRecord{Ballot: high}}, rd.Persist)
	require.Len(t, rd.Messages, 1)
	assert.IsType(t, multi.Promise{}, rd.Messages[0].Body)
	for _, body := range []any{
		multi.Accept{Ballot: multi.Ballot{Round: 1, Node: 0}, Slot: 1, Cmds: []paxos.Command{put(1, 1, "a", "b")}},
		multi.Commit{Ballot: multi.Ballot{Round: 1, Node: 0}, Slot: 1, Cmds: []paxos.Command{put(1, 1, "a", "b")}},
	} {
		require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: body}))
		rd = r.Ready()
		assert.Empty(t, rd.Persist)
		assert.Empty(t, rd.Decided)
		require.Len(t, rd.Messages, 1)
		assert.Equal(t, multi.Nack{Promised: high}, rd.Messages[0].Body)
		// Refused twice more within the tick: the second refusal is
		// answered, the third is left out (the Nacks sent said it all).
		require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: body}))
		assert.Len(t, r.Ready().Messages, 1)
		require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: body}))
		assert.Empty(t, r.Ready().Messages, "two Nacks per tick and promise")
		r.Tick()
		r.Ready()
	}
	// A higher promise is news: its Nack goes out within the same tick.
	stale := paxos.Message{From: 0, To: 1, Body: multi.Heartbeat{Ballot: multi.Ballot{Round: 1, Node: 0}}}
	for range 2 {
		require.NoError(t, r.Step(stale))
		require.Len(t, r.Ready().Messages, 1)
	}
	higher := multi.Ballot{Round: 6, Node: 2}
	require.NoError(t, r.Step(paxos.Message{From: 2, To: 1, Body: multi.Prepare{Ballot: higher}}))
	r.Ready()
	require.NoError(t, r.Step(stale))
	rd = r.Ready()
	require.Len(t, rd.Messages, 1)
	assert.Equal(t, multi.Nack{Promised: higher}, rd.Messages[0].Body)
}

// A replica down while the others compact their logs comes back and
// catches up through the leader's snapshot.
func TestRestartCatchesUpBySnapshot(t *testing.T) {
	s := newSim(t, 3, paxos.Config{InitialLeader: 0, SnapshotEvery: 10}, nil)
	require.NoError(t, s.Crash(2))
	for site := 0; site < 2; site++ {
		_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: putter(4), Ops: 300})
		require.NoError(t, err)
	}
	s.Run(2 * time.Second)
	leader := rep(s, 0)
	require.Greater(t, leader.SnapshotIndex(), uint64(100))
	require.NoError(t, s.Restart(2))
	s.Run(4 * time.Second)
	r2 := rep(s, 2)
	assert.Equal(t, leader.Executed(), r2.Executed())
	assert.GreaterOrEqual(t, r2.SnapshotIndex(), leader.SnapshotIndex()-10)
	assert.LessOrEqual(t, r2.LogLen(), 20)
	verifyCompacted(t, s)
}

// The same seed gives the same trace, byte for byte, faults and elections
// included: the engine draws randomness only from cfg.Rand and never
// iterates a map to produce output.
func TestDeterministicTrace(t *testing.T) {
	run := func() string {
		var buf strings.Builder
		s, err := sim.New(sim.Config{Protocol: "multi", N: 5, Replica: paxos.Config{InitialLeader: -1, Batch: 3, SnapshotEvery: 20, LeaseTicks: 5},
			Seed: 42, Jitter: 2 * time.Millisecond, Trace: &buf})
		require.NoError(t, err)
		require.NoError(t, s.SetFaults(sim.Faults{Drop: 0.05, Duplicate: 0.05, Reorder: 0.1}))
		for site := 0; site < 5; site++ {
			_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: putter(3), Ops: 40})
			require.NoError(t, err)
		}
		s.At(300*time.Millisecond, func() { _ = s.Crash(1) })
		s.At(700*time.Millisecond, func() { _ = s.Restart(1) })
		s.Run(5 * time.Second)
		return buf.String()
	}
	a, b := run(), run()
	require.NotEmpty(t, a)
	require.Equal(t, a, b)
}
