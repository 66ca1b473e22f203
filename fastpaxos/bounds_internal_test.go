package fastpaxos

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/fuzzin"
)

// TestForgedFarAheadRefused feeds a follower messages no correct peer sends:
// slots far beyond its window, ballots of no replica or of an unreachable
// round, values of two commands, oversize lists, a message claiming to come
// from the follower itself. Each is refused as malformed, nothing is stored
// or sent, each is counted, and the replica stays usable.
func TestForgedFarAheadRefused(t *testing.T) {
	r, err := newReplica(paxos.Config{N: 3, ID: 1, InitialLeader: 0}, bugs{})
	require.NoError(t, err)
	r.Ready()
	v := []paxos.Command{put(9, "pwned")}
	b := Ballot{Round: 1, Node: 0}
	far := uint64(4_000_000)
	many := make([]Vote, maxCatchUp+1)
	for i := range many {
		many[i] = Vote{Slot: uint64(i + 1), Decided: true, Value: v}
	}
	bodies := []any{
		Commit{Slot: far, Value: v},
		Propose{Slot: far, Ballot: b, Value: v},
		Accept{Slot: far, Ballot: b, Value: v},
		Voted{Vote: Vote{Slot: far, Ballot: b, Value: v}},
		Recover{Slot: far, Ballot: Ballot{Round: 1, Node: 0, Sub: 1}},
		Report{Ballot: Ballot{Round: 1, Node: 0, Sub: 1}, Vote: Vote{Slot: far}},
		Learned{Votes: []Vote{{Slot: far, Decided: true, Value: v}}},
		Promise{Ballot: b, Votes: []Vote{{Slot: 1 << 62, Ballot: b, Value: v}}},
		Commit{Slot: 1, Value: append(v, v...)},                               // more than Batch = 1
		Learned{Votes: many},                                                  // more than a catch-up carries
		Prepare{Ballot: Ballot{Round: 2, Node: 9}},                            // no such replica
		Any{Ballot: Ballot{Round: paxos.MaxRound + 1, Node: 0}, MaxSlot: far}, // unreachable round
		Nack{Ballot: b, Promised: Ballot{Round: 1 << 62, Node: 0}},
		Voted{Vote: Vote{Slot: 1, Value: v}}, // a vote at no ballot
		RebuildInfo{Term: b, MaxSlot: 1 << 63},
		RebuildInfo{Term: Ballot{Round: 1, Node: 0, Sub: 1}}, // a term has Sub 0
	}
	for _, body := range bodies {
		err := r.Step(paxos.Message{From: 0, To: 1, Body: body})
		require.ErrorIs(t, err, paxos.ErrMalformed, "%T", body)
	}
	err = r.Step(paxos.Message{From: 1, To: 1, Body: Commit{Slot: 1, Value: v}})
	require.ErrorIs(t, err, paxos.ErrMalformed, "from the receiver itself")
	assert.Empty(t, r.slots, "nothing stored")
	assert.Zero(t, r.maxSlot)
	assert.Equal(t, b, r.promised, "no ballot adopted")
	assert.Equal(t, uint64(len(bodies)+1), r.Coverage()[paxos.CoverageRefused])
	rd := r.Ready()
	assert.True(t, rd.Empty(), "nothing to persist or send")

	// An honest leader's Any naming a far slot raises maxSlot only to the
	// horizon, and the follower asks to catch up.
	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: Any{Ballot: b, From: 1, MaxSlot: far, Learned: far}}))
	assert.Equal(t, r.horizon(), r.maxSlot)
	rd = r.Ready()
	require.Len(t, rd.Messages, 1)
	assert.Equal(t, CatchUp{From: 1}, rd.Messages[0].Body)

	// Still usable.
	require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: Commit{Slot: 1, Value: v}}))
	assert.Equal(t, uint64(1), r.learnedTo)
}

// A Prepare with From = 1 from a candidate far behind is refused with a
// Nack telling how far the acceptor learned, not answered with the whole
// log; the candidate then catches up from that acceptor, a full answer at a
// time, without a leader.
func TestFarBehindCandidateCatchesUp(t *testing.T) {
	cfg := paxos.Config{N: 3, InitialLeader: 0, Window: 2}
	a, err := newReplica(paxos.Config{N: 3, ID: 0, InitialLeader: 0, Window: 2}, bugs{})
	require.NoError(t, err)
	cfg.ID = 2
	c, err := newReplica(cfg, bugs{})
	require.NoError(t, err)
	a.Ready()
	c.Ready()
	total := uint64(3*maxCatchUp + 5)
	for s := uint64(1); s <= total; s++ {
		a.learn(s, []paxos.Command{put(1, fmt.Sprint(s))}, false, false)
	}
	a.Ready()
	require.Greater(t, a.learnedTo, a.ahead())
	c.campaign()
	deliver := func(from, to *Replica) int {
		rd := from.Ready()
		k := 0
		for _, m := range rd.Messages {
			if m.To == to.id {
				require.NoError(t, to.Step(m))
				k++
			}
		}
		return k
	}
	deliver(c, a)
	rd := a.Ready()
	require.Len(t, rd.Messages, 1)
	nack, ok := rd.Messages[0].Body.(Nack)
	require.True(t, ok, "%T", rd.Messages[0].Body)
	assert.Equal(t, total, nack.Learned)
	assert.NotEqual(t, c.ballot, a.promised, "no promise to a candidate that far behind")
	require.NoError(t, c.Step(rd.Messages[0]))
	for i := 0; i < 10 && c.learnedTo < total; i++ {
		deliver(c, a)
		deliver(a, c)
	}
	assert.Equal(t, total, c.learnedTo)
}

// FuzzStep is fuzzin.Drive over one Fast Paxos replica, leader or
// follower, snapshotting every 4 slots. Beyond what Drive checks, memory stays bounded by the window:
// no slot is stored beyond the horizon (two of them for a new leader,
// which takes over the slots its promisers report), and the leader places no more
// forwarded commands than it may.
func FuzzStep(f *testing.F) {
	fuzzin.AddSeeds(f)
	samples := fuzzin.Samples("fastpaxos.")
	// Drop the durable records: they are not messages.
	kept := samples[:0]
	for _, s := range samples {
		switch s.(type) {
		case PromiseRecord, SlotPromiseRecord, AcceptRecord, DecisionRecord, RebuildRecord:
		default:
			kept = append(kept, s)
		}
	}
	samples = kept
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzin.New(data)
		n := 3 + 2*in.Intn(2)
		cfg := paxos.Config{N: n, ID: paxos.NodeID(in.Intn(n)), InitialLeader: paxos.NodeID(in.Intn(n+1) - 1),
			Window: 4, Batch: 2, SnapshotEvery: 4, RetryTicks: 2, ElectionTicks: 4, Seed: 1,
			Rebuild: in.Intn(4) == 0, Thrifty: in.Intn(2) == 0}
		r, err := newReplica(cfg, bugs{})
		require.NoError(t, err)
		require.NoError(t, in.Drive(r, n, cfg.Batch, 400, samples, nil, func(int) error {
			h := fuzzin.AddCapped(r.horizon(), r.ahead()+1)
			if r.maxSlot > h {
				return fmt.Errorf("highest slot %d beyond the horizon %d", r.maxSlot, h)
			}
			for s := range r.slots {
				if s > h {
					return fmt.Errorf("slot %d beyond the horizon %d", s, h)
				}
			}
			if len(r.placing) > r.cfg.Window+maxCatchUp {
				return fmt.Errorf("placing %d commands", len(r.placing))
			}
			return nil
		}))
	})
}
