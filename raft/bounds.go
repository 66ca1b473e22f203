package raft

import (
	"encoding/binary"
	"fmt"
	"slices"

	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// MaxIndex is the highest log index a replica accepts in a peer's message
// (an entry, a commit point, a snapshot, a probe or a hint). No log comes
// near it (2^48 entries), and index arithmetic on values below it cannot
// overflow.
const MaxIndex = 1 << 48

// ctxLen is the length of a ReadIndex request context: the command's
// (client, seq).
const ctxLen = 16

// transferCtx is the context of a vote request raft sends in a campaign
// that a leadership transfer started (etcd's campaignTransfer).
const transferCtx = "CampaignTransfer"

// hbCtxLen is the length of a heartbeat's context: raft's position in its
// queue of ReadIndex requests, little-endian.
const hbCtxLen = 8

// validate refuses, before raft sees it, a message no correct replica of
// this package sends: one that would make etcd's raft panic, overflow an
// index or a term, desynchronize its log from its entries' own indexes, or
// hand the store an entry or a snapshot it cannot decode. It runs with the
// storage holding raft's whole log (Step drains raft's Ready first), so
// last is raft's last index. It allocates nothing but the decoding of entry
// and snapshot payloads, which are already in the message.
func (r *Replica) validate(m *pb.Message) error {
	t := m.GetType()
	term := m.GetTerm()
	switch t {
	case pb.MsgProp, pb.MsgReadIndex:
		// Forwarded by a follower: raft sends them without a term.
		if term != 0 {
			return fmt.Errorf("%s with term %d, a forwarded request carries none", t, term)
		}
	case pb.MsgApp, pb.MsgAppResp, pb.MsgVote, pb.MsgVoteResp, pb.MsgSnap, pb.MsgHeartbeat,
		pb.MsgHeartbeatResp, pb.MsgPreVote, pb.MsgPreVoteResp, pb.MsgReadIndexResp, pb.MsgTimeoutNow:
		if term == 0 || term > paxos.MaxRound {
			return fmt.Errorf("%s at term %d, want 1..%d", t, term, uint64(paxos.MaxRound))
		}
	default:
		// Local messages and types raft does not know.
		return fmt.Errorf("message type %s is never sent between replicas of this package", t)
	}
	if m.GetIndex() > MaxIndex || m.GetCommit() > MaxIndex || m.GetRejectHint() > MaxIndex {
		return fmt.Errorf("%s with index %d, commit %d, hint %d: beyond %d", t, m.GetIndex(), m.GetCommit(), m.GetRejectHint(), uint64(MaxIndex))
	}
	if m.GetLogTerm() > term && t != pb.MsgProp && t != pb.MsgReadIndex {
		return fmt.Errorf("%s at term %d names log term %d", t, term, m.GetLogTerm())
	}
	if len(m.GetResponses()) > 0 {
		return fmt.Errorf("%s carries storage responses", t)
	}
	if m.GetSnapshot() != nil && t != pb.MsgSnap {
		return fmt.Errorf("%s carries a snapshot", t)
	}
	if len(m.GetEntries()) > 0 && t != pb.MsgApp && t != pb.MsgProp && t != pb.MsgReadIndex && t != pb.MsgReadIndexResp {
		return fmt.Errorf("%s carries %d entries", t, len(m.GetEntries()))
	}
	if t == pb.MsgVote && len(m.GetContext()) > 0 {
		// The one context of a vote: a campaign after a leadership
		// transfer (started for a rebuilding replica, see rebuild.go),
		// which forces the vote past the leader lease.
		if string(m.GetContext()) != transferCtx {
			return fmt.Errorf("%s carries a context other than a leadership transfer's", t)
		}
	} else if len(m.GetContext()) > 0 && t != pb.MsgHeartbeat && t != pb.MsgHeartbeatResp {
		return fmt.Errorf("%s carries a context", t)
	}
	if n := len(m.GetContext()); n != 0 && n != hbCtxLen && t != pb.MsgVote {
		return fmt.Errorf("%s carries a %d-byte context, want %d", t, n, hbCtxLen)
	}
	last, _ := r.storage.LastIndex()
	st := r.rn.BasicStatus()
	if t == pb.MsgPreVote && st.GetTerm() == 0 && last > 0 {
		// Entries but no term: the HardState persisted with them was lost
		// (only the hardstate-after-send planted bug does that). Raft
		// rejects a pre-vote from a candidate behind its log at its own
		// term, and panics when that term is 0.
		lastTerm, _ := r.storage.Term(last)
		if m.GetLogTerm() < lastTerm || (m.GetLogTerm() == lastTerm && m.GetIndex() < last) {
			return fmt.Errorf("%s from a candidate behind this replica's log, which holds entries up to %d at term 0: its persisted HardState was lost", t, last)
		}
	}
	switch t {
	case pb.MsgProp:
		if len(m.GetEntries()) != 1 {
			return fmt.Errorf("MsgProp with %d entries, a forwarded proposal has 1", len(m.GetEntries()))
		}
		e := m.GetEntries()[0]
		if e.GetIndex() != 0 || e.GetTerm() != 0 || len(e.GetData()) == 0 {
			return fmt.Errorf("MsgProp entry at index %d term %d with %d bytes: a proposal has no place yet and a batch", e.GetIndex(), e.GetTerm(), len(e.GetData()))
		}
		return r.validEntry(e)
	case pb.MsgReadIndex, pb.MsgReadIndexResp:
		if len(m.GetEntries()) != 1 || len(m.GetEntries()[0].GetData()) != ctxLen {
			return fmt.Errorf("%s with %d entries, want one holding a %d-byte context", t, len(m.GetEntries()), ctxLen)
		}
	case pb.MsgApp:
		return r.validAppend(m)
	case pb.MsgSnap:
		return r.validSnapshot(m)
	case pb.MsgHeartbeat:
		// A leader sends a follower no commit point beyond what the follower
		// acknowledged; raft panics on one beyond its log.
		if term >= st.GetTerm() && m.GetCommit() > last {
			if r.rb != nil {
				return errStaleProgress
			}
			return fmt.Errorf("heartbeat commits %d, beyond the last entry %d", m.GetCommit(), last)
		}
	case pb.MsgHeartbeatResp:
		// A follower echoes a position this leader sent; raft confirms the
		// reads up to the one a quorum echoed, and panics past its queue.
		if len(m.GetContext()) == hbCtxLen && st.RaftState == etcdraft.StateLeader && term == st.GetTerm() {
			sent := uint64(0)
			if r.hbTerm == term {
				sent = r.hbCtx
			}
			if pos := binary.LittleEndian.Uint64(m.GetContext()); pos > sent {
				return fmt.Errorf("heartbeat response echoes read position %d, this leader sent up to %d", pos, sent)
			}
		}
	case pb.MsgAppResp:
		if m.GetReject() && m.GetRejectHint() > m.GetIndex() {
			return fmt.Errorf("append rejection at %d hints %d above it", m.GetIndex(), m.GetRejectHint())
		}
		// A follower acknowledges, in this leader's term, only entries this
		// leader sent (or its commit point, which this leader holds).
		if st.RaftState == etcdraft.StateLeader && term == st.GetTerm() && m.GetIndex() > last {
			return fmt.Errorf("append response at %d from a follower, beyond the leader's last entry %d", m.GetIndex(), last)
		}
	}
	return nil
}

// validAppend checks a MsgApp's entries: they follow its (index, log term)
// one index at a time, with terms that never decrease and never exceed the
// message's, hold batches this package proposes, and weigh no more than
// one append carries (raft always sends at least one entry).
func (r *Replica) validAppend(m *pb.Message) error {
	ents := m.GetEntries()
	if uint64(len(ents)) > MaxIndex-m.GetIndex() {
		return fmt.Errorf("MsgApp at %d with %d entries: beyond %d", m.GetIndex(), len(ents), uint64(MaxIndex))
	}
	size := 0
	prevIdx, prevTerm := m.GetIndex(), m.GetLogTerm()
	for _, e := range ents {
		if e.GetIndex() != prevIdx+1 || e.GetTerm() < prevTerm || e.GetTerm() > m.GetTerm() {
			return fmt.Errorf("MsgApp entry (index %d, term %d) after (%d, %d) at term %d: entries must follow one index at a time, terms never decreasing nor above the leader's", e.GetIndex(), e.GetTerm(), prevIdx, prevTerm, m.GetTerm())
		}
		prevIdx, prevTerm = e.GetIndex(), e.GetTerm()
		size += proto.Size(e)
		if len(ents) > 1 && size > maxSizePerMsg {
			return fmt.Errorf("MsgApp with %d entries of more than %d bytes, more than one append carries", len(ents), maxSizePerMsg)
		}
		if len(e.GetData()) == 0 && e.GetType() == pb.EntryNormal {
			continue // a new leader's empty entry
		}
		if err := r.validEntry(e); err != nil {
			return err
		}
	}
	return nil
}

// validEntry checks an entry holds what this package proposes: a normal
// entry whose data is a Batch of 1..Config.Batch commands.
func (r *Replica) validEntry(e *pb.Entry) error {
	if e.GetType() != pb.EntryNormal {
		return fmt.Errorf("entry %d of type %s: no configuration change is ever proposed", e.GetIndex(), e.GetType())
	}
	v, err := paxos.Decode(e.GetData())
	if err != nil {
		return fmt.Errorf("entry %d: %w", e.GetIndex(), err)
	}
	b, ok := v.(Batch)
	if !ok {
		return fmt.Errorf("entry %d holds %T, want raft.Batch", e.GetIndex(), v)
	}
	if len(b.Cmds) == 0 || len(b.Cmds) > r.cfg.Batch {
		return fmt.Errorf("entry %d holds %d commands, a batch holds 1..%d", e.GetIndex(), len(b.Cmds), r.cfg.Batch)
	}
	return nil
}

// validSnapshot checks a MsgSnap's snapshot: a real index and a term no
// later than the message's, exactly this cluster's voters, and a State the
// store can install.
func (r *Replica) validSnapshot(m *pb.Message) error {
	snap := m.GetSnapshot()
	md := snap.GetMetadata()
	if md.GetIndex() == 0 || md.GetIndex() > MaxIndex || md.GetTerm() == 0 || md.GetTerm() > m.GetTerm() {
		return fmt.Errorf("snapshot at index %d term %d sent at term %d: want index 1..%d and term 1..%d", md.GetIndex(), md.GetTerm(), m.GetTerm(), uint64(MaxIndex), m.GetTerm())
	}
	cs := md.GetConfState()
	voters := slices.Sorted(slices.Values(cs.GetVoters()))
	if !slices.Equal(voters, r.voters) || len(cs.GetLearners()) > 0 || len(cs.GetVotersOutgoing()) > 0 || len(cs.GetLearnersNext()) > 0 || cs.GetAutoLeave() {
		return fmt.Errorf("snapshot configuration %v, want the voters %v and nothing else", cs, r.voters)
	}
	v, err := paxos.Decode(snap.GetData())
	if err != nil {
		return fmt.Errorf("snapshot data: %w", err)
	}
	st, ok := v.(State)
	if !ok {
		return fmt.Errorf("snapshot holds %T, want raft.State", v)
	}
	if _, err := kv.ExecutorFromSnapshot(r.cfg, st.KV); err != nil {
		return fmt.Errorf("snapshot state: %w", err)
	}
	return nil
}
