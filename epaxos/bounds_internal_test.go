package epaxos

import (
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
