package fastpaxos_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/fastpaxos"
	"github.com/paxos-lab/paxos/quorum"
)

func TestDefaultQuorums(t *testing.T) {
	for n, want := range map[int][2]int{1: {1, 1}, 3: {2, 3}, 4: {3, 3}, 5: {3, 4}, 7: {4, 6}, 9: {5, 7}} {
		r, err := fastpaxos.New(paxos.Config{N: n, InitialLeader: -1})
		require.NoError(t, err)
		q := r.(*fastpaxos.Replica).Quorums().(quorum.Fast)
		assert.Equal(t, want, [2]int{q.Classic(), q.FastSize()}, "n=%d", n)
		// The defaults meet both rules.
		assert.Greater(t, 2*q.Classic(), n)
		assert.Greater(t, q.Classic()+2*q.FastSize(), 2*n)
	}
}

func TestQuorumSizes(t *testing.T) {
	q, err := quorum.NewFast(5, 5, 3) // 5 + 6 > 10: a larger classic quorum allows a smaller fast one
	require.NoError(t, err)
	_, err = fastpaxos.New(paxos.Config{N: 5, Quorums: q, InitialLeader: -1})
	require.NoError(t, err)

	for _, tc := range []struct {
		n, classic, fast int
		says             string
	}{
		{5, 2, 5, "classic quorum of at least 3"},
		{5, 3, 3, "raise the fast quorum to 4 or the classic quorum to 5"},
		{7, 4, 5, "raise the fast quorum to 6"},
		{5, 0, 4, "must be in 1..5"},
		{5, 3, 6, "must be in 1..5"},
	} {
		err := quorum.CheckFast(tc.n, tc.classic, tc.fast)
		require.Error(t, err, "%+v", tc)
		assert.Contains(t, err.Error(), tc.says)
		_, err = quorum.NewFast(tc.n, tc.classic, tc.fast)
		require.Error(t, err)
	}
	// quorum.Intersects knows the system too (classic quorums meet).
	require.NoError(t, quorum.Intersects(q))
}

func TestConfigRefused(t *testing.T) {
	grid, err := quorum.NewGrid(2, 3)
	require.NoError(t, err)
	for name, cfg := range map[string]paxos.Config{
		"no replicas":     {N: 0},
		"id outside":      {N: 3, ID: 3},
		"rebuild alone":   {N: 1, Rebuild: true},
		"grid quorums":    {N: 6, Quorums: grid},
		"counting q1, q2": {N: 5, Quorums: mustCounting(t, 3, 3)},
	} {
		_, err := fastpaxos.New(cfg)
		require.Error(t, err, name)
		assert.ErrorIs(t, err, paxos.ErrConfig, name)
	}
	_, err = fastpaxos.New(paxos.Config{N: 1, Rebuild: true})
	assert.Contains(t, err.Error(), "classic quorum on its own")
	r, err := fastpaxos.New(paxos.Config{N: 3, Rebuild: true})
	require.NoError(t, err)
	assert.True(t, r.(paxos.Rebuilder).Rebuilding())
}

func mustCounting(t *testing.T, q1, q2 int) quorum.System {
	q, err := quorum.NewCounting(5, q1, q2)
	require.NoError(t, err)
	return q
}

// Malformed messages are refused with an error and leave the replica usable.
func TestBadMessages(t *testing.T) {
	r, err := fastpaxos.New(paxos.Config{N: 3, InitialLeader: 0})
	require.NoError(t, err)
	for _, m := range []paxos.Message{
		{From: 1, To: 2, Body: fastpaxos.Commit{Slot: 1, Value: []paxos.Command{{Op: paxos.OpNop}}}},
		{From: 5, To: 0, Body: fastpaxos.Commit{Slot: 1, Value: []paxos.Command{{Op: paxos.OpNop}}}},
		{From: 1, To: 0, Body: fastpaxos.Commit{Slot: 0, Value: []paxos.Command{{Op: paxos.OpNop}}}},
		{From: 1, To: 0, Body: fastpaxos.Propose{Slot: 1}},
		{From: 1, To: 0, Body: fastpaxos.Voted{}},
		{From: 1, To: 0, Body: fastpaxos.Recover{Slot: 1}},
		{From: 1, To: 0, Body: "hello"},
	} {
		assert.ErrorIs(t, r.Step(m), paxos.ErrMalformed, "%+v", m)
	}
	r.Propose(paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "v"})
	assert.NotEmpty(t, r.Ready().Messages)
}

// Messages and records round-trip through the codec.
func TestCodec(t *testing.T) {
	v := fastpaxos.Vote{Slot: 3, Ballot: fastpaxos.Ballot{Round: 2, Node: 1, Sub: 4}, Fast: true,
		Value: []paxos.Command{{Client: 1, Seq: 2, Op: paxos.OpPut, Key: "k", Value: "v"}}}
	for _, body := range []any{
		fastpaxos.Prepare{Ballot: v.Ballot, From: 3}, fastpaxos.Promise{Ballot: v.Ballot, Votes: []fastpaxos.Vote{v}},
		fastpaxos.Any{Ballot: v.Ballot, From: 4, MaxSlot: 9, Learned: 2}, fastpaxos.Voted{Vote: v},
		fastpaxos.Report{Ballot: v.Ballot, Vote: v}, fastpaxos.AcceptRecord{Vote: v},
		fastpaxos.SlotPromiseRecord{Slot: 3, Ballot: v.Ballot},
	} {
		b, err := paxos.Encode(body)
		require.NoError(t, err)
		got, err := paxos.Decode(b)
		require.NoError(t, err)
		assert.Equal(t, body, got)
	}
}

// A replica restarted from its records keeps its votes and decisions.
func TestRestore(t *testing.T) {
	r, err := fastpaxos.New(paxos.Config{N: 1, InitialLeader: 0})
	require.NoError(t, err)
	var recs []any
	cmd := paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "v"}
	r.Propose(cmd)
	rd := r.Ready()
	recs = append(recs, rd.Persist...)
	require.Len(t, rd.Executed, 1, "a one-replica cluster decides at once")
	r2, err := fastpaxos.New(paxos.Config{N: 1, InitialLeader: 0, Restore: &paxos.Persisted{Records: recs}})
	require.NoError(t, err)
	rd = r2.Ready()
	assert.Len(t, rd.Decided, 1)
	assert.Equal(t, []paxos.Execution{{Command: cmd}}, rd.Executed)
	_, err = fastpaxos.New(paxos.Config{N: 1, Restore: &paxos.Persisted{Records: []any{"junk"}}})
	assert.ErrorIs(t, err, fastpaxos.ErrRestore)
}

// A one-replica cluster with a snapshot every 5 slots keeps a bounded log,
// and a replica restored from its snapshot and the records after it holds
// the same state and answers a client's retry without executing it again.
func TestSnapshotCompactsAndRestores(t *testing.T) {
	cfg := paxos.Config{N: 1, InitialLeader: 0, SnapshotEvery: 5}
	rep, err := fastpaxos.New(cfg)
	require.NoError(t, err)
	r := rep.(*fastpaxos.Replica)
	p := &paxos.Persisted{}
	for i := 1; i <= 23; i++ {
		r.Propose(paxos.Command{Client: 1, Seq: uint64(i), Op: paxos.OpPut, Key: "k", Value: fmt.Sprint("v", i)})
		rd := r.Ready()
		if rd.Snapshot != nil {
			p = &paxos.Persisted{Snapshot: rd.Snapshot}
		}
		p.Records = append(p.Records, rd.Persist...)
		assert.LessOrEqual(t, r.LogLen(), 2*5+1, "log compacted")
	}
	require.Equal(t, uint64(23), r.Executed())
	require.NotNil(t, p.Snapshot)
	assert.Less(t, len(p.Records), 2*5, "records before the snapshot dropped")
	cfg.Restore = p
	rep2, err := fastpaxos.New(cfg)
	require.NoError(t, err)
	r2 := rep2.(*fastpaxos.Replica)
	r2.Ready()
	assert.Equal(t, uint64(23), r2.Executed())
	retry := paxos.Command{Client: 1, Seq: 23, Op: paxos.OpPut, Key: "k", Value: "v23"}
	r2.Propose(retry)
	rd := r2.Ready()
	require.Len(t, rd.Executed, 1)
	assert.True(t, rd.Executed[0].Duplicate, "the dedup sessions survive in the snapshot")
	r2.Propose(paxos.Command{Client: 2, Seq: 1, Op: paxos.OpGet, Key: "k"})
	rd = r2.Ready()
	for i := 0; i < 100 && len(rd.Executed) == 0; i++ { // a restarted replica elects itself first
		r2.Tick()
		rd = r2.Ready()
	}
	require.Len(t, rd.Executed, 1)
	assert.Equal(t, "v23", rd.Executed[0].Output)
}

// With Config.Batch, the commands proposed at a replica between two Ready
// calls go out in one fast-round slot, up to Batch at a time.
func TestBatch(t *testing.T) {
	r, err := fastpaxos.New(paxos.Config{N: 1, InitialLeader: 0, Batch: 3})
	require.NoError(t, err)
	r.Ready()
	for i := 1; i <= 5; i++ {
		r.Propose(paxos.Command{Client: 1 + uint64(i), Seq: 1, Op: paxos.OpPut, Key: "k", Value: fmt.Sprint("v", i)})
	}
	rd := r.Ready()
	var sizes []int
	for _, d := range rd.Decided {
		sizes = append(sizes, len(d.Commands))
	}
	assert.Equal(t, []int{3, 2}, sizes, "five commands fill two slots")
	assert.Len(t, rd.Committed, 5, "each reported committed")
	assert.Len(t, rd.Executed, 5, "and executed")
}
