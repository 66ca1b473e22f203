package epaxos

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The probe's forged Commit for instance (4, 200000) made every replica
// create the 200,000 instances below it (500 MB, a 110 s stall while they
// were recovered). It is refused as malformed and counted, with nothing
// created; so are dependencies that far ahead, ballots naming no replica
// or an absurd round, oversize batches and seqs near overflow. The replica
// stays usable, and an honest commit is taken.
func TestForgedFarAheadRefused(t *testing.T) {
	r, err := NewReplica(paxos.Config{N: 5, ID: 0})
	require.NoError(t, err)
	v := []paxos.Command{{Client: 9, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "evil"}}
	deps := func(d ...uint64) []uint64 { return append(d, make([]uint64, 5-len(d))...) }
	far := paxos.Instance{Replica: 4, Slot: 200000}
	one := paxos.Instance{Replica: 4, Slot: 1}
	b := MakeBallot(0, 4)
	for _, body := range []any{
		Commit{Inst: far, Cmds: v, Seq: 1, Deps: deps()},
		PreAccept{Ballot: b, Inst: far, Cmds: v, Seq: 1, Deps: deps()},
		Accept{Ballot: b, Inst: far, Cmds: v, Seq: 1, Deps: deps()},
		Prepare{Ballot: MakeBallot(1, 4), Inst: far},
		TryPreAccept{Ballot: MakeBallot(1, 4), Inst: far, Cmds: v, Seq: 1, Deps: deps()},
		Commit{Inst: one, Cmds: v, Seq: 1, Deps: deps(0, 0, 0, 200000)},
		PreAccept{Ballot: MakeBallot(0, 9), Inst: one, Cmds: v, Seq: 1, Deps: deps()},
		Prepare{Ballot: MakeBallot(paxos.MaxRound+1, 4), Inst: one},
		Commit{Inst: one, Cmds: append(v, v...), Seq: 1, Deps: deps()}, // Batch is 1
		Commit{Inst: one, Cmds: v, Seq: 1 << 63, Deps: deps()},
		PrepareReply{Ballot: MakeBallot(1, 0), Inst: one, Status: 9},
	} {
		err := r.Step(paxos.Message{From: 4, To: 0, Body: body})
		require.ErrorIs(t, err, paxos.ErrMalformed, "%T %+v", body, body)
	}
	assert.Zero(t, r.Stats().Live, "no instance created")
	assert.Zero(t, r.maxSlot[4])
	assert.Equal(t, uint64(11), r.Coverage()[paxos.CoverageRefused])
	assert.Equal(t, uint64(11), r.Stats().Refused)

	// A watermark far ahead is trusted only up to the horizon.
	require.NoError(t, r.Step(paxos.Message{From: 4, To: 0, Body: Watermark{Executed: deps(1<<60, 1<<60, 1<<60, 1<<60, 1<<60)}}))
	assert.Equal(t, r.horizon(0), r.peerExec[4][0])

	// Still usable: an honest commit is taken and executed.
	require.NoError(t, r.Step(paxos.Message{From: 4, To: 0, Body: Commit{Inst: one, Cmds: v, Seq: 1, Deps: deps()}}))
	assert.Equal(t, 1, r.Stats().Live)
	assert.Equal(t, uint64(1), r.Stats().Executed)
}

// A rebuilding replica installs the state one peer sends in its
// RebuildInfo; restoring it creates every instance of a row between the
// garbage-collection point and the highest instance named. A forged state
// naming instance (1, 2^64-1) made that loop never end (the slot counter
// wrapped), one naming (1, 4,000,000) created four million instances, and
// seqs, slots and dependencies near 2^64 in its instances or index would
// make later seqs and slots wrap. Such a state, and a reported highest slot
// above paxos.MaxSlot, is refused as malformed; the replica stays usable
// and still installs an honest state.
func TestForgedRebuildStateRefused(t *testing.T) {
	const n = 5
	honest, err := NewReplica(paxos.Config{N: n, ID: 1})
	require.NoError(t, err)
	v := []paxos.Command{{Client: 9, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "v"}}
	deps := func(d ...uint64) []uint64 { return append(d, make([]uint64, n-len(d))...) }
	require.NoError(t, honest.Step(paxos.Message{From: 4, To: 1, Body: Commit{Inst: paxos.Instance{Replica: 4, Slot: 1}, Cmds: v, Seq: 1, Deps: deps()}}))
	good := honest.snapshot()
	require.NotEmpty(t, good.Instances)

	r, err := NewReplica(paxos.Config{N: n, ID: 0, Rebuild: true})
	require.NoError(t, err)
	inst := func(q paxos.NodeID, s uint64) paxos.Instance { return paxos.Instance{Replica: q, Slot: s} }
	forged := func(change func(s *SnapshotRecord)) *SnapshotRecord {
		s := SnapshotRecord{ExecUpTo: deps(), GCUpTo: deps(),
			Instances: []InstanceRecord{{Inst: inst(4, 1), Status: StatusCommitted, Cmds: v, Seq: 1, Deps: deps()}}}
		change(&s)
		return &s
	}
	for name, state := range map[string]*SnapshotRecord{
		"slot 2^64-1":      forged(func(s *SnapshotRecord) { s.Instances[0].Inst.Slot = math.MaxUint64 }),
		"slot 4,000,000":   forged(func(s *SnapshotRecord) { s.Instances[0].Inst.Slot = 4_000_000 }),
		"seq near 2^64":    forged(func(s *SnapshotRecord) { s.Instances[0].Seq = math.MaxUint64 }),
		"dep far ahead":    forged(func(s *SnapshotRecord) { s.Instances[0].Deps[2] = 1 << 40 }),
		"gc point 2^64-1":  forged(func(s *SnapshotRecord) { s.GCUpTo[0] = math.MaxUint64 }),
		"executed 2^64-1":  forged(func(s *SnapshotRecord) { s.ExecUpTo[3] = math.MaxUint64 }),
		"ballot round":     forged(func(s *SnapshotRecord) { s.Instances[0].Ballot = MakeBallot(paxos.MaxRound+1, 4) }),
		"status":           forged(func(s *SnapshotRecord) { s.Instances[0].Status = 9 }),
		"replica outside":  forged(func(s *SnapshotRecord) { s.Instances[0].Inst.Replica = n }),
		"short watermarks": forged(func(s *SnapshotRecord) { s.GCUpTo = s.GCUpTo[:2] }),
		"index seq near 2^64": forged(func(s *SnapshotRecord) {
			s.Index = map[string]IndexEntry{"k": {Write: deps(1), Read: deps(), WriteSeq: math.MaxUint64}}
		}),
		"index slot far": forged(func(s *SnapshotRecord) {
			s.Index = map[string]IndexEntry{"k": {Write: deps(0, 0, 1<<40), Read: deps()}}
		}),
		"index rows": forged(func(s *SnapshotRecord) { s.Index = map[string]IndexEntry{"k": {Write: deps(1), Read: deps()[:1]}} }),
	} {
		err := r.Step(paxos.Message{From: 4, To: 0, Body: RebuildInfo{MaxSlot: deps(), State: state}})
		require.ErrorIs(t, err, paxos.ErrMalformed, name)
		require.True(t, r.Rebuilding(), name)
		require.False(t, r.rb.installed, name)
		require.Zero(t, r.Stats().Live, name)
	}
	err = r.Step(paxos.Message{From: 4, To: 0, Body: RebuildInfo{MaxSlot: deps(0, 0, 0, 0, paxos.MaxSlot+1)}})
	require.ErrorIs(t, err, paxos.ErrMalformed, "a highest slot above paxos.MaxSlot")
	assert.Equal(t, uint64(14), r.Coverage()[paxos.CoverageRefused])

	// Still usable: the honest state is installed.
	require.NoError(t, r.Step(paxos.Message{From: 1, To: 0, Body: RebuildInfo{MaxSlot: deps(0, 0, 0, 0, 1), State: &good}}))
	assert.True(t, r.rb.installed)
	assert.Equal(t, uint64(1), r.execUpTo[4])
}
