package epaxos

import (
	"fmt"

	"github.com/paxos-lab/paxos"
)

// ahead is how many slots past what this replica knows of a replica's
// instances (see horizon) a message may name. A command leader keeps at
// most Config.Window of its instances uncommitted, so a correct replica
// that hears every commit never learns of an instance, or a dependency,
// more than a window past what it already knows; the bound is four windows
// and two catch-up batches. Beyond it the message is refused as malformed
// before any instance is created for it (a forged Commit for slot 200000
// used to create every slot below it, each then recovered). A replica that
// missed more than that catches up within the bound: the peers resend the
// commits just past its execution watermark (helpCatchUp), and what it
// learns moves its horizon on.
func (r *Replica) ahead() uint64 { return 4*uint64(r.cfg.Window) + 2*catchUpBatch }

// horizon is the highest slot of replica q a message may name here: ahead
// slots past the highest this replica holds, has executed or has
// garbage-collected of q.
func (r *Replica) horizon(q paxos.NodeID) uint64 {
	known := max(r.maxSlot[q], r.gcUpTo[q], r.execUpTo[q])
	if q == r.id {
		known = max(known, r.nextSlot-1)
	}
	h := known + r.ahead()
	if h < known {
		return ^uint64(0)
	}
	return h
}

// maxSeq bounds the seq attribute a message may carry. Seqs grow by one per
// interfering instance, so no correct run comes near it; a larger one would
// let a forged message wrap every later seq around.
const maxSeq = 1 << 48

func (r *Replica) checkInst(in paxos.Instance, deps []uint64, needDeps bool) error {
	if in.Replica < 0 || int(in.Replica) >= r.n || in.Slot == 0 {
		return fmt.Errorf("epaxos: bad instance %v (N=%d, slots from 1): %w", in, r.n, paxos.ErrMalformed)
	}
	if h := r.horizon(in.Replica); in.Slot > h {
		return fmt.Errorf("epaxos: instance %v is beyond slot %d, more than %d slots past what this replica knows of replica %d (Config.Window=%d): %w",
			in, h, r.ahead(), in.Replica, r.cfg.Window, paxos.ErrMalformed)
	}
	if needDeps && len(deps) != r.n {
		return fmt.Errorf("epaxos: instance %v with %d deps for %d replicas: %w", in, len(deps), r.n, paxos.ErrMalformed)
	}
	if len(deps) == r.n {
		for q, d := range deps {
			if h := r.horizon(paxos.NodeID(q)); d > h {
				return fmt.Errorf("epaxos: instance %v depends on slot %d of replica %d, beyond slot %d, more than %d slots past what this replica knows of it: %w",
					in, d, q, h, r.ahead(), paxos.ErrMalformed)
			}
		}
	}
	return nil
}

// checkValue validates an instance with the value a message carries.
func (r *Replica) checkValue(in paxos.Instance, cmds []paxos.Command, deps []uint64) error {
	if len(cmds) == 0 {
		return fmt.Errorf("epaxos: instance %v carried without commands: %w", in, paxos.ErrMalformed)
	}
	if err := r.checkCmds(in, cmds); err != nil {
		return err
	}
	return r.checkInst(in, deps, true)
}

// checkCmds refuses a batch larger than Config.Batch (every replica must
// run with the same Batch).
func (r *Replica) checkCmds(in paxos.Instance, cmds []paxos.Command) error {
	if len(cmds) > r.cfg.Batch {
		return fmt.Errorf("epaxos: instance %v carries %d commands, more than Config.Batch=%d; every replica must run with the same Batch: %w",
			in, len(cmds), r.cfg.Batch, paxos.ErrMalformed)
	}
	return nil
}

// checkBody refuses, before any handler runs, ballots that name no replica
// of the cluster or a round no correct replica reaches (paxos.MaxRound),
// seqs beyond maxSeq and oversize lists.
func (r *Replica) checkBody(body any) error {
	var bs []Ballot
	var seq uint64
	switch m := body.(type) {
	case PreAccept:
		bs, seq = []Ballot{m.Ballot}, m.Seq
	case PreAcceptReply:
		bs, seq = []Ballot{m.Ballot}, m.Seq
	case Accept:
		bs, seq = []Ballot{m.Ballot}, m.Seq
	case AcceptReply:
		bs, seq = []Ballot{m.Ballot}, m.Seq
	case Commit:
		seq = m.Seq
	case Prepare:
		bs = []Ballot{m.Ballot}
	case PrepareReply:
		if m.Status > StatusCommitted {
			return fmt.Errorf("epaxos: prepare reply with status %v: %w", m.Status, paxos.ErrMalformed)
		}
		bs, seq = []Ballot{m.Ballot, m.VBallot}, m.Seq
	case TryPreAccept:
		bs, seq = []Ballot{m.Ballot}, m.Seq
	case TryPreAcceptReply:
		bs, seq = []Ballot{m.Ballot}, m.Seq
	case RebuildInfo:
		if len(m.Unknown) > maxMissing {
			return fmt.Errorf("epaxos: rebuild info lists %d unknown instances, at most %d: %w", len(m.Unknown), maxMissing, paxos.ErrMalformed)
		}
		for q, s := range m.MaxSlot {
			if s > paxos.MaxSlot {
				return fmt.Errorf("epaxos: rebuild info reports slot %d of replica %d, above %d: %w", s, q, uint64(paxos.MaxSlot), paxos.ErrMalformed)
			}
		}
		if m.State != nil {
			if err := r.checkState(m.State); err != nil {
				return err
			}
		}
	}
	if seq > maxSeq {
		return fmt.Errorf("epaxos: seq %d above %d: %w", seq, uint64(maxSeq), paxos.ErrMalformed)
	}
	for _, b := range bs {
		if int(b.Node()) >= r.n || b.Round() > paxos.MaxRound {
			return fmt.Errorf("epaxos: ballot %v names replica %d of 0..%d or a round above %d: %w", b, b.Node(), r.n-1, uint64(paxos.MaxRound), paxos.ErrMalformed)
		}
	}
	return nil
}

// checkReply validates a reply: deps when it carries attributes, and
// commands when it reports a decision.
func (r *Replica) checkReply(in paxos.Instance, deps []uint64, attrs, committed bool, cmds []paxos.Command) error {
	if committed && len(cmds) == 0 {
		return fmt.Errorf("epaxos: decision of instance %v reported without commands: %w", in, paxos.ErrMalformed)
	}
	if err := r.checkCmds(in, cmds); err != nil {
		return err
	}
	return r.checkInst(in, deps, attrs || committed)
}

// checkState refuses the state a peer sends a rebuilding replica
// (RebuildInfo.State) when restoring it could wrap a number or allocate
// beyond what the message itself holds: watermarks above paxos.MaxSlot;
// an instance outside the cluster, with a malformed ballot or status, a
// seq above maxSeq, or a slot further past its row's garbage-collection
// point than the row's records and a window reach (restore creates every
// instance in between; a peer's rows are dense there); dependencies and
// index slots beyond a window past what the state knows of their row; and
// index seqs above maxSeq. The state's store is checked by the restore.
func (r *Replica) checkState(s *SnapshotRecord) error {
	if len(s.ExecUpTo) != r.n || len(s.GCUpTo) != r.n {
		return fmt.Errorf("epaxos: rebuild state with watermarks for %d and %d replicas, cluster has %d: %w", len(s.ExecUpTo), len(s.GCUpTo), r.n, paxos.ErrMalformed)
	}
	top, count := make([]uint64, r.n), make([]uint64, r.n)
	for q := range r.n {
		if s.ExecUpTo[q] > paxos.MaxSlot || s.GCUpTo[q] > paxos.MaxSlot {
			return fmt.Errorf("epaxos: rebuild state executed %d and collected %d of replica %d, above %d: %w", s.ExecUpTo[q], s.GCUpTo[q], q, uint64(paxos.MaxSlot), paxos.ErrMalformed)
		}
		top[q] = max(s.ExecUpTo[q], s.GCUpTo[q])
	}
	for _, rec := range s.Instances {
		id := rec.Inst
		if id.Replica < 0 || int(id.Replica) >= r.n || id.Slot == 0 || id.Slot > paxos.MaxSlot {
			return fmt.Errorf("epaxos: rebuild state holds instance %v (N=%d, slots 1..%d): %w", id, r.n, uint64(paxos.MaxSlot), paxos.ErrMalformed)
		}
		if rec.Status > StatusCommitted || rec.Seq > maxSeq || (len(rec.Deps) != 0 && len(rec.Deps) != r.n) {
			return fmt.Errorf("epaxos: rebuild state holds instance %v with status %v, seq %d (at most %d), %d deps for %d replicas: %w",
				id, rec.Status, rec.Seq, uint64(maxSeq), len(rec.Deps), r.n, paxos.ErrMalformed)
		}
		for _, b := range []Ballot{rec.Ballot, rec.VBallot} {
			if int(b.Node()) >= r.n || b.Round() > paxos.MaxRound {
				return fmt.Errorf("epaxos: rebuild state holds instance %v at ballot %v (replicas 0..%d, rounds up to %d): %w", id, b, r.n-1, uint64(paxos.MaxRound), paxos.ErrMalformed)
			}
		}
		count[id.Replica]++
		top[id.Replica] = max(top[id.Replica], id.Slot)
	}
	for q := range r.n {
		if span := top[q] - s.GCUpTo[q]; top[q] > s.GCUpTo[q] && span > count[q]+r.ahead() {
			return fmt.Errorf("epaxos: rebuild state names slot %d of replica %d, %d slots past its collection point with %d instances recorded: %w",
				top[q], q, span, count[q], paxos.ErrMalformed)
		}
	}
	// From here on top[q] + ahead is at most about 2^62 plus a few windows.
	slotOK := func(q int, slot uint64) bool { return slot <= top[q]+r.ahead() }
	for _, rec := range s.Instances {
		for q, d := range rec.Deps {
			if !slotOK(q, d) {
				return fmt.Errorf("epaxos: rebuild state holds instance %v depending on slot %d of replica %d, beyond what the state knows of it: %w", rec.Inst, d, q, paxos.ErrMalformed)
			}
		}
	}
	for _, id := range s.Executed {
		if id.Replica < 0 || int(id.Replica) >= r.n {
			return fmt.Errorf("epaxos: rebuild state names executed instance %v outside the cluster: %w", id, paxos.ErrMalformed)
		}
	}
	for k, e := range s.Index {
		if len(e.Write) != r.n || len(e.Read) != r.n || (e.ExecWrite != nil && (len(e.ExecWrite) != r.n || len(e.ExecRead) != r.n)) || e.WriteSeq > maxSeq || e.ReadSeq > maxSeq {
			return fmt.Errorf("epaxos: rebuild state's index entry for key %q does not cover %d replicas or has seqs %d, %d above %d: %w", k, r.n, e.WriteSeq, e.ReadSeq, uint64(maxSeq), paxos.ErrMalformed)
		}
		for q := range r.n {
			ok := slotOK(q, e.Write[q]) && slotOK(q, e.Read[q])
			if e.ExecWrite != nil {
				ok = ok && slotOK(q, e.ExecWrite[q]) && slotOK(q, e.ExecRead[q])
			}
			if !ok {
				return fmt.Errorf("epaxos: rebuild state's index entry for key %q names a slot of replica %d beyond what the state knows of it: %w", k, q, paxos.ErrMalformed)
			}
		}
	}
	return s.Keys.each(func(k string, ki *keyIndex) error {
		if ki.writeSeq > maxSeq || ki.readSeq > maxSeq {
			return fmt.Errorf("epaxos: rebuild state's index for key %q has seqs %d, %d above %d: %w", k, ki.writeSeq, ki.readSeq, uint64(maxSeq), paxos.ErrMalformed)
		}
		for _, f := range ki.rows {
			q := int(f.replica)
			if q < 0 || q >= r.n || !slotOK(q, f.write) || !slotOK(q, f.read) || !slotOK(q, f.execWrite) || !slotOK(q, f.execRead) {
				return fmt.Errorf("epaxos: rebuild state's index for key %q names replica %d (N=%d) or a slot beyond what the state knows of it: %w", k, q, r.n, paxos.ErrMalformed)
			}
		}
		return nil
	})
}
