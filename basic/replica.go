package basic

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/planted"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/quorum"
)

// ErrRestore is wrapped by errors about records New cannot restore from.
var ErrRestore = errors.New("basic: cannot restore")

const (
	// maxCatchUp is the most decided slots one Learned message carries.
	maxCatchUp = 64
	// maxCatchUpScan bounds the slots one CatchUp makes a replica look at.
	maxCatchUpScan = 64 * maxCatchUp
	// maxBackoffShift caps exponential retransmission backoff at
	// RetryTicks << maxBackoffShift.
	maxBackoffShift = 3
	// maxRetryShift caps the random wait of a command that lost a slot at
	// 1 << maxRetryShift ticks.
	maxRetryShift = 2
)

// pending is a client command waiting for a slot at this replica.
type pending struct {
	cmd paxos.Command
	// level is the command's priority: its next proposal uses a round of at
	// least level×N+1, so a command that lost a slot outranks every command
	// still at a lower level (see priorityRound).
	level uint64
	// losses counts the slots this command lost; it scales the backoff.
	losses int
	// after is the earliest tick at which it may be proposed again.
	after int64
}

// slot is one log position: its acceptor, what was learned, and the local
// proposer working on it (if any).
type slot struct {
	acc     Acceptor
	learned bool
	value   []paxos.Command
	// prop is this replica's proposer for the slot, nil if none.
	prop *proposal
	// hint is the highest ballot heard of in this slot.
	hint Ballot
	// active is the tick of the last sign that someone works on the slot.
	active int64
	// fillDelay is this replica's randomized patience before filling the
	// slot with a no-op once it is a hole.
	fillDelay int64
}

// proposal is one attempt of this replica to decide a slot.
type proposal struct {
	p       *Proposer
	learner *Learner
	// own are the client commands proposed here that this attempt carries
	// (nil for a no-op filler).
	own []paxos.Command
	// level and losses are the highest priority level and loss count of
	// the commands in own (see pending).
	level  uint64
	losses int
	// value is the value of phase 2 (nil during phase 1).
	value   []paxos.Command
	replied quorum.Set // peers that answered the current phase
	refused quorum.Set // peers that refused in phase 2
	nacked  bool
	sentAt  int64
	timeout int64
	// seen is the tick at which retransmit last visited this proposal.
	seen int64
}

// Replica is the Basic Paxos replicated log. Build it with New.
type Replica struct {
	cfg   paxos.Config
	id    paxos.NodeID
	n     int
	q     quorum.System
	rng   *rand.Rand
	store *kv.Executor

	now   int64
	slots map[uint64]*slot
	// maxSlot is the highest slot mentioned anywhere; a new proposal takes
	// the slot after it.
	maxSlot uint64
	// maxLearned is the highest slot learned here; peerLearned the highest
	// a peer reported learning.
	maxLearned, peerLearned uint64
	executed                uint64
	// active lists the slots with a local proposal, in start order.
	active   []uint64
	inflight int // proposals carrying client commands

	// queue holds the commands waiting for a slot, oldest first. A command
	// that lost a slot keeps its place at the front but waits out its own
	// backoff; commands behind it proceed meanwhile.
	queue   []pending
	waiting map[paxos.CommandID]struct{}

	askAt   int64 // next tick at which a missing slot may be asked for
	probeAt int64 // next periodic probe of a peer
	probeTo int

	rd paxos.Ready

	// stats counts protocol events, for tests and tuning.
	stats stats

	// bug holds planted bugs (mutants.go); all false except in a mutant.
	bug bugs

	// rb is non-nil while the replica rebuilds after a lost disk and does
	// not vote (rebuild.go); rebuilt is set once such a rebuild completed.
	rb      *rebuild
	rebuilt bool

	// Log compaction (snapshot.go): the snapshot interval (0 = never), the
	// latest snapshot's index (its data is not kept), and base, the
	// highest slot whose state was dropped.
	every, snapIndex, base uint64
	// sinceSnapCmds counts commands executed since the latest snapshot,
	// snapKeys the keys the store held then (see maybeSnapshot).
	sinceSnapCmds, snapKeys int
	// snapSent is when we last sent a snapshot to a peer that asked about
	// a compacted slot (at most once per RetryTicks each).
	snapSent map[paxos.NodeID]int64
}

// stats counts what happened at one replica.
type stats struct {
	proposals, chosen, adopted, abandoned, fills, catchUps, refused int
	snapshots, snapshotsSent, snapshotInstalls                      int
}

// Coverage implements paxos.CoverageReporter: counts since this replica
// was built (this incarnation only), by name: "phase1-rounds" (proposals
// started: each runs phase 1), "adopted-values" (phase 1 found an accepted
// value, completed in place of our commands), "nop-fills" (holes filled
// with a Nop), "abandoned" (proposals that lost their slot), "chosen"
// (values chosen by a proposal here), "catchups" (requests for missing
// slots), "snapshots" (taken), "snapshots-sent" (to peers asking about a
// compacted slot), "snapshot-installs" and paxos.CoverageRefused
// (messages Step refused as malformed).
func (r *Replica) Coverage() paxos.Coverage {
	return paxos.Coverage{
		"phase1-rounds":       uint64(r.stats.proposals),
		"adopted-values":      uint64(r.stats.adopted),
		"nop-fills":           uint64(r.stats.fills),
		"abandoned":           uint64(r.stats.abandoned),
		"chosen":              uint64(r.stats.chosen),
		"catchups":            uint64(r.stats.catchUps),
		"snapshots":           uint64(r.stats.snapshots),
		"snapshots-sent":      uint64(r.stats.snapshotsSent),
		"snapshot-installs":   uint64(r.stats.snapshotInstalls),
		paxos.CoverageRefused: uint64(r.stats.refused),
	}
}

// New builds a Basic Paxos replica. cfg.Quorums nil means majority; a
// quorum system in which a phase-1 and a phase-2 quorum can be disjoint
// is refused with an error wrapping paxos.ErrConfig
// and quorum.ErrUnsafe. With cfg.Restore set, the replica replays its
// persisted records.
func New(cfg paxos.Config) (paxos.Replica, error) {
	return newReplica(cfg, bugs{})
}

func newReplica(cfg paxos.Config, bug bugs) (*Replica, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("basic: %w", err)
	}
	q := cfg.Quorums
	if q != nil && !planted.Is(q) {
		// Safety rests on every phase-1 quorum meeting every phase-2 quorum;
		// only a planted bug's system (internal/planted) skips the check.
		if err := quorum.Intersects(q); err != nil {
			return nil, fmt.Errorf("basic: %w: %w", paxos.ErrConfig, err)
		}
	}
	if q == nil {
		m, err := quorum.NewMajority(cfg.N)
		if err != nil {
			return nil, fmt.Errorf("basic: %w: %w", paxos.ErrConfig, err)
		}
		q = m
	}
	r := &Replica{
		cfg:     cfg,
		id:      cfg.ID,
		n:       cfg.N,
		q:       q,
		rng:     cfg.Rand(),
		store:   kv.NewExecutor(cfg),
		slots:   map[uint64]*slot{},
		waiting: map[paxos.CommandID]struct{}{},
	}
	switch {
	case cfg.SnapshotEvery == 0:
		r.every = DefaultSnapshotEvery
	case cfg.SnapshotEvery > 0:
		r.every = uint64(cfg.SnapshotEvery)
	}
	r.probeTo = int(r.id)
	r.probeAt = r.probePeriod()
	r.bug = bug
	marker, done := false, false
	if cfg.Restore != nil {
		if err := r.restore(cfg.Restore, &marker, &done); err != nil {
			return nil, err
		}
	}
	r.rebuilt = done
	if err := r.startRebuild(marker, done); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Replica) restore(p *paxos.Persisted, rebuilding, rebuilt *bool) error {
	switch v := p.Snapshot.(type) {
	case nil:
	case SnapshotRecord:
		if err := r.restoreSnapshot(v, rebuilding, rebuilt); err != nil {
			return err
		}
	case *SnapshotRecord:
		if err := r.restoreSnapshot(*v, rebuilding, rebuilt); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: snapshot has type %T, not a basic.SnapshotRecord; was it written by another protocol?", ErrRestore, p.Snapshot)
	}
	for i, rec := range p.Records {
		switch v := rec.(type) {
		case *PromiseRecord:
			rec = *v
		case *AcceptRecord:
			rec = *v
		case *DecisionRecord:
			rec = *v
		case *RebuildRecord:
			rec = *v
		}
		switch v := rec.(type) {
		case PromiseRecord:
			if v.Slot == 0 {
				return fmt.Errorf("%w: record %d: promise for slot 0", ErrRestore, i)
			}
			if r.gone(v.Slot) {
				continue // covered by the snapshot
			}
			s := r.slot(v.Slot)
			s.acc.Promised = maxBallot(s.acc.Promised, v.Ballot)
		case AcceptRecord:
			if v.Slot == 0 {
				return fmt.Errorf("%w: record %d: acceptance for slot 0", ErrRestore, i)
			}
			if r.gone(v.Slot) {
				continue
			}
			s := r.slot(v.Slot)
			s.acc.Promised = maxBallot(s.acc.Promised, v.Ballot)
			s.acc.Accepted, s.acc.Value = v.Ballot, v.Value
		case DecisionRecord:
			if v.Slot == 0 {
				return fmt.Errorf("%w: record %d: decision for slot 0", ErrRestore, i)
			}
			if r.gone(v.Slot) {
				continue
			}
			s := r.slot(v.Slot)
			val := v.Value
			if val == nil {
				val = s.acc.Value
			}
			if len(val) == 0 {
				return fmt.Errorf("%w: record %d: decision for slot %d without a value and no accepted value before it", ErrRestore, i, v.Slot)
			}
			if !s.learned {
				s.learned, s.value = true, val
				r.maxLearned = max(r.maxLearned, v.Slot)
				r.rd.Decided = append(r.rd.Decided, paxos.Decision{Instance: paxos.Instance{Slot: v.Slot}, Commands: val})
			}
		case RebuildRecord:
			*rebuilding, *rebuilt = !v.Done, v.Done
		default:
			return fmt.Errorf("%w: record %d has type %T, not a basic record; was it written by another protocol?", ErrRestore, i, rec)
		}
	}
	r.execute()
	return nil
}

// ID implements paxos.Replica.
func (r *Replica) ID() paxos.NodeID { return r.id }

// Propose implements paxos.Replica. The command is proposed in the next free
// slot when the driver next collects Ready. A command already executed here
// is answered at once from the deduplication table; one already in flight
// here is not proposed twice.
func (r *Replica) Propose(cmd paxos.Command) {
	if err := r.store.Check(&cmd); err != nil {
		r.rd.Executed = append(r.rd.Executed, paxos.Refused(&cmd, err))
		return
	}
	if cmd.Client != 0 {
		id := cmd.ID()
		if r.store.Done(&cmd) { // a retry of an executed command
			ex, _ := r.store.Executed(&cmd)
			r.rd.Executed = append(r.rd.Executed, ex)
			r.rd.Committed = append(r.rd.Committed, paxos.Commit{ID: id, Path: paxos.PathClassic})
			return
		}
		if _, dup := r.waiting[id]; dup {
			return
		}
		r.waiting[id] = struct{}{}
	}
	r.queue = append(r.queue, pending{cmd: cmd})
}

// Ready implements paxos.Replica. It first starts proposals for queued
// commands (up to Batch commands per slot, Window slots in flight), so
// commands proposed between two calls are batched.
func (r *Replica) Ready() paxos.Ready {
	if r.rb == nil {
		r.flush()
	}
	rd := r.rd
	r.rd = paxos.Ready{}
	return rd
}

// Tick implements paxos.Replica.
func (r *Replica) Tick() {
	r.now++
	if r.rb != nil {
		r.rebuildTick()
		return
	}
	r.retransmit()
	r.catchUp()
}

// slot returns the state of slot s, creating it.
func (r *Replica) slot(s uint64) *slot {
	st := r.slots[s]
	if st == nil {
		st = &slot{active: r.now}
		st.acc.bug = r.bug
		r.slots[s] = st
		r.maxSlot = max(r.maxSlot, s)
	}
	return st
}

func (r *Replica) send(to paxos.NodeID, body any) {
	r.rd.Messages = append(r.rd.Messages, paxos.Message{From: r.id, To: to, Body: body})
}

func (r *Replica) broadcast(body any) {
	for i := 0; i < r.n; i++ {
		if paxos.NodeID(i) != r.id {
			r.send(paxos.NodeID(i), body)
		}
	}
}

func (r *Replica) probePeriod() int64 { return int64(10 * r.cfg.RetryTicks) }

// backoff draws a random wait in [0, 1 << min(losses-1, maxRetryShift))
// ticks for a command that lost its slot for the losses-th time. The
// priority levels already settle who wins a contended slot; the short
// seeded jitter only keeps losers from retrying in lockstep. (A backoff of
// RetryTicks scale would make the site that loses most wait for seconds
// while the winners' clients go on.)
func (r *Replica) backoff(losses int) int64 {
	return int64(r.rng.IntN(1 << min(max(losses-1, 0), maxRetryShift)))
}

// priorityRound is the least round of a proposal at priority level in slot
// s: level×N+1 plus this replica's rank in s. The ranks rotate with the
// slot, so when replicas race for the same fresh slot at the same level,
// each replica wins an equal share of the slots (ballot ids alone would
// always favour the highest id), and a command at a higher level beats
// every command at a lower one.
func (r *Replica) priorityRound(s, level uint64) uint64 {
	n := uint64(r.n)
	rank := (s + uint64(r.id)) % n
	return level*n + 1 + rank
}

// levelPast returns the least priority level whose rounds all exceed b's.
func (r *Replica) levelPast(b Ballot) uint64 {
	if b.Round == 0 {
		return 0
	}
	return (b.Round-1)/uint64(r.n) + 1
}

// flush starts proposals for queued commands whose backoff is over: up to
// Batch commands per slot, oldest first, while fewer than Window proposals
// with client commands are in flight.
func (r *Replica) flush() {
	if len(r.queue) == 0 {
		return
	}
	// Starting a proposal may requeue commands (should its own acceptor
	// alone settle the slot), so the queue is detached while scanned.
	q := r.queue
	r.queue = nil
	kept := q[:0]
	var batch []paxos.Command
	var level uint64
	var losses int
	i := 0
	for ; i < len(q); i++ {
		if len(batch) == 0 && r.inflight >= r.cfg.Window {
			break
		}
		e := q[i]
		if e.cmd.Client != 0 {
			if _, ok := r.waiting[e.cmd.ID()]; !ok {
				continue // committed meanwhile
			}
		}
		if e.after > r.now {
			kept = append(kept, e)
			continue
		}
		if batch == nil {
			batch = make([]paxos.Command, 0, min(r.cfg.Batch, len(q)-i))
		}
		batch = append(batch, e.cmd)
		level, losses = max(level, e.level), max(losses, e.losses)
		if len(batch) == r.cfg.Batch {
			r.startProposal(r.maxSlot+1, batch, level, losses)
			batch, level, losses = nil, 0, 0
		}
	}
	if len(batch) > 0 {
		r.startProposal(r.maxSlot+1, batch, level, losses)
	}
	kept = append(kept, q[i:]...)
	clear(q[len(kept):])
	switch {
	case len(kept) == 0:
	case r.queue == nil:
		r.queue = kept
	default:
		r.queue = append(r.queue, kept...)
	}
}

// requeue puts commands of an abandoned or pre-empted proposal back at the
// front of the queue at priority level, to be proposed again after tick
// after, skipping those that committed meanwhile.
func (r *Replica) requeue(cmds []paxos.Command, level uint64, losses int, after int64) {
	var back []pending
	for _, c := range cmds {
		if c.Client == 0 {
			continue
		}
		if _, ok := r.waiting[c.ID()]; ok {
			back = append(back, pending{cmd: c, level: level, losses: losses, after: after})
		}
	}
	if len(back) > 0 {
		r.queue = append(back, r.queue...)
	}
}

// startProposal runs Phase 1 for own (nil = a no-op filler) in slot s; a
// proposal with client commands uses a round of at least priorityRound(s,
// level).
func (r *Replica) startProposal(s uint64, own []paxos.Command, level uint64, losses int) {
	st := r.slot(s)
	b := NextBallot(maxBallot(maxBallot(st.acc.Promised, st.acc.Accepted), st.hint), r.id)
	if own != nil {
		b.Round = max(b.Round, r.priorityRound(s, level))
	}
	value := own
	if value == nil {
		value = []paxos.Command{{Op: paxos.OpNop}}
	}
	pr := &proposal{
		p:       NewProposer(r.q, b, value),
		learner: NewLearner(r.q),
		own:     own,
		level:   level,
		losses:  losses,
		sentAt:  r.now,
		timeout: int64(r.cfg.RetryTicks),
	}
	pr.p.bug = r.bug
	st.prop = pr
	r.stats.proposals++
	if own == nil {
		r.stats.fills++
	}
	st.hint = maxBallot(st.hint, b)
	st.active = r.now
	r.active = append(r.active, s)
	if own != nil {
		r.inflight++
	}
	// Our own acceptor promises first (persisted in this same Ready).
	res := st.acc.Prepare(b)
	if res.OK {
		if !r.bug.noPersistPromise {
			r.rd.Persist = append(r.rd.Persist, PromiseRecord{Slot: s, Ballot: b})
		}
		pr.replied = pr.replied.Add(int(r.id))
		if pr.p.Promise(r.id, res) {
			r.startPhase2(s, st)
			return
		}
	}
	r.broadcast(Prepare{Slot: s, Ballot: b})
}

// startPhase2 sends Accept for the value fixed by phase 1.
func (r *Replica) startPhase2(s uint64, st *slot) {
	pr := st.prop
	pr.value = pr.p.Value()
	if r.bug.fillerNop && pr.own == nil {
		pr.value = pr.p.own
	}
	if pr.p.Adopted() && !paxos.SameCommands(pr.value, pr.p.own) {
		// Complete the slot with the value found; our commands go to a
		// later slot now, at once and one level up.
		r.stats.adopted++
		r.requeue(pr.own, pr.level+1, pr.losses, r.now)
		if pr.own != nil {
			r.inflight--
		}
		pr.own = nil
	}
	pr.replied, pr.refused, pr.nacked = 0, 0, false
	pr.sentAt, pr.timeout = r.now, int64(r.cfg.RetryTicks)
	b := pr.p.Ballot()
	res := st.acc.Accept(b, pr.value)
	if !res.OK {
		pr.refused = pr.refused.Add(int(r.id))
	} else {
		if !r.bug.noPersistAccept {
			r.rd.Persist = append(r.rd.Persist, AcceptRecord{Slot: s, Ballot: b, Value: pr.value})
		}
		pr.replied = pr.replied.Add(int(r.id))
		if pr.learner.Accepted(r.id, b, pr.value) {
			r.chosen(s, st)
			return
		}
	}
	r.broadcast(Accept{Slot: s, Ballot: b, Value: pr.value})
}

// chosen is reached when a phase-2 quorum accepted the local proposal.
func (r *Replica) chosen(s uint64, st *slot) {
	v := st.prop.value
	r.stats.chosen++
	r.broadcast(Commit{Slot: s, Value: v})
	r.learn(s, v)
}

// dropProposal removes the local proposal of st (if any), which lost the
// slot. Its commands go back to the queue one priority level up and at
// least past the highest ballot heard of in the slot (the one that beat
// them), after a seeded random backoff of their own: other commands of this
// replica are not held up.
func (r *Replica) dropProposal(st *slot) {
	pr := st.prop
	if pr == nil {
		return
	}
	st.prop = nil
	if pr.own != nil {
		r.inflight--
		losses := pr.losses + 1
		level := max(pr.level+1, r.levelPast(st.hint))
		r.requeue(pr.own, level, losses, r.now+r.backoff(losses))
	}
}

// abandon gives up a refused proposal: its commands go to a later slot
// (see dropProposal), and the slot is left to whoever refused us (or to
// hole filling, should they fail).
func (r *Replica) abandon(st *slot) {
	r.stats.abandoned++
	r.dropProposal(st)
	st.active = r.now
}

// learn records that v was chosen in slot s.
func (r *Replica) learn(s uint64, v []paxos.Command) {
	if r.gone(s) {
		return // decided, and executed or covered by a snapshot
	}
	st := r.slot(s)
	if st.learned {
		return
	}
	st.learned, st.value = true, v
	r.maxLearned = max(r.maxLearned, s)
	rec := DecisionRecord{Slot: s}
	if !paxos.SameCommands(st.acc.Value, v) {
		rec.Value = v
	}
	r.rd.Persist = append(r.rd.Persist, rec)
	r.rd.Decided = append(r.rd.Decided, paxos.Decision{Instance: paxos.Instance{Slot: s}, Commands: v})
	if st.prop != nil {
		if st.prop.own != nil && paxos.SameCommands(st.prop.own, v) {
			r.inflight--
			st.prop = nil
		} else {
			r.dropProposal(st)
		}
	}
	for _, c := range v {
		if c.Client == 0 {
			continue
		}
		if _, ok := r.waiting[c.ID()]; ok {
			delete(r.waiting, c.ID())
			r.rd.Committed = append(r.rd.Committed, paxos.Commit{ID: c.ID(), Path: paxos.PathClassic})
		}
	}
	r.execute()
}

// execute applies decided slots in order, with no gaps.
func (r *Replica) execute() {
	for {
		st := r.slots[r.executed+1]
		if st == nil || !st.learned {
			return
		}
		r.executed++
		r.rd.Executed = append(r.rd.Executed, r.store.ApplyChosen(st.value)...)
		r.sinceSnapCmds += len(st.value)
		r.maybeSnapshot()
	}
}

// retransmit resends the current phase of proposals that timed out, and
// gives up proposals that were refused.
func (r *Replica) retransmit() {
	kept := r.active[:0]
	for _, s := range r.active {
		st := r.slots[s]
		if st == nil || st.prop == nil {
			continue
		}
		pr := st.prop
		if pr.seen == r.now {
			continue // the slot is listed twice
		}
		pr.seen = r.now
		if r.now-pr.sentAt >= pr.timeout {
			if pr.nacked {
				r.abandon(st)
				continue
			}
			pr.sentAt = r.now
			pr.timeout = min(pr.timeout*2, int64(r.cfg.RetryTicks)<<maxBackoffShift)
			b := pr.p.Ballot()
			for i := 0; i < r.n; i++ {
				if paxos.NodeID(i) == r.id || pr.replied.Has(i) {
					continue
				}
				if pr.value == nil {
					r.send(paxos.NodeID(i), Prepare{Slot: s, Ballot: b})
				} else {
					r.send(paxos.NodeID(i), Accept{Slot: s, Ballot: b, Value: pr.value})
				}
			}
		}
		kept = append(kept, s)
	}
	clear(r.active[len(kept):])
	r.active = kept
}

// catchUp asks peers for decided slots this replica is missing, and fills
// long-standing holes with no-ops.
func (r *Replica) catchUp() {
	hi := max(r.maxLearned, r.peerLearned)
	lo := r.executed + 1
	if lo > hi {
		if r.now >= r.probeAt && r.n > 1 {
			// Nothing known to be missing; ask one peer in case the last
			// Commits were lost.
			r.probeAt = r.now + r.probePeriod()
			r.probeTo = (r.probeTo + 1) % r.n
			if r.probeTo == int(r.id) {
				r.probeTo = (r.probeTo + 1) % r.n
			}
			r.send(paxos.NodeID(r.probeTo), CatchUp{From: lo})
		}
		return
	}
	r.probeAt = r.now + r.probePeriod()
	retry := int64(r.cfg.RetryTicks)
	first := r.slot(lo)
	if r.now-first.active >= retry && r.now >= r.askAt {
		r.askAt = r.now + 2*retry
		r.stats.catchUps++
		r.broadcast(CatchUp{From: lo, To: hi})
	}
	// Fill holes nobody has worked on for a while.
	end := min(hi, lo+uint64(r.cfg.Window))
	for s := lo; s <= end && !r.gone(s); s++ {
		st := r.slot(s)
		if st.learned || st.prop != nil {
			continue
		}
		if st.fillDelay == 0 {
			st.fillDelay = 4*retry + int64(r.rng.IntN(4*r.cfg.RetryTicks))
		}
		if r.now-st.active >= st.fillDelay {
			st.fillDelay = 0
			r.startProposal(s, nil, 0, 0)
		}
	}
}

// Step implements paxos.Replica. A refused message (an error wrapping
// paxos.ErrMalformed) is counted under paxos.CoverageRefused.
func (r *Replica) Step(msg paxos.Message) error {
	err := r.step(msg)
	if err != nil {
		r.stats.refused++
	}
	return err
}

func (r *Replica) step(msg paxos.Message) error {
	if msg.To != r.id {
		return fmt.Errorf("%w: addressed to replica %d, this is replica %d; route it to its addressee", paxos.ErrMalformed, msg.To, r.id)
	}
	if msg.From < 0 || int(msg.From) >= r.n || msg.From == r.id {
		return fmt.Errorf("%w: sender %d is not a peer of replica %d in a cluster of %d", paxos.ErrMalformed, msg.From, r.id, r.n)
	}
	if handled, err := r.rebuildStep(msg.From, msg.Body); handled {
		return err
	}
	switch m := msg.Body.(type) {
	case Prepare:
		return r.onPrepare(msg.From, m)
	case Promise:
		return r.onPromise(msg.From, m)
	case Accept:
		return r.onAccept(msg.From, m)
	case Accepted:
		return r.onAccepted(msg.From, m)
	case Nack:
		return r.onNack(msg.From, m)
	case Commit:
		if err := r.checkValue(m.Slot, m.Value); err != nil {
			return err
		}
		r.learn(m.Slot, r.commitValue(m.Slot, m.Value))
		return nil
	case CatchUp:
		return r.onCatchUp(msg.From, m)
	case InstallSnapshot:
		if m.Snapshot.Index <= r.executed {
			return nil
		}
		if err := r.installSnapshot(m.Snapshot); err != nil {
			return err
		}
		r.send(msg.From, CatchUp{From: r.executed + 1}) // the slots after it
		return nil
	case Learned:
		return r.onLearned(msg.From, m)
	default:
		return fmt.Errorf("%w: body %T is not a basic message (from replica %d)", paxos.ErrMalformed, msg.Body, msg.From)
	}
}

// ahead is how far beyond its execution point this replica takes part in a
// slot: every replica keeps at most Window proposals with client commands
// in flight and fills holes at most Window slots past its execution point,
// so the slots in use by correct replicas span about 2×N×Window slots
// above the lowest execution point; the bound doubles that and adds the
// span one catch-up answer may cover. A replica further behind than that
// catches up through CatchUp/Learned first.
func (r *Replica) ahead() uint64 {
	return uint64(4*r.n)*uint64(r.cfg.Window) + maxCatchUpScan
}

// horizon is the highest slot this replica accepts a message about.
func (r *Replica) horizon() uint64 {
	h := r.executed + r.ahead()
	if h < r.executed {
		return ^uint64(0)
	}
	return h
}

// hintSlot bounds a peer's report of its highest known slot by the
// horizon: the report only steers where new proposals go and what to catch
// up, so it is trusted no further than this replica's window.
func (r *Replica) hintSlot(s uint64) uint64 { return min(s, r.horizon()) }

func (r *Replica) checkSlot(s uint64) error {
	if s == 0 {
		return fmt.Errorf("%w: slot 0 (slots start at 1)", paxos.ErrMalformed)
	}
	if s > r.horizon() {
		return fmt.Errorf("%w: slot %d is more than %d slots beyond execution point %d (Config.Window=%d); a replica that far behind catches up first",
			paxos.ErrMalformed, s, r.ahead(), r.executed, r.cfg.Window)
	}
	return nil
}

// checkBallot validates a ballot a proposer sends for itself.
func (r *Replica) checkBallot(b Ballot, from paxos.NodeID) error {
	if b.Round == 0 || b.Node != from {
		return fmt.Errorf("%w: ballot %v from replica %d (a proposer's ballots carry its own id and a round of at least 1)", paxos.ErrMalformed, b, from)
	}
	return r.checkAnyBallot(b)
}

// checkAnyBallot validates a ballot reported by a peer (zero allowed).
func (r *Replica) checkAnyBallot(b Ballot) error {
	if b.Node < 0 || int(b.Node) >= r.n || b.Round > paxos.MaxRound {
		return fmt.Errorf("%w: ballot %v names replica %d of 0..%d or a round above %d", paxos.ErrMalformed, b, b.Node, r.n-1, uint64(paxos.MaxRound))
	}
	return nil
}

func (r *Replica) checkValue(s uint64, v []paxos.Command) error {
	if err := r.checkSlot(s); err != nil {
		return err
	}
	if len(v) == 0 {
		return fmt.Errorf("%w: empty value for slot %d", paxos.ErrMalformed, s)
	}
	if len(v) > r.cfg.Batch {
		return fmt.Errorf("%w: %d commands for slot %d, more than Config.Batch=%d; every replica must run with the same Batch", paxos.ErrMalformed, len(v), s, r.cfg.Batch)
	}
	for _, c := range v {
		if !c.Op.Valid() {
			return fmt.Errorf("%w: command with unknown op %d in slot %d", paxos.ErrMalformed, c.Op, s)
		}
	}
	return nil
}

func (r *Replica) onPrepare(from paxos.NodeID, m Prepare) error {
	if err := r.checkSlot(m.Slot); err != nil {
		return err
	}
	if err := r.checkBallot(m.Ballot, from); err != nil {
		return err
	}
	if r.gone(m.Slot) {
		r.behind(from)
		return nil
	}
	st := r.slot(m.Slot)
	st.active = r.now
	st.hint = maxBallot(st.hint, m.Ballot)
	if st.learned {
		r.send(from, Commit{Slot: m.Slot, Value: st.value})
		return nil
	}
	before := st.acc.Promised
	res := st.acc.Prepare(m.Ballot)
	if !res.OK {
		r.send(from, Nack{Slot: m.Slot, Ballot: m.Ballot, Phase: 1, Promised: res.Promised, MaxSlot: r.maxSlot})
		return nil
	}
	if st.acc.Promised != before && !r.bug.noPersistPromise {
		r.rd.Persist = append(r.rd.Persist, PromiseRecord{Slot: m.Slot, Ballot: st.acc.Promised})
	}
	r.send(from, Promise{Slot: m.Slot, Ballot: m.Ballot, Accepted: res.Accepted, Value: res.Value, MaxSlot: r.maxSlot})
	if pr := st.prop; pr != nil && pr.value == nil && pr.p.Ballot().Less(m.Ballot) {
		// Our own acceptor just promised a higher ballot while our Phase 1
		// in this slot is still running: the slot belongs to that proposer.
		// Yield now rather than after its nacks come back, and before our
		// Accept could get a value accepted that it would have to adopt.
		r.abandon(st)
	}
	return nil
}

// current returns the local proposal of slot s if it uses ballot b.
func (r *Replica) current(s uint64, b Ballot) (*slot, *proposal) {
	st := r.slots[s]
	if st == nil || st.prop == nil || st.prop.p.Ballot() != b {
		return nil, nil
	}
	return st, st.prop
}

func (r *Replica) onPromise(from paxos.NodeID, m Promise) error {
	if err := r.checkSlot(m.Slot); err != nil {
		return err
	}
	if !m.Accepted.IsZero() {
		if err := r.checkValue(m.Slot, m.Value); err != nil {
			return err
		}
		if err := r.checkAnyBallot(m.Accepted); err != nil {
			return err
		}
	}
	r.maxSlot = max(r.maxSlot, r.hintSlot(m.MaxSlot))
	st, pr := r.current(m.Slot, m.Ballot)
	if pr == nil || pr.value != nil {
		return nil // stale or already in phase 2
	}
	pr.replied = pr.replied.Add(int(from))
	if pr.p.Promise(from, PrepareResult{OK: true, Promised: m.Ballot, Accepted: m.Accepted, Value: m.Value}) {
		r.startPhase2(m.Slot, st)
	}
	return nil
}

func (r *Replica) onAccept(from paxos.NodeID, m Accept) error {
	if err := r.checkValue(m.Slot, m.Value); err != nil {
		return err
	}
	if err := r.checkBallot(m.Ballot, from); err != nil {
		return err
	}
	if r.gone(m.Slot) {
		r.behind(from)
		return nil
	}
	st := r.slot(m.Slot)
	st.active = r.now
	st.hint = maxBallot(st.hint, m.Ballot)
	if st.learned {
		r.send(from, Commit{Slot: m.Slot, Value: st.value})
		return nil
	}
	res := st.acc.Accept(m.Ballot, m.Value)
	if !res.OK {
		r.send(from, Nack{Slot: m.Slot, Ballot: m.Ballot, Phase: 2, Promised: res.Promised, MaxSlot: r.maxSlot})
		return nil
	}
	if !r.bug.noPersistAccept {
		r.rd.Persist = append(r.rd.Persist, AcceptRecord(m))
	}
	r.send(from, Accepted{Slot: m.Slot, Ballot: m.Ballot})
	return nil
}

func (r *Replica) onAccepted(from paxos.NodeID, m Accepted) error {
	if err := r.checkSlot(m.Slot); err != nil {
		return err
	}
	st, pr := r.current(m.Slot, m.Ballot)
	if pr == nil || pr.value == nil {
		return nil
	}
	from = paxos.NodeID(counted(pr.replied, from, r.bug.countAccepts))
	pr.replied = pr.replied.Add(int(from))
	if pr.learner.Accepted(from, m.Ballot, pr.value) {
		r.chosen(m.Slot, st)
	}
	return nil
}

func (r *Replica) onNack(from paxos.NodeID, m Nack) error {
	if err := r.checkSlot(m.Slot); err != nil {
		return err
	}
	if m.Phase != 1 && m.Phase != 2 {
		return fmt.Errorf("%w: nack for phase %d (want 1 or 2)", paxos.ErrMalformed, m.Phase)
	}
	if err := r.checkAnyBallot(m.Promised); err != nil {
		return err
	}
	r.maxSlot = max(r.maxSlot, r.hintSlot(m.MaxSlot))
	if st := r.slots[m.Slot]; st != nil {
		st.hint = maxBallot(st.hint, m.Promised)
	}
	st, pr := r.current(m.Slot, m.Ballot)
	if pr == nil || (m.Phase == 1) != (pr.value == nil) {
		return nil // stale: another ballot or a phase we left
	}
	pr.replied = pr.replied.Add(int(from))
	pr.nacked = true
	var lost bool
	if m.Phase == 1 {
		pr.p.Promise(from, PrepareResult{Promised: m.Promised})
		lost = pr.p.Refused()
	} else {
		pr.refused = pr.refused.Add(int(from))
		all := quorum.Full(r.n)
		lost = !r.q.IsPhase2(all &^ pr.refused)
	}
	if lost {
		r.abandon(st)
	}
	return nil
}

func (r *Replica) onCatchUp(from paxos.NodeID, m CatchUp) error {
	if m.From == 0 { // a request allocates nothing here: no horizon applies
		return fmt.Errorf("%w: catch-up from slot 0 (slots start at 1)", paxos.ErrMalformed)
	}
	if m.To != 0 && m.To < m.From {
		return fmt.Errorf("%w: catch-up range %d..%d is empty", paxos.ErrMalformed, m.From, m.To)
	}
	if r.gone(m.From) {
		r.behind(from)
		return nil
	}
	to := r.maxLearned
	if m.To != 0 {
		to = min(to, m.To)
	}
	var entries []Entry
	for s := m.From; s <= to && s < m.From+maxCatchUpScan && len(entries) < maxCatchUp; s++ {
		if st := r.slots[s]; st != nil && st.learned {
			entries = append(entries, Entry{Slot: s, Value: st.value})
		} else if r.bug.catchUpAccepted && st != nil && len(st.acc.Value) > 0 {
			entries = append(entries, Entry{Slot: s, Value: st.acc.Value})
		}
	}
	if len(entries) > 0 || r.maxLearned >= m.From {
		r.send(from, Learned{Entries: entries, MaxLearned: r.maxLearned})
	}
	return nil
}

func (r *Replica) onLearned(from paxos.NodeID, m Learned) error {
	if len(m.Entries) > maxCatchUp {
		return fmt.Errorf("%w: %d entries in one catch-up answer, at most %d", paxos.ErrMalformed, len(m.Entries), maxCatchUp)
	}
	for _, e := range m.Entries {
		if err := r.checkValue(e.Slot, e.Value); err != nil {
			return err
		}
	}
	before := r.executed
	for _, e := range m.Entries {
		r.learn(e.Slot, e.Value)
	}
	if hint := r.hintSlot(m.MaxLearned); hint > r.peerLearned {
		r.peerLearned = hint
		r.maxSlot = max(r.maxSlot, hint)
	}
	if len(m.Entries) == maxCatchUp && r.executed > before && r.executed < m.MaxLearned {
		// A long way behind: keep pulling from the same peer.
		r.send(from, CatchUp{From: r.executed + 1, To: m.MaxLearned})
	}
	return nil
}

// Executed returns how many slots this replica has executed (for tests and
// inspection).
func (r *Replica) Executed() uint64 { return r.executed }

// Value returns the value this replica learned for slot s, if any.
func (r *Replica) Value(s uint64) ([]paxos.Command, bool) {
	st := r.slots[s]
	if st == nil || !st.learned {
		return nil, false
	}
	return slices.Clone(st.value), true
}

// Acceptor returns a copy of this replica's acceptor state for slot s.
func (r *Replica) Acceptor(s uint64) Acceptor {
	st := r.slots[s]
	if st == nil {
		return Acceptor{}
	}
	a := st.acc
	a.Value = slices.Clone(a.Value)
	return a
}
