package epaxos

import (
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

func (r *Replica) startAccept(in *instance, b Ballot, cmds []paxos.Command, seq uint64, deps []uint64) {
	if in.bal > b {
		r.abandon(in, in.bal)
		return
	}
	cmds, deps = slices.Clone(cmds), slices.Clone(deps)
	in.cmds, in.seq, in.deps, in.status, in.bal, in.vbal, in.orig = cmds, seq, deps, StatusAccepted, b, b, false
	r.indexAdd(in)
	r.persist(in)
	co := in.co
	if co == nil {
		co = &coord{ballot: b}
		in.co = co
	}
	co.phase, co.started, co.widened, co.lastSend = phAccept, r.now, false, 0
	co.cmds, co.seq, co.deps = cmds, seq, deps
	co.oks = quorum.Of(int(r.id))
	// Boxed once: every peer's Message shares the body.
	var msg any = Accept{Ballot: b, Inst: in.id, Cmds: cmds, Seq: seq, Deps: deps}
	targets := r.nearest
	if r.cfg.Thrifty {
		targets = targets[:min(len(targets), r.sq-1)]
	}
	co.asked = setOf(targets)
	for _, p := range targets {
		r.send(p, msg)
	}
	r.decideAccept(in)
}

func (r *Replica) decideAccept(in *instance) {
	co := in.co
	if co.oks.Len() >= r.sq {
		r.stats.SlowPath++
		if !co.ballot.Initial() {
			r.stats.RecoveryCommits++
			if !realCommands(co.cmds) {
				r.stats.RecoveryNops++
			}
		}
		r.commit(in, co.cmds, co.seq, co.deps)
	}
}

func (r *Replica) onAccept(from paxos.NodeID, m Accept) {
	in := r.get(m.Inst)
	if in == nil {
		return
	}
	reply := AcceptReply{Ballot: m.Ballot, Inst: m.Inst}
	switch {
	case in.status == StatusCommitted:
		reply.Committed, reply.Cmds, reply.Seq, reply.Deps = true, in.cmds, in.seq, in.deps
	case r.acceptRefused(in, m.Ballot):
		reply.Ballot = in.bal
	default:
		if !(in.status == StatusAccepted && in.vbal == m.Ballot) {
			in.cmds, in.seq, in.deps = slices.Clone(m.Cmds), m.Seq, slices.Clone(m.Deps)
			in.status, in.bal, in.vbal, in.orig = StatusAccepted, m.Ballot, m.Ballot, false
			r.indexAdd(in)
			if !r.planted.noPersistVote {
				r.persist(in)
			}
		}
		reply.OK = true
	}
	r.send(from, reply)
}

func (r *Replica) onAcceptReply(from paxos.NodeID, m AcceptReply) {
	in, co := r.currentRound(roundReply{m.Inst, m.Ballot, m.OK, decision(m.Committed, m.Inst, m.Cmds, m.Seq, m.Deps)}, phAccept, false)
	if co == nil {
		return
	}
	r.answered[from] = max(r.answered[from], co.started)
	co.oks = co.oks.Add(int(from))
	r.decideAccept(in)
}
