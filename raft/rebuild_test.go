package raft_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/raft"
)

// handNet steps raft replicas by hand: every message is delivered at once
// unless its link is cut (then it is lost).
type handNet struct {
	t       *testing.T
	reps    []paxos.Replica
	cut     map[[2]paxos.NodeID]bool
	decided map[uint64]map[paxos.NodeID]string // index -> replica -> commands
}

func newHandNet(t *testing.T, n int, build func(paxos.Config) (paxos.Replica, error)) *handNet {
	h := &handNet{t: t, cut: map[[2]paxos.NodeID]bool{}, decided: map[uint64]map[paxos.NodeID]string{}}
	for id := 0; id < n; id++ {
		r, err := build(paxos.Config{ID: paxos.NodeID(id), N: n, InitialLeader: 0, Seed: 3})
		require.NoError(t, err)
		h.reps = append(h.reps, r)
	}
	return h
}

// isolate cuts (or, with on false, restores) every link of replica id.
func (h *handNet) isolate(id paxos.NodeID, on bool) {
	for o := range h.reps {
		h.cut[[2]paxos.NodeID{id, paxos.NodeID(o)}] = on
		h.cut[[2]paxos.NodeID{paxos.NodeID(o), id}] = on
	}
}

func (h *handNet) link(a, b paxos.NodeID, on bool) {
	h.cut[[2]paxos.NodeID{a, b}], h.cut[[2]paxos.NodeID{b, a}] = !on, !on
}

// settle delivers messages until none is left.
func (h *handNet) settle() {
	for round := 0; round < 1000; round++ {
		var msgs []paxos.Message
		for id, r := range h.reps {
			rd := r.Ready()
			for _, d := range rd.Decided {
				if h.decided[d.Instance.Slot] == nil {
					h.decided[d.Instance.Slot] = map[paxos.NodeID]string{}
				}
				h.decided[d.Instance.Slot][paxos.NodeID(id)] = commandsString(d.Commands)
			}
			msgs = append(msgs, rd.Messages...)
		}
		if len(msgs) == 0 {
			return
		}
		for _, m := range msgs {
			if !h.cut[[2]paxos.NodeID{m.From, m.To}] {
				require.NoError(h.t, h.reps[m.To].Step(m))
			}
		}
	}
	h.t.Fatal("messages still flowing after 1000 rounds")
}

func (h *handNet) tick(times int) {
	for i := 0; i < times; i++ {
		for _, r := range h.reps {
			r.Tick()
		}
		h.settle()
	}
}

// conflicts lists the log indexes two replicas decided differently.
func (h *handNet) conflicts() []string {
	var out []string
	for idx, by := range h.decided {
		seen := ""
		for _, cmds := range by {
			if seen != "" && cmds != seen {
				out = append(out, fmt.Sprintf("index %d: %v", idx, by))
				break
			}
			seen = cmds
		}
	}
	return out
}

// lostDisk plays the schedule a replica that forgot its acknowledgement can
// break (N = 3): leader 0 commits a put with replica 1's acknowledgement
// while replica 2 is cut off; replica 1 loses its disk and restarts with
// build; then leader 0 is cut off and replica 2, which never saw the put,
// campaigns. It returns the net after 100 more ticks.
func lostDisk(t *testing.T, build func(paxos.Config) (paxos.Replica, error)) *handNet {
	h := newHandNet(t, 3, raft.New)
	h.settle()
	h.tick(3)
	require.True(t, h.reps[0].(*raft.Replica).IsLeader())
	h.link(0, 2, false)
	h.reps[0].Propose(paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "x", Value: "1"})
	h.tick(2)
	require.NotEmpty(t, h.decided, "the put committed through replicas 0 and 1")

	w, err := build(paxos.Config{ID: 1, N: 3, InitialLeader: 0, Seed: 4, Rebuild: true})
	require.NoError(t, err)
	h.reps[1] = w
	h.isolate(0, true)
	h.reps[2].Propose(paxos.Command{Client: 2, Seq: 1, Op: paxos.OpPut, Key: "x", Value: "2"})
	h.tick(100)
	return h
}

// TestLostDiskVotesAtOnceLosesACommit is the schedule's negative: a
// replica that ignores Config.Rebuild votes on empty storage, elects the
// replica that never saw the committed put, and that index is decided
// twice.
func TestLostDiskVotesAtOnceLosesACommit(t *testing.T) {
	m, err := paxos.LookupMutant("raft/wiped-votes-at-once")
	require.NoError(t, err)
	h := lostDisk(t, m.New)
	assert.True(t, h.reps[2].(*raft.Replica).IsLeader(), "replica 2 elected with the wiped replica's vote")
	assert.NotEmpty(t, h.conflicts(), "an index decided twice")
}

// TestRebuildingReplicaDoesNotVote runs the same schedule with Rebuild: the
// wiped replica sends no vote, so replica 2 is not elected while leader 0
// is cut off; once 0 is back the wiped replica learns the term and the log
// from its peers, holds the committed put, and finishes rebuilding. After
// that it votes again, but never at a term up to the bound it learned.
func TestRebuildingReplicaDoesNotVote(t *testing.T) {
	h := lostDisk(t, raft.New)
	w := h.reps[1].(*raft.Replica)
	assert.False(t, h.reps[2].(*raft.Replica).IsLeader())
	assert.True(t, w.Rebuilding())
	assert.Empty(t, h.conflicts())

	h.isolate(0, false)
	for i := 0; i < 200 && w.Rebuilding(); i++ {
		h.tick(1)
	}
	require.False(t, w.Rebuilding(), "the rebuild finished once the peers answered")
	require.NotEmpty(t, h.decided[2][0])
	assert.Equal(t, h.decided[2][0], h.decided[2][1], "the wiped replica learned the put committed at index 2")
	assert.Contains(t, h.decided[2][1], "put x 1")
	assert.Empty(t, h.conflicts())

	// After the rebuild it votes, but not at a term up to its bound.
	term := w.Term()
	require.Positive(t, term)
	old := &pb.Message{Type: pb.MsgVote.Enum(), From: new(uint64(3)), To: new(uint64(2)), Term: new(term), Index: new(uint64(1000)), LogTerm: new(term)}
	data, err := proto.Marshal(old)
	require.NoError(t, err)
	require.NoError(t, w.Step(paxos.Message{From: 2, To: 1, Body: raft.Msg{Data: data}}))
	for _, m := range w.Ready().Messages {
		if b, ok := m.Body.(raft.Msg); ok {
			var out pb.Message
			require.NoError(t, proto.Unmarshal(b.Data, &out))
			assert.NotEqual(t, pb.MsgVoteResp, out.GetType(), "no answer to a vote at term %d", term)
		}
	}
	h.tick(50)
	assert.Empty(t, h.conflicts())
}

// watched records the raft messages a replica sends while it rebuilds.
type watched struct {
	*raft.Replica
	sent map[pb.MessageType]int
}

func (w *watched) Ready() paxos.Ready {
	rebuilding := w.Rebuilding()
	rd := w.Replica.Ready()
	if rebuilding {
		for _, m := range rd.Messages {
			if b, ok := m.Body.(raft.Msg); ok {
				var out pb.Message
				if proto.Unmarshal(b.Data, &out) == nil {
					w.sent[out.GetType()]++
				}
			}
		}
	}
	return rd
}

// TestWipeFaultRaft runs the checker's wipe fault on raft and checks that a
// rebuilding replica sends no vote, no vote request, no append or heartbeat
// and no leadership transfer, and that rebuilds finish.
func TestWipeFaultRaft(t *testing.T) {
	sent := map[pb.MessageType]int{}
	build := func(cfg paxos.Config) (paxos.Replica, error) {
		r, err := raft.New(cfg)
		if err != nil {
			return nil, err
		}
		return &watched{Replica: r.(*raft.Replica), sent: sent}, nil
	}
	rebuilds := 0
	for _, n := range []int{3, 5} {
		for seed := uint64(1); seed <= 5; seed++ {
			res, err := check.Run(check.Options{New: build, Replicas: n, Seed: seed, Faults: []string{check.FaultWipe}})
			require.NoError(t, err)
			require.True(t, res.OK(), "n=%d seed %d: %v", n, seed, res.Failures)
			rebuilds += int(res.Coverage["rebuilds"])
		}
	}
	assert.Positive(t, rebuilds)
	for _, typ := range []pb.MessageType{pb.MsgVote, pb.MsgPreVote, pb.MsgVoteResp, pb.MsgPreVoteResp,
		pb.MsgApp, pb.MsgHeartbeat, pb.MsgSnap, pb.MsgTimeoutNow} {
		assert.Zero(t, sent[typ], "a rebuilding replica sent %s", typ)
	}
	assert.Positive(t, sent[pb.MsgAppResp], "it acknowledges a leader's appends while it catches up")
	t.Logf("%d rebuilds; sent while rebuilding: %v", rebuilds, sent)
}

// commandsString formats cmds for comparison and search, every field of
// each command in a fixed order ("put x 1" for a Put of x = 1), whatever
// the order of paxos.Command's fields.
func commandsString(cmds []paxos.Command) string {
	var b strings.Builder
	for i, c := range cmds {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "{%d %d %v %s %s %v %v %v}", c.Client, c.Seq, c.Op, c.Key, c.Value, c.Payload, c.Keys, c.ReadOnly)
	}
	return "[" + b.String() + "]"
}
