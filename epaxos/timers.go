package epaxos

import (
	"cmp"
	"slices"

	"github.com/paxos-lab/paxos"
)

func (r *Replica) tickTimers() {
	if len(r.uncommitted) == 0 {
		return
	}
	ids := r.timerIDs[:0]
	for id := range r.uncommitted {
		ids = append(ids, id)
	}
	sortInstances(ids)
	r.timerIDs = ids
	rt := uint64(r.cfg.RetryTicks)
	for _, id := range ids {
		in := r.uncommitted[id]
		if in == nil || in.status == StatusCommitted {
			continue
		}
		co := in.co
		if co != nil {
			age := r.now - co.started
			switch co.phase {
			case phPreAccept, phAccept:
				last := max(co.started, co.lastSend)
				if age >= r.patience(giveUpAfter) && !co.impatient {
					co.impatient = true
					if co.phase == phPreAccept {
						r.decidePreAccept(in)
						if in.co != co || co.phase != phPreAccept {
							continue
						}
					}
				}
				if r.now-last >= rt {
					r.retransmit(in, last, r.now-last >= r.patience(resendAfter))
				}
			case phPrepare, phTryPreAccept:
				if co.phase == phPrepare && !co.waitedLong && age >= 2*rt && len(co.prep) >= r.sq {
					co.waitedLong = true
					r.evalPrepare(in)
				} else if age >= giveUpAfter*rt {
					r.abandon(in, in.bal) // retry later at a higher ballot
				}
			}
			continue
		}
		if r.now >= in.nextTry {
			r.recover(in)
		}
	}
}

// retransmit handles a round (PreAccept or Accept) that has waited a retry
// period since it was last sent, last. Replies still missing are most often
// only queued (here or at the peer) under load, so the round goes again to
// an asked replica only on evidence of loss (it answered a round started
// after last), when it is silent (nothing processed from it since last:
// crashed, or idle and our message lost), or when force is set (the round
// has waited patience(resendAfter)). Replicas left out by Thrifty are
// asked (the round widens) when some asked replica is lost or silent, or on
// force.
func (r *Replica) retransmit(in *instance, last uint64, force bool) {
	co := in.co
	have := co.replied
	if co.phase == phAccept {
		have = co.oks
	}
	var resend, widen []paxos.NodeID
	suspect := force
	for _, p := range r.nearest {
		switch {
		case have.Has(int(p)):
		case !co.asked.Has(int(p)):
			widen = append(widen, p)
		case force || r.answered[p] > last || r.lastHeard[p] <= last:
			resend = append(resend, p)
			suspect = true
		}
	}
	if !suspect {
		widen = nil
	}
	if len(resend)+len(widen) == 0 {
		return
	}
	co.lastSend = r.now
	r.stats.Resent += uint64(len(resend))
	r.stats.Widened += uint64(len(widen))
	var msg any
	if co.phase == phPreAccept {
		msg = PreAccept{Ballot: co.ballot, Inst: in.id, Cmds: co.cmds, Seq: co.origSeq, Deps: co.origDeps}
	} else {
		msg = Accept{Ballot: co.ballot, Inst: in.id, Cmds: co.cmds, Seq: co.seq, Deps: co.deps}
	}
	for _, p := range append(resend, widen...) {
		co.asked = co.asked.Add(int(p))
		r.send(p, msg)
	}
	if len(widen) > 0 {
		co.widened = true
	}
	if co.phase == phPreAccept {
		r.decidePreAccept(in)
	}
}

func sortInstances(ids []paxos.Instance) {
	slices.SortFunc(ids, func(a, b paxos.Instance) int {
		if a.Replica != b.Replica {
			return cmp.Compare(a.Replica, b.Replica)
		}
		return cmp.Compare(a.Slot, b.Slot)
	})
}
