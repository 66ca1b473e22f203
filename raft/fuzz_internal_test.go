package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/fuzzin"
	"github.com/paxos-lab/paxos/kv"
)

// fuzzMsg builds a raft message for replica to (raft ids are replica ids
// plus one) from the input: any type (peer, local, unknown), a sender that
// is usually the envelope's, terms and indexes biased toward the
// receiver's state and the edges of uint64, entries that usually follow
// the message's index (holding a batch, nothing, or garbage), a snapshot
// whose metadata and data may be absurd, contexts of any length. Now and
// then the bytes are not a raft message at all.
func fuzzMsg(in *fuzzin.Input, from, to paxos.NodeID, n int, term, last uint64, samples [][]byte) []byte {
	if in.Intn(32) == 0 {
		b := make([]byte, in.Intn(24))
		for i := range b {
			b[i] = in.Byte()
		}
		return b
	}
	m := &pb.Message{}
	types := []pb.MessageType{pb.MsgApp, pb.MsgAppResp, pb.MsgHeartbeat, pb.MsgHeartbeatResp, pb.MsgVote,
		pb.MsgVoteResp, pb.MsgPreVote, pb.MsgPreVoteResp, pb.MsgSnap, pb.MsgProp, pb.MsgReadIndex, pb.MsgReadIndexResp}
	if c := in.Intn(32); c < 30 {
		m.Type = types[c%len(types)].Enum()
	} else {
		m.Type = pb.MessageType(in.Intn(24)).Enum() // local, transfer and unknown types too
	}
	m.From = new(uint64(from) + 1)
	m.To = new(uint64(to) + 1)
	if in.Intn(16) == 0 {
		m.From = new(uint64(in.Node(n)) + 1)
	}
	m.Term = new(near(in, term))
	m.LogTerm = new(near(in, term-min(term, 1)))
	m.Index = new(near(in, last))
	m.Commit = new(near(in, last))
	m.Reject = new(in.Bool())
	m.RejectHint = new(near(in, last))
	t := m.GetType()
	hb := t == pb.MsgHeartbeat || t == pb.MsgHeartbeatResp
	if c := in.Intn(8); c > 4 || (hb && c > 0) {
		ctx := make([]byte, []int{0, 8, 8, 8, 16, 8, 7, 3}[c])
		if len(ctx) == 8 {
			binary.LittleEndian.PutUint64(ctx, near(in, 1))
		}
		m.Context = ctx
	}
	if t == pb.MsgProp || t == pb.MsgReadIndex {
		if in.Intn(8) > 0 {
			m.Term = nil
		}
		m.LogTerm, m.Index = nil, nil
	}
	ne := 0
	switch {
	case t == pb.MsgApp:
		ne = in.Intn(5)
	case t == pb.MsgProp || t == pb.MsgReadIndex || t == pb.MsgReadIndexResp:
		ne = 1
		if in.Intn(8) == 0 {
			ne = in.Intn(3)
		}
	case in.Intn(16) == 0:
		ne = in.Intn(3)
	}
	idx, et := m.GetIndex(), m.GetLogTerm()
	for i := 0; i < ne; i++ {
		e := &pb.Entry{}
		if t == pb.MsgProp || t == pb.MsgReadIndex || t == pb.MsgReadIndexResp {
			if in.Intn(8) == 0 {
				e.Index, e.Term = new(in.Uint64()), new(in.Uint64())
			}
		} else if in.Intn(4) > 0 {
			idx++
			if et < m.GetTerm() {
				et += uint64(in.Intn(2))
			}
			e.Index = new(idx)
			e.Term = new(et)
		} else {
			e.Index = new(in.Uint64())
			e.Term = new(in.Uint64())
		}
		if in.Intn(16) == 0 {
			e.Type = pb.EntryType(in.Intn(4)).Enum()
		}
		switch in.Intn(4) {
		case 0: // an empty entry, or a ReadIndex context
			if t != pb.MsgApp {
				e.Data = make([]byte, 16)
			}
		case 1:
			d := make([]byte, in.Intn(12))
			for j := range d {
				d[j] = in.Byte()
			}
			e.Data = d
		default:
			e.Data = samples[in.Intn(len(samples))]
		}
		m.Entries = append(m.Entries, e)
	}
	if t == pb.MsgSnap || in.Intn(32) == 0 {
		md := &pb.SnapshotMetadata{}
		md.Index = new(near(in, last+4))
		md.Term = new(near(in, m.GetTerm()))
		cs := &pb.ConfState{}
		for i := 1; i <= n; i++ {
			cs.Voters = append(cs.Voters, uint64(i))
		}
		if in.Intn(8) == 0 {
			cs.Voters = cs.Voters[:in.Intn(n)]
		}
		if in.Intn(8) == 0 {
			cs.Learners = []uint64{uint64(in.Intn(n + 2))}
		}
		md.ConfState = cs
		s := &pb.Snapshot{}
		s.Metadata = md
		if in.Intn(4) > 0 {
			s.Data = samples[len(samples)-1] // a State
		} else {
			s.Data = []byte{in.Byte(), in.Byte()}
		}
		m.Snapshot = s
	}
	data, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return data
}

// near returns a number close to v most often (v-1..v+2), else one of
// fuzzin's.
func near(in *fuzzin.Input, v uint64) uint64 {
	if c := in.Intn(8); c < 4 {
		return max(v+uint64(c), 1) - 1
	}
	return in.Uint64()
}

// fuzzPayloads are entry and snapshot payloads: batches (of one and of two
// commands, over the fuzz batch of 1, and of no command), a value of
// another type, and last a State.
func fuzzPayloads(t *testing.T) [][]byte {
	var out [][]byte
	put := paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "k0", Value: "v"}
	for _, v := range []any{Batch{Cmds: []paxos.Command{put}}, Batch{Cmds: []paxos.Command{{Op: paxos.OpNop}}},
		Batch{Cmds: []paxos.Command{put, put}}, Batch{}, Msg{}} {
		b, err := paxos.Encode(v)
		require.NoError(t, err)
		out = append(out, b)
	}
	ex := kv.NewExecutor(paxos.Config{N: 3})
	ex.Apply(&put)
	b, err := paxos.Encode(State{KV: ex.Snapshot()})
	require.NoError(t, err)
	return append(out, b)
}

// FuzzStep runs a cluster of raft replicas (N = 3 or 5, an initial leader
// or none, leases or not, snapshots every 4 entries) in which the input
// chooses, up to 500 times: the delivery of an honest message in flight
// (in any order, duplicated or lost), a tick, a proposal, or a forged
// message to a replica: an honest one with one to three fields changed
// (terms, indexes, commit, hint, context, entries, snapshot metadata, the
// sender), or one built from scratch (see fuzzMsg). After each input, at
// every replica: no panic, a Step error wraps paxos.ErrMalformed, the
// Ready is well formed (fuzzin.CheckReady), and raft's state stays
// consistent (see consistent). Forged messages reach raft deep in its
// states this way: a leader with followers, reads in flight, snapshots.
func FuzzStep(f *testing.F) {
	fuzzin.AddSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		samples := fuzzPayloads(t)
		in := fuzzin.New(data)
		n := 3 + 2*in.Intn(2)
		cfg := paxos.Config{N: n, InitialLeader: paxos.NodeID(in.Intn(n+1) - 1),
			Batch: 1, Window: 4, SnapshotEvery: 4, RetryTicks: 2, ElectionTicks: 4, Seed: uint64(in.Byte())}
		if in.Bool() {
			cfg.LeaseTicks = 3
		}
		reps := make([]*Replica, n)
		for i := range reps {
			c := cfg
			c.ID = paxos.NodeID(i)
			r, err := newReplica(c, bugs{})
			require.NoError(t, err)
			reps[i] = r
		}
		var pool []paxos.Message
		collect := func(r *Replica, step int) {
			rd := r.Ready()
			require.NoError(t, fuzzin.CheckReady(rd, r.id, n, cfg.Batch), "step %d", step)
			require.NoError(t, r.consistent(), "step %d: replica %d", step, r.id)
			pool = append(pool, rd.Messages...)
			if len(pool) > 256 {
				pool = pool[len(pool)-256:]
			}
		}
		step := func(m paxos.Message, i int) {
			if m.To < 0 || int(m.To) >= n {
				return
			}
			err := reps[m.To].Step(m)
			if err != nil && !errors.Is(err, paxos.ErrMalformed) {
				t.Fatalf("step %d: Step error does not wrap paxos.ErrMalformed: %v", i, err)
			}
			collect(reps[m.To], i)
		}
		for _, r := range reps {
			collect(r, -1)
		}
		seq := uint64(0)
		// Now and then, start from a settled cluster: deliver everything
		// in order for a while (a leader is elected and commits its
		// first entry), then fuzz.
		for w := 20 * in.Intn(3); w > 0 && len(pool) > 0; w-- {
			m := pool[0]
			pool = pool[1:]
			step(m, -1)
		}
		for i := 0; i < 500 && !in.Done(); i++ {
			switch c := in.Intn(16); {
			case c < 8 && len(pool) > 0: // deliver, perhaps a duplicate
				k := in.Intn(len(pool))
				m := pool[k]
				if c > 0 {
					pool = append(pool[:k], pool[k+1:]...)
				}
				step(m, i)
			case c == 8 && len(pool) > 0: // lose
				k := in.Intn(len(pool))
				pool = append(pool[:k], pool[k+1:]...)
			case c == 9:
				for _, r := range reps {
					r.Tick()
					collect(r, i)
				}
			case c == 10:
				seq++
				cmd := paxos.Command{Client: 1 + uint64(in.Intn(2)), Seq: seq, Op: paxos.OpPut, Key: fmt.Sprint("k", in.Intn(2)), Value: "v"}
				if in.Intn(3) == 0 {
					cmd.Op, cmd.Value = paxos.OpGet, ""
				}
				r := reps[in.Intn(n)]
				r.Propose(cmd)
				collect(r, i)
			case c < 14 && len(pool) > 0: // an honest message, changed
				m := pool[in.Intn(len(pool))]
				step(paxos.Message{From: m.From, To: m.To, Body: Msg{Data: mutate(in, m.Body.(Msg).Data, n, samples)}}, i)
			default: // built from scratch
				to := paxos.NodeID(in.Intn(n))
				from := (to + 1 + paxos.NodeID(in.Intn(n-1))) % paxos.NodeID(n)
				if in.Intn(16) == 0 {
					from = in.Node(n)
				}
				last, _ := reps[to].storage.LastIndex()
				step(paxos.Message{From: from, To: to, Body: Msg{Data: fuzzMsg(in, from, to, n, reps[to].Term(), last, samples)}}, i)
			}
		}
	})
}

// mutate changes one to three fields of an encoded raft message.
func mutate(in *fuzzin.Input, data []byte, n int, samples [][]byte) []byte {
	m := &pb.Message{}
	if err := proto.Unmarshal(data, m); err != nil {
		panic(err)
	}
	for k := 1 + in.Intn(3); k > 0; k-- {
		switch in.Intn(12) {
		case 0:
			m.Term = new(near(in, m.GetTerm()))
		case 1:
			m.LogTerm = new(near(in, m.GetLogTerm()))
		case 2:
			m.Index = new(near(in, m.GetIndex()))
		case 3:
			m.Commit = new(near(in, m.GetCommit()))
		case 4:
			m.RejectHint = new(near(in, m.GetRejectHint()))
			m.Reject = new(in.Bool())
		case 5:
			ctx := make([]byte, []int{0, 8, 8, 16}[in.Intn(4)])
			if len(ctx) == 8 {
				binary.LittleEndian.PutUint64(ctx, near(in, 1))
			}
			m.Context = ctx
		case 6:
			if len(m.Entries) > 0 {
				e := proto.Clone(m.Entries[in.Intn(len(m.Entries))]).(*pb.Entry)
				e.Index, e.Term = new(near(in, e.GetIndex())), new(near(in, e.GetTerm()))
				m.Entries = append(m.Entries, e)
			}
		case 7:
			if len(m.Entries) > 0 {
				e := m.Entries[in.Intn(len(m.Entries))]
				m.Entries[in.Intn(len(m.Entries))] = &pb.Entry{Index: e.Index, Term: e.Term, Data: samples[in.Intn(len(samples))]}
			}
		case 8:
			if s := m.GetSnapshot(); s != nil {
				s.Metadata.Index = new(near(in, s.GetMetadata().GetIndex()))
				s.Metadata.Term = new(near(in, s.GetMetadata().GetTerm()))
			}
		case 9:
			m.Type = pb.MessageType(in.Intn(24)).Enum()
		case 10:
			m.From = new(uint64(in.Node(n)) + 1)
		default:
			m.Entries = nil
		}
	}
	out, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return out
}

// consistent reports what is wrong with the replica's raft state: a commit
// point beyond its log, an applied index beyond the commit point, a log
// beyond MaxIndex, a term beyond paxos.MaxRound.
func (r *Replica) consistent() error {
	st := r.rn.BasicStatus()
	first, _ := r.storage.FirstIndex()
	last, _ := r.storage.LastIndex()
	snap, _ := r.storage.Snapshot()
	switch {
	case st.GetCommit() > last:
		return fmt.Errorf("commit %d beyond the last entry %d", st.GetCommit(), last)
	case r.applied > st.GetCommit():
		return fmt.Errorf("applied %d beyond the commit %d", r.applied, st.GetCommit())
	case last > MaxIndex:
		return fmt.Errorf("log up to %d, beyond %d", last, uint64(MaxIndex))
	case first > snap.GetMetadata().GetIndex()+1:
		return fmt.Errorf("log starts at %d after a snapshot at %d", first, snap.GetMetadata().GetIndex())
	case st.GetTerm() > paxos.MaxRound+1:
		return fmt.Errorf("term %d", st.GetTerm())
	}
	return nil
}
