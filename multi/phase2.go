package multi

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/readypool"
	"github.com/paxos-lab/paxos/quorum"
)

// flush assigns waiting commands to new slots, within the window. With
// Batch > 1 a partial batch waits while other slots are in flight, until
// the next tick at the latest (partial), so that batches fill under load.
func (r *Replica) flush(partial bool) {
	if r.role != leader {
		return
	}
	i := 0 // commands of r.waiting consumed
	for i < len(r.waiting) && r.next-1-r.executed < uint64(r.cfg.Window) {
		if len(r.waiting)-i < r.cfg.Batch && !partial && r.next-1 > r.executed {
			break
		}
		k := min(r.cfg.Batch, len(r.waiting)-i)
		cmds := make([]paxos.Command, 0, k)
		for j := range r.waiting[i : i+k] {
			c := &r.waiting[i+j]
			if c.Client != 0 && !c.IsNop() {
				if r.store.Done(c) {
					continue
				}
			}
			cmds = append(cmds, *c)
		}
		i += k
		if len(cmds) == 0 {
			continue
		}
		r.proposeSlot(r.next, cmds)
		r.next++
	}
	if i > 0 && r.role == leader {
		// keep the buffer: shift what is left to the front
		r.waiting = r.waiting[:copy(r.waiting, r.waiting[i:])]
	}
}

func (r *Replica) proposeSlot(s uint64, cmds []paxos.Command) {
	e := r.ensure(s)
	e.ballot, e.cmds, e.acks, e.sent, e.sentAt = r.ballot, cmds, quorum.Of(int(r.id)), r.p2, r.now
	r.persist(AcceptRecord{Slot: s, Ballot: r.ballot, Cmds: cmds})
	var a any = Accept{Ballot: r.ballot, Slot: s, Cmds: cmds} // boxed once for all
	for _, id := range r.others {
		if r.p2.Has(int(id)) {
			r.send(id, a)
		}
	}
	r.tryCommit(s, e)
}

func (r *Replica) tryCommit(s uint64, e *entry) {
	if !e.committed && r.q.IsPhase2(e.acks) {
		r.learn(s, e.cmds, r.ballot, true)
	}
}

// retransmit resends an Accept not acknowledged within RetryTicks to each
// replica that has not acknowledged it but has since answered a heartbeat
// sent after the Accept, and after the last Accept resent to it (widening a
// thrifty quorum to the replicas that are alive). Such a replica's
// Accepted, sent before that reply, should have been processed: the Accept
// or its answer was lost. A replica that answered nothing sent since is
// down or slow, or, when no replica did, this leader has not yet processed
// the answers queued in front of it; resending then would only add
// messages, and under overload turn the leader's queueing delay into a
// storm of duplicate Accepts and Accepted replies. The evidence is kept per
// replica (resentAt), not per slot: a replica that answers heartbeats
// quickly but never acknowledges (one rebuilding after a lost disk) must not
// keep pushing a slot's resend time past what a slower replica's heartbeat
// replies can ever show, which starved the slower replica of the resend it
// needed and stalled the log.
func (r *Replica) retransmit() {
	var resent quorum.Set
	for s := r.executed + 1; s < r.next; s++ {
		e := r.at(s)
		if e == nil || e.committed || r.now-e.sentAt < uint64(r.cfg.RetryTicks) {
			continue
		}
		var a any
		for _, id := range r.others {
			// leaseAck is one more than the latest acknowledged heartbeat
			// tick; a heartbeat of tick sentAt may precede the Accept.
			if !e.acks.Has(int(id)) && r.leaseAck[id] > max(e.sentAt, r.resentAt[id])+1 {
				if a == nil {
					a = Accept{Ballot: r.ballot, Slot: s, Cmds: e.cmds}
				}
				r.send(id, a)
				resent = resent.Add(int(id))
				e.sent = e.sent.Add(int(id))
			}
		}
	}
	for _, id := range r.others {
		if resent.Has(int(id)) {
			r.resentAt[id] = r.now
		}
	}
}

func (r *Replica) onAccept(from paxos.NodeID, m Accept) error {
	if err := r.checkSlot(m.Slot, m.Cmds); err != nil {
		return err
	}
	if m.Ballot.Node != from {
		return fmt.Errorf("%w: accept for ballot %v sent by %d", paxos.ErrMalformed, m.Ballot, from)
	}
	if r.refusesAccept(m.Ballot) {
		r.nack(from)
		return nil
	}
	r.observe(m.Ballot)
	if m.Slot > r.executed {
		e := r.ensure(m.Slot)
		if !e.committed {
			e.ballot, e.cmds = m.Ballot, m.Cmds
			r.persistAccept(AcceptRecord{Slot: m.Slot, Ballot: m.Ballot, Cmds: m.Cmds})
		}
	}
	r.send(from, Accepted{Ballot: m.Ballot, Slot: m.Slot})
	return nil
}

func (r *Replica) onAccepted(from paxos.NodeID, m Accepted) {
	if r.role != leader || m.Ballot != r.ballot && !r.bug.acceptedAnyBallot {
		return
	}
	if m.Ballot == r.ballot {
		// also when the slot is committed already: see holdsAccept
		r.ackedSlot[from] = max(r.ackedSlot[from], m.Slot)
	}
	e := r.at(m.Slot)
	if e == nil || e.committed || e.ballot != r.ballot {
		return
	}
	e.acks = e.acks.Add(r.ackFrom(e.acks, from, r.bug.countAcks))
	r.tryCommit(m.Slot, e)
}

// learn records that cmds was chosen for slot s, reports it, announces it
// (when leading) and executes what it can.
func (r *Replica) learn(s uint64, cmds []paxos.Command, b Ballot, announce bool) {
	if s <= r.executed {
		return
	}
	e := r.ensure(s)
	if e.committed {
		return
	}
	// proposed: this leader proposed cmds for s at its ballot b, so the
	// replicas it sent that Accept to may hold it (see Chosen).
	proposed := e.ballot == b && r.role == leader && b == r.ballot
	e.committed, e.cmds, e.ballot = true, cmds, b
	r.rd.Decided = append(r.rd.Decided, paxos.Decision{Instance: paxos.Instance{Replica: 0, Slot: s}, Commands: cmds})
	if r.pending.len() > 0 {
		r.rd.Committed = readypool.Room(r.rd.Committed, len(cmds))
		for _, c := range cmds {
			if c.Client == 0 {
				continue
			}
			if p := r.pending.get(c.ID()); p != nil && !p.committed {
				p.committed = true
				r.rd.Committed = append(r.rd.Committed, paxos.Commit{ID: c.ID(), Path: paxos.PathClassic})
			}
		}
	}
	if announce && r.role == leader {
		// A short commit to each replica that holds the value or has it
		// on its way; the commands only to the others.
		for _, id := range r.others {
			if proposed && r.holdsAccept(e, s, id) {
				r.send(id, Chosen{Ballot: r.ballot, Slot: s})
			} else {
				r.send(id, Commit{Ballot: r.ballot, Slot: s, Cmds: cmds})
			}
		}
	}
	r.executeReady()
}

// holdsAccept reports whether replica id acknowledged this leader's
// Accept of slot s (entry e), or was sent it and is voting at this ballot:
// it acknowledged a slot of the ballot no more than Window slots before s.
// Such a replica received the Accept before a short commit sent now (links
// are FIFO) unless a message was lost; then it ignores the Chosen and gets
// the slot by catch-up. A replica that votes on nothing (one rebuilding
// after a lost disk) or has not answered for a window of slots gets the
// commands. Which message a replica gets affects only how soon it learns,
// never what: a Chosen names a ballot, and only the value accepted at that
// ballot is learned from it (onChosen).
func (r *Replica) holdsAccept(e *entry, s uint64, id paxos.NodeID) bool {
	if e.acks.Has(int(id)) {
		return true
	}
	a := r.ackedSlot[id]
	return e.sent.Has(int(id)) && a > 0 && a+uint64(r.cfg.Window) >= s
}

func (r *Replica) onCommit(from paxos.NodeID, m Commit) error {
	if err := r.checkSlot(m.Slot, m.Cmds); err != nil {
		return err
	}
	if m.Ballot.Less(r.promised) {
		r.nack(from)
		return nil
	}
	r.observe(m.Ballot)
	r.learn(m.Slot, r.commitValue(m.Slot, m.Cmds), m.Ballot, false)
	return nil
}

// onChosen handles a short commit: the value is the one this replica
// accepted at m.Ballot. A replica that does not hold a value at that ballot
// (the Accept was lost or is late, or it lost its disk since) ignores the
// message; a catch-up brings the value.
func (r *Replica) onChosen(from paxos.NodeID, m Chosen) error {
	if err := r.checkSlot(m.Slot, nop); err != nil { // nop: no commands to check
		return err
	}
	if m.Ballot.Less(r.promised) {
		r.nack(from)
		return nil
	}
	r.observe(m.Ballot)
	if e := r.at(m.Slot); e != nil && e.cmds != nil && e.ballot == m.Ballot {
		r.learn(m.Slot, e.cmds, m.Ballot, false)
	}
	return nil
}

// nack refuses a message of a ballot below this replica's promise: it tells
// the sender the promise, at most nackcap.PerTick times per tick for the
// same promise, so that a burst of stale messages, such as the heartbeats
// of a leader whose clock jumped ahead, is not echoed back into its queue
// (see nackcap; TestStaleLeaderFloodConverges).
func (r *Replica) nack(to paxos.NodeID) {
	if r.nacks.Allow(to, r.now, r.promised) {
		r.send(to, Nack{Promised: r.promised})
	}
}

func (r *Replica) onNack(m Nack) {
	if r.maxSeen.Less(m.Promised) {
		r.maxSeen = m.Promised
	}
	if r.role != follower && r.ballot.Less(m.Promised) {
		r.stepDown()
		r.leader = -1
	}
}

// executeReady executes every committed slot following the execution point.
func (r *Replica) executeReady() {
	// Room for every command about to execute, at once: a follower
	// executing many slots in one Ready grew its list step by step.
	n := 0
	for s := r.executed + 1; ; s++ {
		e := r.at(s)
		if e == nil || !e.committed {
			break
		}
		n += len(e.cmds)
	}
	r.rd.Executed = readypool.Room(r.rd.Executed, n)
	for {
		e := r.at(r.executed + 1)
		if e == nil || !e.committed {
			break
		}
		r.executed++
		if len(e.cmds) > 1 {
			r.store.Prefetch(e.cmds) // the store's misses overlap (kv.Executor.Prefetch)
		}
		for k := range e.cmds {
			// built in place in the room made above
			c := &e.cmds[k]
			i := len(r.rd.Executed)
			r.rd.Executed = r.rd.Executed[:i+1]
			r.store.ApplyTo(&r.rd.Executed[i], c)
			r.sinceSnap++
			if c.Client != 0 && r.pending.len() > 0 {
				r.dropPending(c.ID())
			}
		}
	}
	r.pending.tidy()
	r.trim()
	if r.every > 0 && r.executed-r.snap.Index >= r.every+r.snapDelay && r.sinceSnap >= r.snapKeys {
		r.takeSnapshot(true)
	}
}

// dropPending forgets proposal id (executed here), returning its forwarding
// credit.
func (r *Replica) dropPending(id paxos.CommandID) {
	if p, ok := r.pending.remove(id); ok && p.forwarded {
		r.fwd--
	}
}
