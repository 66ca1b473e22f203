package epaxos

import (
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/readypool"
)

// readyHint holds the lengths of the last non-empty Ready's lists: a new
// Ready's lists start at that capacity instead of growing from nothing,
// one allocation per doubling.
type readyHint struct{ messages, persist, executed, decided int }

func (r *readyHint) note(rd *paxos.Ready) {
	r.messages = max(len(rd.Messages), r.messages/2)
	r.persist = max(len(rd.Persist), r.persist/2)
	r.executed = max(len(rd.Executed), r.executed/2)
	r.decided = max(len(rd.Decided), r.decided/2)
}

// sized returns s with room for one more element, growing it at once to
// room for hint elements when it is full below that: a Ready's list starts
// at the recent size instead of doubling its way there from a reused
// list's capacity or from nothing (in a live node a Ready executing
// thousands of commands grew its list several times). A full list at or
// above hint at least doubles (readypool.Room), where append would grow a
// large one a quarter at a time, copying it each time.
func sized[T any](s []T, hint int) []T {
	if len(s) == cap(s) {
		return readypool.Room(s, max(hint-len(s), 1))
	}
	return s
}

func (r *Replica) send(to paxos.NodeID, body any) {
	r.rd.Messages = append(sized(r.rd.Messages, r.hint.messages), paxos.Message{From: r.id, To: to, Body: body})
}

// collected reports whether an instance was garbage-collected (executed
// everywhere).
func (r *Replica) collected(id paxos.Instance) bool { return id.Slot <= r.gcUpTo[id.Replica] }

// get returns the instance, creating an empty one (and scheduling its
// recovery should it stay uncommitted) when unknown. Slots of a replica
// below the highest one known are created too, so that no unknown instance
// can hide below a dependency. It returns nil for a garbage-collected
// instance.
func (r *Replica) get(id paxos.Instance) *instance {
	if in := r.inst[id.Replica][id.Slot]; in != nil {
		return in
	}
	if r.collected(id) {
		return nil
	}
	q := id.Replica
	for s := max(r.maxSlot[q], r.gcUpTo[q]) + 1; s < id.Slot; s++ {
		r.create(paxos.Instance{Replica: q, Slot: s})
	}
	return r.create(id)
}

func (r *Replica) create(id paxos.Instance) *instance {
	in := &instance{id: id}
	q := id.Replica
	r.inst[q][id.Slot] = in
	if id.Slot > r.maxSlot[q] {
		r.maxSlot[q] = id.Slot
		r.open[q] = append(r.open[q], id.Slot)
	} else {
		r.insertOpen(q, id.Slot)
	}
	if q == r.id && id.Slot >= r.nextSlot {
		r.nextSlot = id.Slot + 1
	}
	r.uncommitted[id] = in
	r.scheduleRecovery(in)
	if q == r.id {
		r.hold(in)
	}
	return in
}

// hold counts an uncommitted instance of this replica's own that it does
// not lead in this incarnation against Config.Window (see Replica.held).
func (r *Replica) hold(in *instance) {
	if !in.held && !in.led && in.status != StatusCommitted {
		in.held = true
		r.held++
	}
}

// release stops counting in under Replica.held.
func (r *Replica) release(in *instance) {
	if in.held {
		in.held = false
		r.held--
	}
}

// insertOpen adds slot s to replica q's sorted list of unexecuted slots.
func (r *Replica) insertOpen(q paxos.NodeID, s uint64) {
	o := r.open[q]
	i, found := slices.BinarySearch(o, s)
	if !found {
		r.open[q] = slices.Insert(o, i, s)
	}
}

// recoveryDelay is how long an instance may stay uncommitted before this
// replica tries to recover it: 10 to 20 retry periods, randomized (so that
// replicas rarely duel) and backed off exponentially with the attempts made
// here. It must exceed a slow-path commit (two wide-area round trips) by a
// margin, or healthy instances would be recovered needlessly; under load,
// when queueing makes commits slower (as this replica's own instances
// show), it is at least slowFactor times the recent commit latency, so
// that instances merely slow are not recovered, in a storm of recoveries
// fighting their command leaders.
func (r *Replica) recoveryDelay(in *instance) uint64 {
	base := r.patience(recoverAfter)
	base <<= uint(min(in.attempts, 3))
	return base + r.rng.Uint64N(base+1)
}

// Timeouts, in multiples of Config.RetryTicks.
const (
	recoverAfter = 10 // an uncommitted instance is recovered after 10-20 (see recoveryDelay)
	resendAfter  = 4  // a command leader resends a stalled round to every replica that has not answered
	giveUpAfter  = 10 // a recovery round is abandoned and retried later; a leader's PreAccept settles for F+1 replies
	// slowFactor: recovery, forced resends and the impatient slow path
	// wait at least this many times the recent commit latency of this
	// replica's own instances (see patience).
	slowFactor = 4
	// maxPatience caps the latency-scaled waits, in retry periods. Without
	// a cap the waits feed on themselves: an instance that needed a resend
	// or a recovery took at least that timeout to commit, which raises the
	// commit latency and so the next timeouts. The randomized search found
	// runs (N = 3, Thrifty) whose timeouts grew to tens of seconds after the
	// faults healed, so that operations stalled for minutes.
	maxPatience = 100
)

// patience returns k retry periods, or slowFactor times the recent commit
// latency of this replica's instances (at most maxPatience retry periods)
// if longer: how long a command leader waits before resending a round to
// every replica that has not answered (k = resendAfter) or settling for
// the slow path (k = giveUpAfter).
func (r *Replica) patience(k uint64) uint64 {
	return max(k*uint64(r.cfg.RetryTicks), min(uint64(slowFactor*r.commitLat), maxPatience*uint64(r.cfg.RetryTicks)))
}

func (r *Replica) scheduleRecovery(in *instance) { in.nextTry = r.now + r.recoveryDelay(in) }

// record is the durable form of in. It shares in's command and dependency
// slices: an instance's slices are replaced, never written in place, so a
// record keeps what it saw.
func (r *Replica) record(in *instance) InstanceRecord {
	return InstanceRecord{Inst: in.id, Status: in.status, Ballot: in.bal, VBallot: in.vbal, Orig: in.orig,
		Cmds: in.cmds, Seq: in.seq, Deps: in.deps}
}

func (r *Replica) persist(in *instance) {
	r.rd.Persist = append(sized(r.rd.Persist, r.hint.persist), r.record(in))
}

// persistSame persists in's record without its commands, which an earlier
// record of in (or the snapshot before it) holds (InstanceRecord.Same).
func (r *Replica) persistSame(in *instance) {
	rec := r.record(in)
	rec.Cmds, rec.Same = nil, true
	r.rd.Persist = append(sized(r.rd.Persist, r.hint.persist), rec)
}

func equalAttrs(s1 uint64, d1 []uint64, s2 uint64, d2 []uint64) bool {
	return s1 == s2 && slices.Equal(d1, d2)
}

func (r *Replica) zeroDeps() []uint64 { return make([]uint64, r.n) }

func nopBatch() []paxos.Command { return []paxos.Command{{Op: paxos.OpNop}} }
