package epaxos

import (
	"github.com/paxos-lab/paxos"
)

func (r *Replica) onPreAccept(from paxos.NodeID, m PreAccept) {
	in := r.get(m.Inst)
	if in == nil {
		return
	}
	reply := PreAcceptReply{Ballot: m.Ballot, Inst: m.Inst}
	switch {
	case in.status == StatusCommitted:
		reply.Committed, reply.Cmds, reply.Seq, reply.Deps = true, in.cmds, in.seq, in.deps
	case m.Ballot < in.bal:
		reply.Ballot = in.bal
	case in.status == StatusAccepted && m.Ballot <= in.vbal && !r.planted.preAcceptOverAccept:
		return // a late pre-accept of a round that already moved on
	case in.status == StatusPreAccepted && in.vbal == m.Ballot && in.cmds != nil && (m.Ballot.Initial() || !in.orig):
		// duplicate (a try-pre-accept vote at this ballot is not one): answer as before
		reply.OK, reply.Seq, reply.Deps = true, in.seq, in.deps
		reply.Changed = !(m.Ballot.Initial() && in.orig)
	default:
		seq, deps := r.attrs(m.Inst, m.Cmds, m.Seq, m.Deps, in.deps)
		// A rebuilt replica never votes unchanged (see rebuild.go).
		changed := !equalAttrs(seq, deps, m.Seq, m.Deps) || r.rebuilt
		in.cmds, in.seq, in.deps, in.status = m.Cmds, seq, deps, StatusPreAccepted
		in.bal, in.vbal = m.Ballot, m.Ballot
		in.orig = m.Ballot.Initial() && !changed
		r.indexAddFound(in)
		if !r.planted.noPersistVote {
			r.persist(in)
		}
		reply.OK, reply.Changed, reply.Seq, reply.Deps = true, changed, seq, deps
	}
	r.send(from, reply)
}

// roundReply is what every answer to a round a replica drives carries:
// the instance, the ballot (the round's, or a higher one on refusal),
// whether the vote was given, and any decision the replier already holds.
type roundReply struct {
	inst     paxos.Instance
	ballot   Ballot
	ok       bool
	decision *Commit
}

// currentRound screens an answer to a round this replica drives. It
// returns the instance and its coordinator when the answer counts for the
// current round, phase ph at the coordinator's ballot; otherwise nil, after
// acting on what the answer still tells: a decision it carries is
// committed here (and, when rebroadcast is set, sent on to every replica),
// and a refusal at a higher ballot abandons the round.
func (r *Replica) currentRound(m roundReply, ph phase, rebroadcast bool) (*instance, *coord) {
	in := r.inst[m.inst.Replica][m.inst.Slot]
	if in == nil || in.status == StatusCommitted {
		return nil, nil
	}
	if d := m.decision; d != nil {
		if rebroadcast {
			r.commit(in, d.Cmds, d.Seq, d.Deps)
		} else {
			r.commitLocal(in, d.Cmds, d.Seq, d.Deps, true)
		}
		return nil, nil
	}
	co := in.co
	if co == nil || co.phase != ph {
		return nil, nil
	}
	if !m.ok {
		if m.ballot > co.ballot {
			r.abandon(in, m.ballot)
		}
		return nil, nil
	}
	if m.ballot != co.ballot && !(r.planted.acceptReplyAnyBal && ph == phAccept) {
		return nil, nil
	}
	return in, co
}

// decision returns the decision an answer carries, or nil.
func decision(committed bool, inst paxos.Instance, cmds []paxos.Command, seq uint64, deps []uint64) *Commit {
	if !committed {
		return nil
	}
	return &Commit{Inst: inst, Cmds: cmds, Seq: seq, Deps: deps}
}

func (r *Replica) onPreAcceptReply(from paxos.NodeID, m PreAcceptReply) {
	in, co := r.currentRound(roundReply{m.Inst, m.Ballot, m.OK, decision(m.Committed, m.Inst, m.Cmds, m.Seq, m.Deps)}, phPreAccept, false)
	if co == nil || co.replied.Has(int(from)) && !r.planted.countDupReplies {
		return
	}
	r.answered[from] = max(r.answered[from], co.started)
	co.replied = co.replied.Add(int(from))
	if r.planted.fastIgnoresChange || !m.Changed && equalAttrs(m.Seq, m.Deps, co.origSeq, co.origDeps) {
		co.unchanged++
	}
	co.seq = max(co.seq, m.Seq)
	for q := range co.deps {
		if r.mergesDep(q) {
			co.deps[q] = r.mergeDep(co.deps[q], m.Deps[q])
		}
	}
	r.decidePreAccept(in)
}

// decidePreAccept commits on the fast path, moves to Accept, or waits.
func (r *Replica) decidePreAccept(in *instance) {
	co := in.co
	if co.ballot.Initial() && (in.bal == co.ballot || r.planted.fastAfterPromise) && (co.unchanged >= r.fq || r.planted.fastPathMajority && co.unchanged >= r.sq) {
		r.stats.FastPath++
		in.fast = true
		r.commit(in, co.cmds, co.origSeq, co.origDeps)
		return
	}
	if r.threeReplicaShortcut(in) {
		r.stats.FastPath++
		in.fast = true
		r.commit(in, co.cmds, co.seq, co.deps)
		return
	}
	// Once too few replicas are left to answer unchanged for a fast quorum
	// (fastLost), waiting for more replies gains nothing: the slow path
	// goes at once with F+1 replies, as it would once impatient. Without
	// it, while F replicas are silent (crashed, or rebuilding after lost
	// disks) every instance whose attributes changed waited the impatient
	// timeout uncommitted, and a recovery's TryPreAccept kept meeting one
	// of them (see "Slow path when the fast one is lost" in doc.go).
	n := co.replied.Len()
	fastLost := co.unchanged+r.n-n < r.fq
	if n >= r.sq && (n >= r.fq || !co.ballot.Initial() || co.impatient || fastLost) {
		r.startAccept(in, co.ballot, co.cmds, co.seq, co.deps)
	}
}

// threeReplicaShortcut reports whether a command leader of a 3-replica
// cluster may commit after one round whatever the attributes: its initial
// PreAccept went to one replica only (Thrifty, not widened) and that replica
// answered. The leader and that replica are a majority, and the reply
// already holds the leader's attributes merged with the replica's (its
// merge starts from them), so the decision is as safe for the dependency
// invariant as a slow-path Accept of the same attributes. Recovery finds it
// because that replica is then the only one to have voted at the initial
// ballot (the three-replica rule in recovery.go). The published
// implementation commits the same way at N = 3 in thrifty mode; with
// PreAccept sent to both other replicas it would not be safe, since a
// recovery could find two different answers and could not tell which one
// the leader committed.
func (r *Replica) threeReplicaShortcut(in *instance) bool {
	co := in.co
	return r.n == 3 && co.ballot.Initial() && in.bal == co.ballot && co.replied.Len() == 2 &&
		(co.asked.Len() == 1 || r.planted.shortcutToAll)
}

// abandon gives up driving an instance after seeing a higher ballot; the
// instance will be recovered later if it stays uncommitted.
// The ballot seen goes to in.seen, never to in.bal: in.bal is the durable
// promise, and a Prepare at a ballot only seen must be persisted when
// granted (see "Facts a rule relies on" in recovery.go).
func (r *Replica) abandon(in *instance, seen Ballot) {
	in.co = nil
	in.seen = max(in.seen, seen)
	if r.opts.volatilePromise && seen > in.bal {
		in.bal = seen
	}
	in.attempts++
	r.scheduleRecovery(in)
}
