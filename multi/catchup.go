package multi

import (
	"fmt"

	"github.com/paxos-lab/paxos"
)

// heartbeat announces the commit point the previous heartbeat saw, not the
// current one: the Commits of every slot up to it left at least one
// heartbeat interval ago, so a follower whose reply shows it behind that
// point is missing them (lost, or it was down), while one merely behind
// the current point may only have them in flight (a heartbeat is urgent
// and may overtake them). The leader catches up only the former.
func (r *Replica) heartbeat() {
	r.broadcast(Heartbeat{Ballot: r.ballot, Commit: r.announced, Tick: r.now})
	r.announced = r.executed
}

func (r *Replica) onHeartbeat(from paxos.NodeID, m Heartbeat) error {
	if m.Ballot.Node != from {
		return fmt.Errorf("%w: heartbeat for ballot %v sent by %d", paxos.ErrMalformed, m.Ballot, from)
	}
	if m.Ballot.Less(r.promised) {
		r.nack(from)
		return nil
	}
	r.observe(m.Ballot)
	r.send(from, HeartbeatReply{Ballot: m.Ballot, Executed: r.executed, Commit: m.Commit, Tick: m.Tick})
	return nil
}

func (r *Replica) onHeartbeatReply(from paxos.NodeID, m HeartbeatReply) {
	if r.role != leader || m.Ballot != r.ballot {
		return
	}
	r.leaseAck[from] = max(r.leaseAck[from], r.leaseTick(m)+1)
	// Only a replica behind the commit point the heartbeat announced (the
	// one the heartbeat before it saw) is missing something; one merely
	// behind a later point may have its Commits in flight. One that
	// executed something since its previous reply is most likely lagging
	// (busy, collecting garbage, its queue long) with the Commits it lacks
	// queued: a full CatchUp would queue up to maxCatchUp slots again
	// behind them, a second copy for both sides to encode and decode when
	// they are busiest, so it gets only the first slot it lacks. One that
	// executed nothing (a lost Commit stops execution at its slot) gets
	// them all.
	prev := r.replyExec[from]
	r.replyExec[from] = m.Executed
	limit := uint64(maxCatchUp)
	if prev != noReply && m.Executed > prev {
		limit = 1
	}
	if m.Executed < m.Commit && m.Executed < r.executed && (r.catchAt[from] == 0 || r.now+1-r.catchAt[from] >= uint64(r.cfg.RetryTicks)) {
		r.catchAt[from] = r.now + 1
		r.sendCatchUp(from, m.Executed, limit)
	}
}

// sendCatchUp sends replica to the committed slots after theirs, at most
// limit of them, or this leader's snapshot when theirs is below it.
func (r *Replica) sendCatchUp(to paxos.NodeID, theirs, limit uint64) {
	r.cov.catchUps++
	if theirs < r.base {
		r.send(to, InstallSnapshot{Ballot: r.ballot, Snapshot: r.currentSnapshot()})
		return
	}
	end := min(r.catchUpEnd(), theirs+limit)
	c := CatchUp{Ballot: r.ballot, Entries: make([]Entry, 0, end-theirs)}
	for s := theirs + 1; s <= end; s++ {
		e := r.at(s)
		c.Entries = append(c.Entries, Entry{Slot: s, Ballot: e.ballot, Cmds: e.cmds, Committed: true})
	}
	r.send(to, c)
}

// onCatchUp learns the committed entries of a CatchUp. A stale one is
// answered with a Nack to its sender (the leader whose ballot it carries;
// never to the ballot's node, which a forged message could make this
// replica itself).
func (r *Replica) onCatchUp(from paxos.NodeID, m CatchUp) error {
	for _, e := range m.Entries {
		if err := r.checkSlot(e.Slot, e.Cmds); err != nil {
			return err
		}
	}
	if m.Ballot.Less(r.promised) {
		r.nack(from)
		return nil
	}
	r.observe(m.Ballot)
	for _, e := range m.Entries {
		r.learn(e.Slot, e.Cmds, e.Ballot, false)
	}
	return nil
}

func (r *Replica) onInstallSnapshot(from paxos.NodeID, m InstallSnapshot) {
	if m.Ballot.Less(r.promised) {
		r.nack(from)
		return
	}
	r.observe(m.Ballot)
	r.cov.snapshotInstalls++
	r.installSnapshot(m.Snapshot)
}

func (r *Replica) onForward(from paxos.NodeID, m Forward) error {
	if len(m.Cmds) == 0 {
		return fmt.Errorf("%w: empty forward from %d", paxos.ErrMalformed, from)
	}
	switch {
	case r.role != follower:
		r.waiting = append(r.waiting, m.Cmds...)
	case r.leader >= 0 && r.leader != r.id && r.leader != from:
		r.send(r.leader, m)
	}
	return nil
}

// reforward sends the pending proposals to the (new) leader, within the
// forwarding credit.
func (r *Replica) reforward() {
	r.unforward()
	r.pump()
}

// resendPending re-forwards proposals that did not execute in time.
func (r *Replica) resendPending() {
	if r.leader < 0 || r.leader == r.id {
		return
	}
	var cmds []paxos.Command
	r.pending.each(func(_ paxos.CommandID, p *proposal) {
		if p.forwarded && r.now-p.sentAt >= r.resend {
			p.sentAt = r.now
			cmds = append(cmds, p.cmd)
		}
	})
	if len(cmds) > 0 {
		r.send(r.leader, Forward{Cmds: cmds})
	}
}
