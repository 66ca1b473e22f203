package fastpaxos

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

// This file is the rebuild of a replica started with Config.Rebuild; the
// package doc ("Rebuilding after a lost disk") gives the rule and why it is
// safe.

// RebuildQuery is sent by a replica that lost its disk to each peer, until
// enough of them have answered with a RebuildInfo.
type RebuildQuery struct{}

// RebuildInfo is a peer's answer to a RebuildQuery. Term is the term the
// peer promised; MaxSlot the highest slot it has any knowledge of (a vote,
// a decision, or a slot a leader or proposer named). A peer that is itself
// rebuilding sets Rebuilding, and the asker ignores what it says.
type RebuildInfo struct {
	Term       Ballot `msgpack:"t"`
	MaxSlot    uint64 `msgpack:"m"`
	Rebuilding bool   `msgpack:"r,omitempty"`
}

func init() {
	paxos.Register("fastpaxos.RebuildQuery", RebuildQuery{})
	paxos.Register("fastpaxos.RebuildInfo", RebuildInfo{})
	paxos.Register("fastpaxos.RebuildRecord", RebuildRecord{})
}

// rebuild is the state of a replica that rebuilds after losing its disk.
type rebuild struct {
	answered quorum.Set // peers, not rebuilding, that answered
	high     uint64     // H: the highest slot they reported
	enough   bool       // answered meets every classic quorum
	askedAt  int64      // tick of the last query
	nopAt    int64      // tick of the last Nop proposed (0: none yet)
}

// Rebuilding implements paxos.Rebuilder: it reports whether the replica is
// rebuilding after a lost disk and does not vote yet.
func (r *Replica) Rebuilding() bool { return r.rb != nil }

// startRebuild enters the rebuilding state when cfg.Rebuild asks for it
// (and the restored records do not say it completed) or the restored
// records say a rebuild was under way.
func (r *Replica) startRebuild(marker bool) error {
	if !r.cfg.Rebuild && !marker {
		return nil
	}
	if r.classic <= 1 {
		return fmt.Errorf("fastpaxos: %w: cannot rebuild replica %d: it forms a classic quorum on its own, so what only it accepted was lost with its disk", paxos.ErrConfig, r.id)
	}
	r.rb = &rebuild{askedAt: r.now}
	if !marker {
		r.persist(RebuildRecord{})
	}
	r.broadcast(RebuildQuery{})
	return nil
}

// rebuildStep handles the rebuild messages, and every message that would
// make a rebuilding replica vote or promise. It reports whether it handled
// body.
func (r *Replica) rebuildStep(from paxos.NodeID, body any) bool {
	switch m := body.(type) {
	case RebuildQuery:
		if from != r.id {
			r.send(from, RebuildInfo{Term: r.promised, MaxSlot: max(r.maxSlot, r.learnedTo), Rebuilding: r.rb != nil})
		}
		return true
	case RebuildInfo:
		if r.rb != nil && !m.Rebuilding && from != r.id {
			r.rebuildAnswer(from, m)
		}
		return true
	}
	if r.rb == nil {
		return false
	}
	switch body.(type) {
	case Prepare, Propose, Accept, Recover:
		// No promise, vote or report while rebuilding: say nothing (a
		// Nack would carry a promise this replica may have forgotten).
		return true
	}
	return false
}

func (r *Replica) rebuildAnswer(from paxos.NodeID, m RebuildInfo) {
	rb := r.rb
	if rb.enough {
		return // P and H are fixed by the first answers that were enough
	}
	rb.answered = rb.answered.Add(int(from))
	if r.promised.Less(m.Term) {
		r.promised = m.Term
	}
	rb.high = max(rb.high, m.MaxSlot)
	if quorum.MeetsEvery(r.qs, rb.answered) {
		rb.enough = true
		r.seenRound = max(r.seenRound, r.promised.Round)
		r.persist(PromiseRecord{Ballot: r.promised})
		r.maxSlot = max(r.maxSlot, min(rb.high, r.horizon()))
	}
	r.rebuildDone()
}

// rebuildTick runs instead of the follower's election timer while
// rebuilding: queries until enough peers answered; then, once every slot up
// to H is learned, a Nop of its own in a fresh slot, until a slot above H
// is learned.
func (r *Replica) rebuildTick() {
	rb := r.rb
	r.heard = r.now // never campaign while rebuilding
	if !rb.enough {
		if r.now-rb.askedAt >= r.retry() {
			rb.askedAt = r.now
			for i := 0; i < r.n; i++ {
				if id := paxos.NodeID(i); id != r.id && !rb.answered.Has(i) {
					r.send(id, RebuildQuery{})
				}
			}
		}
		return
	}
	r.maxSlot = max(r.maxSlot, min(rb.high, r.horizon()))
	if r.learnedTo >= rb.high && !r.anyBallot.IsZero() && (rb.nopAt == 0 || r.now-rb.nopAt >= 2*r.retry()) {
		rb.nopAt = r.now
		r.queue = append(r.queue, queued{cmd: paxos.Command{Op: paxos.OpNop}})
	}
	r.rebuildDone()
}

// rebuildDone ends the rebuild once its condition holds: enough answers,
// and a slot above H learned.
func (r *Replica) rebuildDone() {
	if r.rb == nil || !r.rb.enough || r.learnedTo <= r.rb.high {
		return
	}
	r.rb = nil
	r.stats["rebuilds-done"]++
	r.persist(RebuildRecord{Done: true})
	r.heard = r.now
	r.resetTimer()
}
