package raft

import (
	"errors"
	"fmt"

	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

// Rebuilding after a lost disk (Config.Rebuild); the rule and its argument
// are in the package doc, "Lost disks".

// RebuildQuery asks a peer for what a replica rebuilding after a lost disk
// needs to know. Last is the index of the last entry the rebuilding replica
// holds: a leader that counts it as holding more hands its leadership on
// (see handOver).
type RebuildQuery struct {
	Last uint64 `msgpack:"l,omitempty"`
}

// RebuildInfo answers a RebuildQuery: the peer's current raft term and the
// index of the last entry of its log. Rebuilding is set when the peer is
// rebuilding itself; its answer then counts for nothing.
type RebuildInfo struct {
	Rebuilding bool   `msgpack:"r,omitempty"`
	Term       uint64 `msgpack:"t"`
	Last       uint64 `msgpack:"l"`
}

// RebuildRecord marks the rebuild of a replica that lost its disk: Done
// false when it begins; Done true once the replica votes again, with Term
// the bound T of the rebuild (the replica never votes at a term up to T).
type RebuildRecord struct {
	Done bool   `msgpack:"d,omitempty"`
	Term uint64 `msgpack:"t,omitempty"`
}

// rebuild is the state of a replica that rebuilds after losing its disk.
type rebuild struct {
	answers quorum.Answers // peers, not rebuilding, that answered
	term    uint64         // T: the highest term they reported
	high    uint64         // H: the highest last index they reported
	askedAt uint64         // tick of the last query
	nopAt   uint64         // tick of the last Nop proposed
	stuckAt uint64         // tick at which applied last moved, or the last query after
	seen    uint64         // applied index at stuckAt
}

// errStaleProgress is what validate reports for a heartbeat at a rebuilding
// replica that commits past its log: a leader that still counts what this
// replica acknowledged before its disk was lost. It is dropped, not refused.
var errStaleProgress = errors.New("heartbeat from a leader that counts entries this replica lost")

// Rebuilding implements paxos.Rebuilder: it reports whether the replica is
// rebuilding after a lost disk and does not vote yet.
func (r *Replica) Rebuilding() bool { return r.rb != nil }

// startRebuild enters the rebuilding state when cfg.Rebuild asks for it (and
// the restored records do not say it completed) or the restored records say
// a rebuild was under way (rec is the latest RebuildRecord restored).
func (r *Replica) startRebuild(rec *RebuildRecord) error {
	if rec != nil && rec.Done {
		r.noVote = rec.Term
		return nil
	}
	if !r.cfg.Rebuild && rec == nil {
		return nil
	}
	if quorum.Alone(r.majority(), int(r.id)) {
		return fmt.Errorf("%w: cannot rebuild raft replica %d of %d: it is a majority on its own, so what only it held was lost with its disk", paxos.ErrConfig, r.id, r.cfg.N)
	}
	r.rb = &rebuild{askedAt: r.now, stuckAt: r.now, seen: r.applied}
	if rec == nil {
		r.rd.Persist = append(r.rd.Persist, RebuildRecord{})
	}
	r.broadcast(r.query())
	return nil
}

// query is this replica's RebuildQuery.
func (r *Replica) query() RebuildQuery {
	last, _ := r.storage.LastIndex()
	return RebuildQuery{Last: last}
}

func (r *Replica) broadcast(body any) {
	for i := 0; i < r.cfg.N; i++ {
		if id := paxos.NodeID(i); id != r.id {
			r.rd.Messages = append(r.rd.Messages, paxos.Message{From: r.id, To: id, Body: body})
		}
	}
}

// rebuildMessage handles a RebuildQuery or RebuildInfo; it reports whether
// the message was one.
func (r *Replica) rebuildMessage(msg paxos.Message) (bool, error) {
	switch m := msg.Body.(type) {
	case RebuildQuery:
		if m.Last > MaxIndex {
			return true, fmt.Errorf("rebuild query with last index %d beyond %d", m.Last, uint64(MaxIndex))
		}
		r.drain() // the log's last index is the storage's
		st := r.rn.BasicStatus()
		last, _ := r.storage.LastIndex()
		r.rd.Messages = append(r.rd.Messages, paxos.Message{From: r.id, To: msg.From,
			Body: RebuildInfo{Rebuilding: r.rb != nil, Term: st.GetTerm(), Last: last}})
		if st.RaftState == etcdraft.StateLeader {
			r.handOver(msg.From, m.Last)
		}
		return true, nil
	case RebuildInfo:
		if m.Term > paxos.MaxRound || m.Last > MaxIndex {
			return true, fmt.Errorf("rebuild info at term %d, last index %d: want terms up to %d and indexes up to %d", m.Term, m.Last, uint64(paxos.MaxRound), uint64(MaxIndex))
		}
		if rb := r.rb; rb != nil && !m.Rebuilding && rb.answers.Add(r.majority(), int(msg.From)) {
			rb.term = max(rb.term, m.Term)
			rb.high = max(rb.high, m.Last)
		}
		return true, nil
	}
	return false, nil
}

// handOver runs at a leader that a rebuilding replica w asked: when the
// leader's raft counts w as holding entries above the last one w holds
// (acknowledged before w lost its disk), it transfers its leadership to
// the most up-to-date other follower. Raft never sends a follower entries
// below what it counts it as holding, so without a new leader (whose
// progress starts afresh) w would wait forever.
func (r *Replica) handOver(w paxos.NodeID, last uint64) {
	st := r.rn.Status()
	if pr, ok := st.Progress[uint64(w)+1]; !ok || pr.Match <= last || st.LeadTransferee != 0 {
		return
	}
	best, match := uint64(0), uint64(0)
	for id := uint64(1); id <= uint64(r.cfg.N); id++ {
		if pr, ok := st.Progress[id]; ok && id != uint64(r.id)+1 && id != uint64(w)+1 && (best == 0 || pr.Match > match) {
			best, match = id, pr.Match
		}
	}
	if best != 0 {
		r.cov["rebuild-handovers"]++
		r.rn.TransferLeader(best)
	}
}

func (r *Replica) majority() quorum.System {
	q, _ := quorum.NewMajority(r.cfg.N)
	return q
}

// admits reports whether raft may see message m now. While rebuilding it
// sees only requests forwarded by followers, and, once enough peers
// answered, what a leader of a term at least T sends: appends, heartbeats,
// snapshots and read confirmations. Never a vote request, nor an answer to
// something this incarnation did not send. After the rebuild it sees no
// vote request at a term up to T.
func (r *Replica) admits(m *pb.Message) bool {
	t := m.GetType()
	if rb := r.rb; rb != nil {
		switch t {
		case pb.MsgProp, pb.MsgReadIndex:
			return true
		case pb.MsgApp, pb.MsgHeartbeat, pb.MsgSnap, pb.MsgReadIndexResp:
			return rb.answers.Enough && m.GetTerm() >= rb.term
		}
		return false
	}
	if t == pb.MsgVote || t == pb.MsgPreVote {
		return m.GetTerm() > r.noVote
	}
	return true
}

// rebuildTick runs instead of the election timer while rebuilding: no
// campaign; queries to the peers that have not answered until enough did,
// then a Nop proposed through the leader now and then, so that an entry
// above H commits even without clients.
func (r *Replica) rebuildTick() {
	rb := r.rb
	r.elapsed = 0
	retry := uint64(r.cfg.RetryTicks)
	if !rb.answers.Enough {
		if r.now-rb.askedAt >= retry {
			rb.askedAt = r.now
			for i := 0; i < r.cfg.N; i++ {
				if id := paxos.NodeID(i); id != r.id && !rb.answers.Set.Has(i) {
					r.rd.Messages = append(r.rd.Messages, paxos.Message{From: r.id, To: id, Body: r.query()})
				}
			}
		}
		return
	}
	if r.applied != rb.seen {
		rb.seen, rb.stuckAt = r.applied, r.now
	}
	if r.applied <= rb.high && r.lead != 0 && (rb.nopAt == 0 || r.now-rb.nopAt >= 2*retry) {
		rb.nopAt = r.now
		r.proposeNow([]paxos.Command{{Op: paxos.OpNop}})
	}
	if r.now-rb.stuckAt >= uint64(2*r.cfg.ElectionTicks) {
		// No progress for two election timeouts: a leader may count
		// entries this replica lost (and a transfer it started may have
		// failed); asking again makes it hand over. The answers count no
		// more.
		rb.stuckAt = r.now
		r.broadcast(r.query())
	}
}

// rebuildDone ends the rebuild once enough peers answered, the replica
// follows a term at least T and has applied an entry above H. It persists
// RebuildRecord{Done: true, Term: T} with the Ready that may first carry a
// vote.
func (r *Replica) rebuildDone() {
	rb := r.rb
	if rb == nil || !rb.answers.Enough || r.applied <= rb.high || r.rn.BasicStatus().GetTerm() < rb.term {
		return
	}
	r.rb = nil
	r.noVote = rb.term
	r.cov["rebuilds"]++
	r.rd.Persist = append(r.rd.Persist, RebuildRecord{Done: true, Term: rb.term})
	r.resetTimer()
}

// rebuildRecord is the rebuild state a SnapshotRecord carries: the marker
// while rebuilding, the bound once rebuilt, nil for a replica that never
// rebuilt.
func (r *Replica) rebuildRecord() *RebuildRecord {
	switch {
	case r.rb != nil:
		return &RebuildRecord{}
	case r.noVote > 0:
		return &RebuildRecord{Done: true, Term: r.noVote}
	}
	return nil
}
