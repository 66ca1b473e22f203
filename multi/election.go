package multi

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

func (r *Replica) startElection() {
	r.cov.elections++
	round := max(r.promised.Round, r.maxSeen.Round) + 1
	b := Ballot{Round: round, Node: r.id}
	r.role, r.ballot, r.leader = candidate, b, -1
	r.promise(b)
	r.promises = quorum.Of(int(r.id))
	r.p1 = map[uint64]Entry{}
	r.p1Max = 0
	r.prepareAt = r.now
	r.resetElectionTimer()
	r.broadcast(Prepare{Ballot: b, Commit: r.executed})
	if r.q.IsPhase1(r.promises) {
		r.becomeLeader()
	}
}

func (r *Replica) stepDown() {
	r.role = follower
	r.waiting = nil
	r.p1 = nil
	r.resetElectionTimer()
}

// observe handles a message at ballot b >= promised from b's leader.
func (r *Replica) observe(b Ballot) {
	r.promise(b)
	if r.role != follower && b != r.ballot {
		r.stepDown()
	}
	if r.role != follower {
		return
	}
	r.electionElapsed = 0
	if r.cfg.LeaseTicks > 0 {
		r.leaseHolder = b.Node
		r.leaseUntil = r.now + uint64(r.cfg.LeaseTicks)
	}
	if r.leader != b.Node {
		r.leader = b.Node
		r.reforward()
	}
}

func (r *Replica) onPrepare(from paxos.NodeID, m Prepare) error {
	if m.Ballot.Node != from {
		return fmt.Errorf("%w: prepare for ballot %v sent by %d", paxos.ErrMalformed, m.Ballot, from)
	}
	if m.Ballot.Less(r.promised) {
		r.nack(from)
		return nil
	}
	if r.leaseHeld() && r.leaseHolder != from && !r.bug.ignoreLease {
		return nil // promised the lease holder not to elect anyone else yet
	}
	if r.promised.Less(m.Ballot) {
		r.promise(m.Ballot)
		if r.role != follower {
			r.stepDown()
		}
		r.leader = -1
		r.resetElectionTimer()
	}
	from0 := max(m.Commit, r.base)
	if r.bug.promiseFromExecuted {
		from0 = max(r.executed, r.base)
	}
	p := Promise{Ballot: m.Ballot}
	if r.base > m.Commit {
		s := r.currentSnapshot()
		p.Snapshot = &s
	}
	for s := from0 + 1; from0 < r.lastSlot() && s <= r.promiseEnd(); s++ {
		e := r.at(s)
		if e.cmds != nil {
			p.Entries = append(p.Entries, Entry{Slot: s, Ballot: e.ballot, Cmds: e.cmds, Committed: e.committed})
		}
	}
	r.send(from, p)
	return nil
}

func (r *Replica) onPromise(from paxos.NodeID, m Promise) error {
	for _, e := range m.Entries {
		if err := r.checkSlot(e.Slot, e.Cmds); err != nil {
			return err
		}
	}
	if r.role != candidate || m.Ballot != r.ballot && !r.bug.promiseAnyBallot {
		return nil
	}
	if m.Snapshot != nil && m.Snapshot.Index > r.executed {
		r.installSnapshot(*m.Snapshot)
	}
	for _, e := range m.Entries {
		r.mergeP1(e)
	}
	r.promises = r.promises.Add(r.ackFrom(r.promises, from, r.bug.countPromises))
	if r.q.IsPhase1(r.promises) {
		r.becomeLeader()
	}
	return nil
}

func better(a, b Entry) bool {
	if a.Committed != b.Committed {
		return a.Committed
	}
	return b.Ballot.Less(a.Ballot)
}

func (r *Replica) mergeP1(e Entry) {
	if e.Slot <= r.executed {
		return
	}
	if cur, ok := r.p1[e.Slot]; !ok || better(e, cur) && (e.Committed || !r.bug.adoptFirstValue) {
		r.p1[e.Slot] = e
	}
	r.p1Max = max(r.p1Max, e.Slot)
}

var nop = []paxos.Command{{Op: paxos.OpNop}}

func (r *Replica) becomeLeader() {
	r.cov.phase1Rounds++
	r.role, r.leader = leader, r.id
	for s := r.executed + 1; s <= r.lastSlot() && !r.bug.leaderIgnoresOwnLog; s++ {
		if e := r.at(s); e.cmds != nil {
			r.mergeP1(Entry{Slot: s, Ballot: e.ballot, Cmds: e.cmds, Committed: e.committed})
		}
	}
	last := max(r.p1Max, r.lastSlot(), r.executed)
	if r.bug.recoverToOwnLast {
		last = max(r.lastSlot(), r.executed)
	}
	for i := range r.leaseAck {
		r.leaseAck[i], r.catchAt[i], r.heard[i], r.resentAt[i], r.ackedSlot[i], r.replyExec[i] = 0, 0, r.now, 0, 0, noReply
	}
	r.next, r.recovered = last+1, last
	for s := r.executed + 1; s <= last; s++ {
		if s <= r.executed {
			continue // executed meanwhile (learning a slot executed those after it)
		}
		e := r.ensure(s)
		best, ok := r.p1[s]
		switch {
		case e.committed:
			r.broadcast(Commit{Ballot: r.ballot, Slot: s, Cmds: e.cmds})
		case ok && best.Committed:
			r.learn(s, best.Cmds, r.ballot, true)
		case ok:
			r.cov.taken++
			r.proposeSlot(s, best.Cmds)
		case r.bug.skipHoles:
		default:
			r.cov.nopFills++
			r.proposeSlot(s, nop)
		}
	}
	r.p1 = nil
	r.hbElapsed = 0
	// Everything executed here was committed under an earlier ballot, so
	// its Commits left before this ballot's phase 1: announce it at once.
	r.announced = r.executed
	r.heartbeat()
	// Serve what was proposed here while we were not leading, then what
	// was forwarded to us during the election.
	queued := r.waiting
	r.waiting = nil
	r.unforward()
	r.held = r.held[:0]
	r.pending.each(func(_ paxos.CommandID, p *proposal) {
		r.waiting = append(r.waiting, p.cmd)
	})
	for _, c := range queued {
		if mine := r.pending.get(c.ID()) != nil; !mine || c.Client == 0 {
			r.waiting = append(r.waiting, c)
		}
	}
	r.executeReady()
}
