package basic

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// A forged message about a slot far ahead of the replica's execution point
// (the probe that sent a Multi-Paxos Commit for slot 4,000,000) is refused as
// malformed and counted, without creating a slot or moving the slot a new
// proposal takes; so are out-of-range ballots and oversize values. Slot
// hints (MaxSlot, MaxLearned) are trusted only up to the window; a
// snapshot index or rebuild answer above paxos.MaxSlot is refused. The
// replica stays usable.
func TestForgedFarAheadRefused(t *testing.T) {
	rep, err := New(paxos.Config{N: 3, ID: 1})
	require.NoError(t, err)
	r := rep.(*Replica)
	v := []paxos.Command{{Client: 9, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "pwned"}}
	far := uint64(4_000_000)
	b := Ballot{Round: 1, Node: 0}
	for _, body := range []any{
		Commit{Slot: far, Value: v},
		Accept{Slot: far, Ballot: b, Value: v},
		Prepare{Slot: far, Ballot: b},
		Accepted{Slot: far, Ballot: b},
		Learned{Entries: []Entry{{Slot: far, Value: v}}, MaxLearned: far},
		Accept{Slot: 1, Ballot: Ballot{Round: paxos.MaxRound + 1, Node: 0}, Value: v},
		Promise{Slot: 1, Ballot: b, Accepted: Ballot{Round: 1, Node: 7}, Value: v},
		Nack{Slot: 1, Ballot: b, Phase: 1, Promised: Ballot{Round: 2, Node: -1}},
		Accept{Slot: 1, Ballot: b, Value: append(v, v...)}, // Batch is 1
		InstallSnapshot{Snapshot: Snapshot{Index: paxos.MaxSlot + 1}},
		RebuildInfo{MaxSlot: math.MaxUint64}, // would make a new proposal's slot wrap to 0
	} {
		err := r.Step(paxos.Message{From: 0, To: 1, Body: body})
		require.ErrorIs(t, err, paxos.ErrMalformed, "%T %+v", body, body)
	}
	assert.Empty(t, r.slots, "no slot was created")
	assert.Zero(t, r.maxSlot)
	assert.Zero(t, r.maxLearned)
	assert.Equal(t, uint64(11), r.Coverage()[paxos.CoverageRefused])

	// Hints beyond the window are clamped, not trusted.
	require.NoError(t, r.Step(paxos.Message{From: 2, To: 1, Body: Nack{Slot: 1, Ballot: b, Phase: 1, Promised: b, MaxSlot: far}}))
	require.NoError(t, r.Step(paxos.Message{From: 2, To: 1, Body: Learned{MaxLearned: far}}))
	assert.Equal(t, r.horizon(), r.maxSlot)
	assert.Equal(t, r.horizon(), r.peerLearned)
	assert.Less(t, r.horizon(), far)

	// Still usable: an honest Accept for slot 1 is accepted.
	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: Accept{Slot: 1, Ballot: b, Value: v}}))
	rd := r.Ready()
	require.NotEmpty(t, rd.Messages)
	assert.Equal(t, Accepted{Slot: 1, Ballot: b}, rd.Messages[0].Body)
}
