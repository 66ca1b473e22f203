package basic

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

// RebuildQuery asks a peer for what a replica rebuilding after a lost disk
// needs to know (see the package doc, "Rebuilding after a lost disk").
type RebuildQuery struct{}

// RebuildInfo answers a RebuildQuery with the highest slot the peer knows
// of. Rebuilding is set when the peer is rebuilding itself; its answer then
// counts for nothing.
type RebuildInfo struct {
	Rebuilding bool   `msgpack:"r,omitempty"`
	MaxSlot    uint64 `msgpack:"m"`
}

// RebuildRecord marks the rebuild of a replica that lost its disk: Done
// false when it begins, true once the replica votes again.
type RebuildRecord struct {
	Done bool `msgpack:"d,omitempty"`
}

func init() {
	paxos.Register("basic.RebuildQuery", RebuildQuery{})
	paxos.Register("basic.RebuildInfo", RebuildInfo{})
	paxos.Register("basic.RebuildRecord", RebuildRecord{})
}

// rebuild is the state of a replica that rebuilds after losing its disk.
type rebuild struct {
	answers quorum.Answers // peers, not rebuilding, that answered
	high    uint64         // highest slot they reported
	askedAt int64          // tick of the last query or catch-up request
}

// Rebuilding reports whether the replica is rebuilding after a lost disk and
// does not vote yet.
func (r *Replica) Rebuilding() bool { return r.rb != nil }

// Quorums returns the quorum system the replica uses.
func (r *Replica) Quorums() quorum.System { return r.q }

// startRebuild enters the rebuilding state when cfg.Rebuild asks for it (and
// the restored records do not say it completed) or the restored records say
// a rebuild was under way.
func (r *Replica) startRebuild(marker, done bool) error {
	if done || (!r.cfg.Rebuild && !marker) {
		return nil
	}
	if quorum.Alone(r.q, int(r.id)) {
		return fmt.Errorf("basic: %w: cannot rebuild replica %d: it forms a quorum of %s on its own, so what only it accepted was lost with its disk",
			paxos.ErrConfig, r.id, r.q)
	}
	r.rb = &rebuild{askedAt: r.now}
	if !marker {
		r.rd.Persist = append(r.rd.Persist, RebuildRecord{})
	}
	r.broadcast(RebuildQuery{})
	return nil
}

// rebuildStep handles the rebuild messages, and, while rebuilding, every
// message that would make this replica vote. It reports whether it handled
// the message.
func (r *Replica) rebuildStep(from paxos.NodeID, body any) (bool, error) {
	switch m := body.(type) {
	case RebuildQuery:
		r.send(from, RebuildInfo{Rebuilding: r.rb != nil, MaxSlot: r.maxSlot})
		return true, nil
	case RebuildInfo:
		if m.MaxSlot > paxos.MaxSlot {
			return true, fmt.Errorf("%w: rebuild answer with slot %d, above %d", paxos.ErrMalformed, m.MaxSlot, uint64(paxos.MaxSlot))
		}
		if r.rb != nil && !m.Rebuilding && r.rb.answers.Add(r.q, int(from)) {
			r.rb.high = max(r.rb.high, m.MaxSlot)
			r.rebuildDone()
		}
		return true, nil
	}
	if r.rb == nil {
		return false, nil
	}
	var slot uint64
	switch m := body.(type) {
	case Prepare:
		slot = m.Slot
	case Accept:
		slot = m.Slot
	default:
		return false, nil
	}
	if err := r.checkSlot(slot); err != nil {
		return true, err
	}
	// No vote; a decision we know is no vote either, and helps the sender
	// (so does a snapshot, for a slot we compacted).
	if r.gone(slot) {
		r.behind(from)
	} else if st := r.slots[slot]; st != nil && st.learned {
		r.send(from, Commit{Slot: slot, Value: st.value})
	}
	return true, nil
}

// rebuildTick runs instead of Tick while rebuilding: it asks the peers that
// have not answered, then the decisions of the slots up to the highest one
// reported, without proposing anything (no hole filling: that would vote).
func (r *Replica) rebuildTick() {
	rb := r.rb
	retry := int64(r.cfg.RetryTicks)
	if r.now-rb.askedAt < retry {
		return
	}
	rb.askedAt = r.now
	if !rb.answers.Enough {
		for i := 0; i < r.n; i++ {
			if paxos.NodeID(i) != r.id && !rb.answers.Set.Has(i) {
				r.send(paxos.NodeID(i), RebuildQuery{})
			}
		}
		return
	}
	if r.executed < rb.high {
		r.broadcast(CatchUp{From: r.executed + 1, To: rb.high})
	}
	r.rebuildDone()
}

// rebuildDone ends the rebuild once every slot up to the highest reported
// one is decided here.
func (r *Replica) rebuildDone() {
	if r.rb == nil || !r.rb.answers.Enough || r.executed < r.rb.high {
		return
	}
	r.maxSlot = max(r.maxSlot, r.rb.high)
	r.rb, r.rebuilt = nil, true
	r.rd.Persist = append(r.rd.Persist, RebuildRecord{Done: true})
}
