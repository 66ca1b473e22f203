package multi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/multi"
)

// The probe's forged Commit for slot 4,000,000 (inside the old 4M "max
// ahead" bound, it grew the log to 4.4 GB) is refused as malformed and
// counted without growing the log; so are ballots naming no replica or an
// absurd round, and oversize batches, forwards and catch-ups. The replica
// stays usable.
func TestForgedFarAheadRefused(t *testing.T) {
	r, err := multi.New(paxos.Config{N: 3, ID: 1, InitialLeader: 0})
	require.NoError(t, err)
	m := r.(*multi.Replica)
	m.Ready()
	v := []paxos.Command{put(9, 1, "k", "pwned")}
	b := multi.Ballot{Round: 1, Node: 0}
	many := make([]paxos.Command, 5000)
	for i := range many {
		many[i] = put(9, uint64(i+1), "k", "v")
	}
	entries := make([]multi.Entry, 513)
	for i := range entries {
		entries[i] = multi.Entry{Slot: uint64(i + 1), Ballot: b, Cmds: v}
	}
	for _, body := range []any{
		multi.Commit{Ballot: b, Slot: 4_000_000, Cmds: v},
		multi.Accept{Ballot: b, Slot: 4_000_000, Cmds: v},
		multi.CatchUp{Ballot: b, Entries: []multi.Entry{{Slot: 4_000_000, Ballot: b, Cmds: v}}},
		multi.Commit{Ballot: multi.Ballot{Round: 2, Node: 9}, Slot: 1, Cmds: v},
		multi.Commit{Ballot: multi.Ballot{Round: paxos.MaxRound + 1, Node: 0}, Slot: 1, Cmds: v},
		multi.InstallSnapshot{Ballot: multi.Ballot{Round: 2, Node: -3}},
		multi.Nack{Promised: multi.Ballot{Round: 1 << 62, Node: 0}},
		multi.Commit{Ballot: b, Slot: 1, Cmds: append(v, v...)}, // Batch is 1
		multi.Forward{Cmds: many},                  // more than max(Window, Batch)
		multi.CatchUp{Ballot: b, Entries: entries}, // more than one catch-up carries
		multi.HeartbeatReply{Ballot: b, Tick: 99},  // a tick this replica never sent
	} {
		err := m.Step(paxos.Message{From: 0, To: 1, Body: body})
		require.ErrorIs(t, err, paxos.ErrMalformed, "%T", body)
	}
	assert.Zero(t, m.LogLen(), "nothing stored")
	assert.Zero(t, m.Executed())
	assert.Equal(t, b, m.Ballot(), "no ballot adopted")
	assert.Equal(t, uint64(11), m.Coverage()[paxos.CoverageRefused])
	rd := m.Ready()
	assert.True(t, rd.Empty(), "nothing to persist or send")

	// Still usable.
	require.NoError(t, m.Step(paxos.Message{From: 0, To: 1, Body: multi.Commit{Ballot: b, Slot: 1, Cmds: v}}))
	assert.Equal(t, uint64(1), m.Executed())
}

// A rebuilding replica ends its rebuild once it executed past the highest
// slot its peers report. A report above paxos.MaxSlot (2^64-1 kept it
// rebuilding for good) is refused as malformed, like the same report in
// basic and fastpaxos; an honest answer still counts.
func TestForgedRebuildAnswerRefused(t *testing.T) {
	r, err := multi.New(paxos.Config{N: 3, ID: 2, InitialLeader: 0, Rebuild: true})
	require.NoError(t, err)
	m := r.(*multi.Replica)
	m.Ready()
	err = m.Step(paxos.Message{From: 0, To: 2, Body: multi.RebuildInfo{Last: paxos.MaxSlot + 1}})
	require.ErrorIs(t, err, paxos.ErrMalformed)
	assert.Equal(t, uint64(1), m.Coverage()[paxos.CoverageRefused])

	// Still usable: honest answers from both peers end the rebuild once
	// the replica executed past them.
	v := []paxos.Command{put(9, 1, "k", "v")}
	b := multi.Ballot{Round: 1, Node: 0}
	require.NoError(t, m.Step(paxos.Message{From: 0, To: 2, Body: multi.RebuildInfo{Promised: b}}))
	require.NoError(t, m.Step(paxos.Message{From: 1, To: 2, Body: multi.RebuildInfo{Promised: b}}))
	require.NoError(t, m.Step(paxos.Message{From: 0, To: 2, Body: multi.Commit{Ballot: b, Slot: 1, Cmds: v}}))
	m.Tick()
	assert.Equal(t, uint64(1), m.Executed())
	assert.False(t, m.Rebuilding())
}
