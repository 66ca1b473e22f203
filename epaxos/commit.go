package epaxos

import (
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

// commit decides an instance driven here and broadcasts the decision.
func (r *Replica) commit(in *instance, cmds []paxos.Command, seq uint64, deps []uint64) {
	if len(cmds) > 0 && paxos.SameCommands(in.cmds, cmds) {
		// The copy held since the vote, which commitLocal keeps anyway:
		// an instance's slices are never written in place.
		cmds = in.cmds
	} else {
		cmds = slices.Clone(cmds)
	}
	deps = slices.Clone(deps)
	// Boxed once each: every peer's Message shares the body.
	var full, short any = Commit{Inst: in.id, Cmds: cmds, Seq: seq, Deps: deps}, nil
	holders := r.holders(in, cmds)
	for _, p := range r.nearest {
		if !holders.Has(int(p)) {
			r.send(p, full)
			continue
		}
		if short == nil {
			short = Commit{Inst: in.id, Seq: seq, Deps: deps}
		}
		r.send(p, short)
	}
	r.commitLocal(in, cmds, seq, deps, false)
}

// holders returns the replicas a short Commit may be sent to (see
// Commit): when this replica decides cmds as in's command leader at the
// initial ballot, those it sent cmds to at that ballot (the round that
// decided them) and those whose vote for cmds it counted. A replica that
// got them and voted holds them as its vote at the initial ballot, the
// only value of that ballot; one whose PreAccept or Accept was lost, or
// whose vote has moved on, ignores the short Commit, and learns the
// decision as it learns that of a lost Commit.
func (r *Replica) holders(in *instance, cmds []paxos.Command) quorum.Set {
	co := in.co
	if co == nil || co.ballot != MakeBallot(0, in.id.Replica) || !paxos.SameCommands(co.cmds, cmds) {
		return 0
	}
	switch co.phase {
	case phPreAccept:
		return co.asked | co.replied
	case phAccept:
		return co.asked | co.oks
	}
	return 0
}

func (r *Replica) onCommit(m Commit) {
	in := r.get(m.Inst)
	if in == nil || in.status == StatusCommitted {
		return
	}
	cmds := m.Cmds
	if len(cmds) == 0 {
		// A short Commit: the value voted for at the initial ballot, if
		// this replica's latest vote is still that one.
		if in.cmds == nil || in.vbal != MakeBallot(0, m.Inst.Replica) ||
			in.status != StatusPreAccepted && in.status != StatusAccepted {
			return
		}
		cmds = in.cmds
	}
	r.commitLocal(in, cmds, m.Seq, m.Deps, true)
}

// commitLocal records a decision learned or made here. It keeps cmds and
// deps without copying them: a decision's slices are never written after
// they are built (they come from a decoded message or from commit's copy),
// and every holder, here and in Ready, only reads them.
func (r *Replica) commitLocal(in *instance, cmds []paxos.Command, seq uint64, deps []uint64, learned bool) {
	if in.status == StatusCommitted {
		return
	}
	in.co = nil
	r.release(in)
	if in.led {
		in.led = false
		r.inflight--
		r.commitLat += (float64(r.now-in.ledAt) - r.commitLat) / 8
	}
	// Whenever an instance holds commands, the index holds them at the
	// instance's seq: every change of in.cmds or in.seq is followed by
	// indexAdd (restore adds every instance it rebuilds), and pruning
	// drops no key with a fact above what this replica executed (gc.go),
	// so none of in's, unexecuted here. Adding the same commands at a seq
	// no higher changes nothing (indexCmds takes maxima), so it is
	// skipped: on the fast path every replica commits the commands and
	// seq it voted for.
	indexed, held := false, false
	if len(cmds) > 0 && paxos.SameCommands(in.cmds, cmds) {
		// Keep the copy held since the vote: the store and the index then
		// share its strings, and the Commit's copy is garbage.
		cmds = in.cmds
		indexed = seq <= in.seq
		// Whatever set in.cmds also persisted them (a vote, a lead, a
		// restore, an installed snapshot), except in the planted bug that
		// skips persisting votes.
		held = !r.planted.noPersistVote
	}
	in.cmds, in.seq, in.deps = cmds, seq, deps
	in.status, in.orig = StatusCommitted, false
	if !indexed {
		r.indexAdd(in)
	}
	if held {
		r.persistSame(in)
	} else {
		r.persist(in)
	}
	delete(r.uncommitted, in.id)
	r.pendingExec[in.id] = in
	r.candidates = append(r.candidates, in)
	for _, w := range r.waiters[in] {
		if !w.executed && w.blockedOn == in {
			w.blockedOn = nil
			r.candidates = append(r.candidates, w)
		}
	}
	delete(r.waiters, in)
	r.reportDecided(in)
	if in.mine != nil {
		if paxos.SameCommands(in.mine, in.cmds) {
			path := paxos.PathSlow
			if in.fast && !learned {
				path = paxos.PathFast
			}
			for _, c := range in.mine {
				r.rd.Committed = append(r.rd.Committed, paxos.Commit{ID: c.ID(), Path: path})
			}
		} else {
			// Recovery filled our slot with something else (a Nop after we
			// looked dead): propose our commands again in a new instance.
			r.batch = append(r.batch, in.mine...)
			r.batchChecked = false
		}
		in.mine = nil
	}
}

func (r *Replica) reportDecided(in *instance) {
	if in.decided {
		return
	}
	in.decided = true
	r.rd.Decided = append(sized(r.rd.Decided, r.hint.decided), paxos.Decision{Instance: in.id, Commands: in.cmds, Seq: in.seq, Deps: in.deps})
}
