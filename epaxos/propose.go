package epaxos

import (
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

// batchWait is how many of its own instances a command leader must have in
// flight before a partial batch waits to fill (Config.Batch > 1). Under
// light load nothing is in flight and commands go out at once; under load
// the replies to the instances in flight (or the next tick) release the
// batch, so instances carry what arrived meanwhile.
const batchWait = 1

// flush leads the waiting proposals in batches of up to Config.Batch, while
// fewer than Config.Window own instances are in flight. A partial batch
// waits while batchWait instances are in flight unless partial is set (on
// Tick). Commands that executed here while they waited (a client's retry
// of a command proposed elsewhere) are dropped: that execution, reported
// after the proposal, answers them. The store is asked only when a command
// executed since the waiting ones were proposed (batchChecked).
//
// A full batch none of whose commands is dropped is led in place: the
// instance takes that part of batch's array (capped at its length), and
// batch moves past it instead of copying what is left to its front (to a
// new array when fewer than Config.Batch more would fit). A partial batch
// is copied into an array of its size, so that the array of Config.Batch
// commands waiting lists start with is not given to a few.
func (r *Replica) flush(partial bool) {
	if r.rb != nil {
		return // no leading while rebuilding
	}
	i, inPlace := 0, false
	for i < len(r.batch) && r.inflight+r.held < r.cfg.Window {
		if len(r.batch)-i < r.cfg.Batch && !partial && r.inflight >= batchWait {
			break
		}
		k := min(len(r.batch)-i, r.cfg.Batch)
		cmds := r.batch[i : i+k : i+k]
		if d := r.firstDone(cmds); d < len(cmds) {
			cmds = r.undone(cmds, d)
		} else if k < r.cfg.Batch {
			cmds = append(make([]paxos.Command, 0, k), cmds...)
		} else {
			inPlace = true
		}
		i += k
		if len(cmds) > 0 {
			r.lead(cmds)
		}
	}
	switch rest := r.batch[i:]; {
	case i == 0:
	case !inPlace:
		r.batch = r.batch[:copy(r.batch, rest)]
	case cap(rest)-len(rest) >= r.cfg.Batch:
		r.batch = rest
	default:
		r.batch = append(make([]paxos.Command, 0, len(rest)+r.cfg.Batch), rest...)
	}
}

// doneWaiting reports whether a waiting command executed here already (a
// client's retry of a command proposed elsewhere), so that flush drops it.
func (r *Replica) doneWaiting(c *paxos.Command) bool {
	return c.Client != 0 && !c.IsNop() && r.store.Done(c)
}

// firstDone returns the index of the first of cmds that doneWaiting
// drops, len(cmds) if none (or batchChecked: none can be).
func (r *Replica) firstDone(cmds []paxos.Command) int {
	if !r.batchChecked {
		for j := range cmds {
			if r.doneWaiting(&cmds[j]) {
				return j
			}
		}
	}
	return len(cmds)
}

// undone returns a copy of cmds without those doneWaiting drops, the first
// of which is cmds[d].
func (r *Replica) undone(cmds []paxos.Command, d int) []paxos.Command {
	kept := make([]paxos.Command, d, len(cmds)-1)
	copy(kept, cmds[:d])
	for j := d + 1; j < len(cmds); j++ {
		if !r.doneWaiting(&cmds[j]) {
			kept = append(kept, cmds[j])
		}
	}
	return kept
}

// setOf returns the set of the given replicas.
func setOf(ids []paxos.NodeID) quorum.Set {
	var s quorum.Set
	for _, p := range ids {
		s = s.Add(int(p))
	}
	return s
}

// lead starts a new instance of this replica for cmds at the initial ballot.
func (r *Replica) lead(cmds []paxos.Command) {
	id := paxos.Instance{Replica: r.id, Slot: r.nextSlot}
	in := r.get(id)
	r.release(in) // counted as led from now on
	if id.Slot <= r.reserved {
		// A slot this replica may have led before it lost its disk, with
		// another command some silent peer may hold: lead it like a
		// recovery, through a phase 1 at a higher ballot, proposing cmds
		// only if the slot is free (see free).
		in.mine = cmds
		in.led, in.ledAt = true, r.now
		r.inflight++
		r.stats.Reserved++
		r.recover(in)
		return
	}
	seq, deps := r.attrs(id, cmds, 1, nil, nil)
	b := MakeBallot(0, r.id)
	in.cmds, in.seq, in.deps, in.status, in.bal, in.vbal, in.orig = cmds, seq, deps, StatusPreAccepted, b, b, true
	in.mine = cmds
	in.led, in.ledAt = true, r.now
	r.inflight++
	r.indexAddFound(in)
	r.persist(in)
	in.co = &coord{ballot: b, phase: phPreAccept, started: r.now, cmds: cmds, seq: seq, deps: slices.Clone(deps),
		origSeq: seq, origDeps: slices.Clone(deps), replied: quorum.Of(int(r.id)), unchanged: 1}
	r.scheduleRecovery(in)
	// Boxed once: every peer's Message shares the body.
	var msg any = PreAccept{Ballot: b, Inst: id, Cmds: cmds, Seq: seq, Deps: deps}
	targets := r.nearest
	if r.cfg.Thrifty {
		targets = targets[:min(len(targets), r.fq-1)]
	}
	in.co.asked = setOf(targets)
	for _, p := range targets {
		r.send(p, msg)
	}
	r.decidePreAccept(in)
}
