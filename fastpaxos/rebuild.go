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

// rebuild is what a replica tracks while it rebuilds: which peers (none
// of them rebuilding) answered its query and the highest slot H among
// their answers, whether they are enough (they meet every classic quorum;
// then H is final), and when it last asked and last proposed its Nop
// (ticks; nopAt 0 means not yet).
type rebuild struct {
	enough         bool
	answered       quorum.Set
	high           uint64
	askedAt, nopAt int64
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

// rebuildAnswer counts a peer's answer, until the answers meet every
// classic quorum: from then on the promise and H they gave are final (later
// answers could only raise them, which the argument does not need), W
// promises the term, and it knows which slots to catch up on.
func (r *Replica) rebuildAnswer(from paxos.NodeID, m RebuildInfo) {
	if r.rb.enough {
		return
	}
	r.rb.answered = r.rb.answered.Add(int(from))
	r.rb.high = max(r.rb.high, m.MaxSlot)
	r.promised = maxBallot(r.promised, m.Term)
	if !quorum.MeetsEvery(r.qs, r.rb.answered) {
		return
	}
	r.rb.enough = true
	r.seenRound = max(r.seenRound, r.promised.Round)
	r.persist(PromiseRecord{Ballot: r.promised})
	r.maxSlot = max(r.maxSlot, min(r.rb.high, r.horizon()))
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
