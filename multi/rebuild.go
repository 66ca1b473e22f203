package multi

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

// Rebuilding after a lost disk (Config.Rebuild); the rule and its argument
// are in the package doc.

// RebuildQuery asks a peer for what a rebuilding replica needs to know.
type RebuildQuery struct{}

// RebuildInfo answers a RebuildQuery: the peer's promised ballot and the
// highest slot it holds a value for (or has assigned, when it leads).
// Rebuilding is set when the peer is rebuilding itself; its answer then
// counts for nothing.
type RebuildInfo struct {
	Rebuilding bool   `msgpack:"r,omitempty"`
	Promised   Ballot `msgpack:"p"`
	Last       uint64 `msgpack:"l"`
}

// RebuildRecord marks the rebuild of a replica that lost its disk: Done
// false when it begins, true once the replica votes again.
type RebuildRecord struct {
	Done bool `msgpack:"d,omitempty"`
}

func init() {
	paxos.Register("multi.RebuildQuery", RebuildQuery{})
	paxos.Register("multi.RebuildInfo", RebuildInfo{})
	paxos.Register("multi.RebuildRecord", RebuildRecord{})
}

// rebuild is the state of a replica that rebuilds after losing its disk.
type rebuild struct {
	answers  quorum.Answers // peers, not rebuilding, that answered
	promised Ballot         // highest ballot they reported
	high     uint64         // highest slot they reported
	askedAt  uint64         // tick of the last query
	nopAt    uint64         // tick of the last Nop forwarded
}

// Rebuilding reports whether the replica is rebuilding after a lost disk and
// does not vote yet.
func (r *Replica) Rebuilding() bool { return r.rb != nil }

// startRebuild enters the rebuilding state when cfg.Rebuild asks for it (and
// the restored records do not say it completed) or the restored records say
// a rebuild was under way. fresh is set when the rebuild begins now.
func (r *Replica) startRebuild(marker, done bool) error {
	if done || (!r.cfg.Rebuild && !marker) {
		return nil
	}
	if quorum.Alone(r.q, int(r.id)) {
		return fmt.Errorf("multi: %w: cannot rebuild replica %d: it forms a quorum of %s on its own, so what only it accepted was lost with its disk",
			paxos.ErrConfig, r.id, r.q)
	}
	r.rb = &rebuild{}
	if !marker {
		r.persist(RebuildRecord{})
	}
	if r.cfg.LeaseTicks > 0 {
		r.leaseUntil = r.now + uint64(r.cfg.LeaseTicks+LeaseMargin)
	}
	r.broadcast(RebuildQuery{})
	return nil
}

// rebuildStep handles the rebuild messages, and every message while
// rebuilding that would make this replica vote. It reports whether it
// handled msg.
func (r *Replica) rebuildStep(from paxos.NodeID, body any) (bool, error) {
	switch m := body.(type) {
	case RebuildQuery:
		info := RebuildInfo{Rebuilding: r.rb != nil, Promised: r.promised, Last: max(r.lastSlot(), r.executed)}
		if r.role == leader && r.next > 0 {
			info.Last = max(info.Last, r.next-1)
		}
		r.send(from, info)
		return true, nil
	case RebuildInfo:
		if r.rb != nil && (!m.Rebuilding || r.bug.rebuildCountsRebuilt) {
			r.rebuildAnswer(from, m)
		}
		return true, nil
	}
	if r.rb == nil {
		return false, nil
	}
	switch m := body.(type) {
	case Prepare:
		return true, nil // no promise while rebuilding
	case Accept:
		if err := r.checkSlot(m.Slot, m.Cmds); err != nil {
			return true, err
		}
		if m.Ballot.Node != from {
			return true, fmt.Errorf("%w: accept for ballot %v sent by %d", paxos.ErrMalformed, m.Ballot, from)
		}
		if !m.Ballot.Less(r.promised) {
			r.observe(m.Ballot) // who leads; no vote
		}
		return true, nil
	}
	return false, nil
}

func (r *Replica) rebuildAnswer(from paxos.NodeID, m RebuildInfo) {
	rb := r.rb
	if !rb.answers.Add(r.q, int(from)) {
		return // P and H are fixed by the first answers that were enough
	}
	if rb.promised.Less(m.Promised) {
		rb.promised = m.Promised
	}
	rb.high = max(rb.high, m.Last)
	if rb.answers.Enough {
		r.promise(rb.promised)
	}
	r.rebuildDone()
}

// rebuildTick runs instead of the follower's Tick while rebuilding: no
// election; queries until enough peers answered, then a Nop to the leader
// once caught up, until a slot above every reported one executed here.
func (r *Replica) rebuildTick() {
	rb := r.rb
	r.electionElapsed = 0
	r.resendPending()
	retry := uint64(r.cfg.RetryTicks)
	if !rb.answers.Enough {
		if r.now-rb.askedAt >= retry {
			rb.askedAt = r.now
			for _, id := range r.others {
				if !rb.answers.Set.Has(int(id)) {
					r.send(id, RebuildQuery{})
				}
			}
		}
		return
	}
	if r.executed >= rb.high && r.leader >= 0 && r.leader != r.id && (rb.nopAt == 0 || r.now-rb.nopAt >= 2*retry) {
		rb.nopAt = r.now
		r.send(r.leader, Forward{Cmds: nop})
	}
	r.rebuildDone()
}

// rebuildDone ends the rebuild once its condition holds.
func (r *Replica) rebuildDone() {
	if r.rb == nil || !r.rb.answers.Enough || r.executed <= r.rb.high {
		return
	}
	r.rb = nil
	// What it learned is only in memory: a snapshot makes it durable, so
	// that after a crash it still reports every slot up to H as decided.
	r.takeSnapshot(false)
	r.persist(RebuildRecord{Done: true})
	r.resetElectionTimer()
}
