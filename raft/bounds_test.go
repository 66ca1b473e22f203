package raft_test

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/raft"
)

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := paxos.Encode(v)
	require.NoError(t, err)
	return b
}

func wire(t *testing.T, m *pb.Message) paxos.Message {
	t.Helper()
	data, err := proto.Marshal(m)
	require.NoError(t, err)
	return paxos.Message{From: paxos.NodeID(m.GetFrom()) - 1, To: paxos.NodeID(m.GetTo()) - 1, Body: raft.Msg{Data: data}}
}

// Forged raft messages a correct replica never sends are refused, before
// etcd's raft sees them, as paxos.ErrMalformed, and counted: entries and
// commit points far ahead, terms near 2^64, entries out of sequence or
// undecodable, an oversize append, snapshots with absurd metadata or a
// foreign configuration, a heartbeat echo past the reads in flight, a
// vote forced past the leader lease, a message claiming the receiver as
// its sender. Unvalidated, several of them make raft panic (a commit past
// the log, a heartbeat echo past the read queue, an empty proposal) or
// desynchronize its log from the entries' own indexes. The replica keeps
// its log and term, and stays usable.
func TestForgedFarAheadRefused(t *testing.T) {
	r, err := raft.New(paxos.Config{N: 3, ID: 1, InitialLeader: 0})
	require.NoError(t, err)
	rep := r.(*raft.Replica)
	rep.Ready()
	put := paxos.Command{Client: 9, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "pwned"}
	batch := encode(t, raft.Batch{Cmds: []paxos.Command{put}})
	ex := kv.NewExecutor(paxos.Config{N: 3})
	ex.Apply(&put)
	state := encode(t, raft.State{KV: ex.Snapshot()})
	u := func(v uint64) *uint64 { return &v }
	ent := func(i, term uint64, data []byte) *pb.Entry { return &pb.Entry{Index: u(i), Term: u(term), Data: data} }
	snap := func(i, term uint64, voters []uint64, data []byte) *pb.Snapshot {
		return &pb.Snapshot{Data: data, Metadata: &pb.SnapshotMetadata{Index: u(i), Term: u(term), ConfState: &pb.ConfState{Voters: voters}}}
	}
	app := pb.MsgApp.Enum()
	big := make([]*pb.Entry, 300)
	for i := range big {
		big[i] = ent(uint64(i+1), 1, encode(t, raft.Batch{Cmds: []paxos.Command{{Client: 9, Seq: uint64(i + 1), Op: paxos.OpPut, Key: "k", Value: string(make([]byte, 4096))}}}))
	}
	hb := make([]byte, 8)
	binary.LittleEndian.PutUint64(hb, 1<<40)
	forged := []*pb.Message{
		// indexes and terms far ahead, or near 2^64
		{Type: app, From: u(1), To: u(2), Term: u(1), Index: u(math.MaxUint64 - 1), LogTerm: u(1), Entries: []*pb.Entry{ent(math.MaxUint64, 1, batch)}},
		{Type: app, From: u(1), To: u(2), Term: u(math.MaxUint64)},
		{Type: pb.MsgHeartbeat.Enum(), From: u(1), To: u(2), Term: u(1), Commit: u(4_000_000)},
		{Type: pb.MsgVote.Enum(), From: u(1), To: u(2), Term: u(paxos.MaxRound + 1), Index: u(1), LogTerm: u(1)},
		{Type: pb.MsgAppResp.Enum(), From: u(1), To: u(2), Term: u(1), Index: u(math.MaxUint64)},
		// entries out of sequence, of a later term, undecodable, a configuration change, too many
		{Type: app, From: u(1), To: u(2), Term: u(1), Index: u(0), Entries: []*pb.Entry{ent(5, 1, batch)}},
		{Type: app, From: u(1), To: u(2), Term: u(1), Index: u(0), Entries: []*pb.Entry{ent(1, 7, batch)}},
		{Type: app, From: u(1), To: u(2), Term: u(1), Index: u(0), Entries: []*pb.Entry{ent(1, 1, []byte{0xc1, 0xff})}},
		{Type: app, From: u(1), To: u(2), Term: u(1), Index: u(0), Entries: []*pb.Entry{{Index: u(1), Term: u(1), Type: pb.EntryConfChange.Enum(), Data: []byte{1}}}},
		{Type: app, From: u(1), To: u(2), Term: u(1), Index: u(0), Entries: big},
		// snapshots: far past any index, of a later term, another configuration, undecodable state
		{Type: pb.MsgSnap.Enum(), From: u(1), To: u(2), Term: u(1), Snapshot: snap(math.MaxUint64, 1, []uint64{1, 2, 3}, state)},
		{Type: pb.MsgSnap.Enum(), From: u(1), To: u(2), Term: u(1), Snapshot: snap(10, 5, []uint64{1, 2, 3}, state)},
		{Type: pb.MsgSnap.Enum(), From: u(1), To: u(2), Term: u(1), Snapshot: snap(10, 1, []uint64{1}, state)},
		{Type: pb.MsgSnap.Enum(), From: u(1), To: u(2), Term: u(1), Snapshot: snap(10, 1, []uint64{1, 2, 3}, []byte("junk"))},
		// requests no replica of this package sends
		{Type: pb.MsgProp.Enum(), From: u(1), To: u(2)},
		{Type: pb.MsgVote.Enum(), From: u(1), To: u(2), Term: u(2), Context: []byte("CampaignNow")},
		{Type: pb.MsgPreVote.Enum(), From: u(1), To: u(2), Term: u(2), Context: []byte("CampaignTransfer")},
		{Type: pb.MsgTimeoutNow.Enum(), From: u(1), To: u(2), Term: u(1), Context: []byte("CampaignTransfer")},
		{Type: pb.MsgHup.Enum(), From: u(1), To: u(2)},
		{Type: pb.MsgHeartbeat.Enum(), From: u(1), To: u(2), Term: u(1), Context: []byte{1}},
		// the receiver as its own sender
		{Type: app, From: u(2), To: u(2), Term: u(1)},
	}
	for _, m := range forged {
		require.ErrorIs(t, rep.Step(wire(t, m)), paxos.ErrMalformed, "%v", m)
	}
	// A heartbeat echo past the reads this leader has in flight (raft
	// slices its read queue by it) is refused at a leader.
	l, err := raft.New(paxos.Config{N: 3, ID: 0, InitialLeader: 0, LeaseTicks: 3})
	require.NoError(t, err)
	lead := l.(*raft.Replica)
	for round := 0; round < 2; round++ { // pre-vote, then vote
		for _, m := range lead.Ready().Messages {
			if m.To == 1 {
				require.NoError(t, lead.Step(vote(t, m)))
			}
		}
	}
	require.True(t, lead.IsLeader())
	require.ErrorIs(t, lead.Step(wire(t, &pb.Message{Type: pb.MsgHeartbeatResp.Enum(), From: u(2), To: u(1), Term: u(lead.Term()), Context: hb})), paxos.ErrMalformed)
	assert.Equal(t, uint64(1), lead.Coverage()[paxos.CoverageRefused])

	assert.Equal(t, uint64(len(forged)), rep.Coverage()[paxos.CoverageRefused])
	assert.Zero(t, rep.Applied(), "nothing applied")
	assert.Zero(t, rep.Term(), "no term adopted")
	rd := rep.Ready()
	assert.True(t, rd.Empty(), "nothing to persist or send")

	// An append far ahead of the log is not refused: a new leader probes
	// each follower at its own last index, however far behind the follower
	// is. Raft rejects it with a hint at its own last entry; nothing is
	// stored.
	require.NoError(t, rep.Step(wire(t, &pb.Message{Type: app, From: u(1), To: u(2), Term: u(1), Index: u(4_000_000), LogTerm: u(1), Entries: []*pb.Entry{ent(4_000_001, 1, batch)}})))
	rd = rep.Ready()
	require.Len(t, rd.Messages, 1)
	resp := &pb.Message{}
	require.NoError(t, proto.Unmarshal(rd.Messages[0].Body.(raft.Msg).Data, resp))
	assert.True(t, resp.GetReject())
	assert.Zero(t, resp.GetRejectHint())
	assert.Zero(t, rep.Applied())

	// Still usable: the leader's first append is accepted.
	require.NoError(t, rep.Step(wire(t, &pb.Message{Type: app, From: u(1), To: u(2), Term: u(1), Index: u(0), Commit: u(1), Entries: []*pb.Entry{ent(1, 1, batch)}})))
	rd = rep.Ready()
	assert.Len(t, rd.Executed, 1)
	assert.Equal(t, uint64(1), rep.Applied())
}

// vote answers a (pre-)vote request m with a grant from its receiver.
func vote(t *testing.T, m paxos.Message) paxos.Message {
	t.Helper()
	req := &pb.Message{}
	require.NoError(t, proto.Unmarshal(m.Body.(raft.Msg).Data, req))
	typ := pb.MsgVoteResp
	if req.GetType() == pb.MsgPreVote {
		typ = pb.MsgPreVoteResp
	}
	return wire(t, &pb.Message{Type: typ.Enum(), From: req.To, To: req.From, Term: req.Term})
}
