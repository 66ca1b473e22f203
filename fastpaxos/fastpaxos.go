package fastpaxos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/nackcap"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/quorum"
)

// ErrRestore is wrapped by errors about records New cannot restore from.
var ErrRestore = errors.New("fastpaxos: cannot restore")

const (
	// maxCatchUp is the most chosen slots one Learned message carries.
	maxCatchUp = 64
	// forwardAfter is how many fast rounds a command may lose before its
	// proposer hands it to the leader for a classic round.
	forwardAfter = 1
	// leaderScan bounds the slots past the learned prefix a leader
	// watches for holes in one tick.
	leaderScan = 1000
	// maxBackoff caps the doubling of resendAfter: a round is resent at
	// least every RetryTicks << maxBackoff.
	maxBackoff = 5
)

// Leader phases of one slot.
const (
	watching   = iota // waiting for the fast round's votes (or nothing yet)
	recovering        // collecting Reports at a recovery ballot
	accepting         // a classic value is out at ballot (term, sub)
)

// tally holds the votes a learner heard in one slot at its highest ballot.
type tally struct {
	ballot Ballot
	votes  map[paxos.NodeID]Vote
}

// leadSlot is the leader's work on one slot.
type leadSlot struct {
	sub     uint32
	phase   int
	reports map[paxos.NodeID]Vote
	value   []paxos.Command
	// prefer is what the leader proposes when recovery leaves it free (a
	// forwarded command), nil for "the most voted value, else a Nop".
	prefer []paxos.Command
	// seen are the values voted in the acceptors' own recovery round
	// (uncoordinated recovery) and the fast round before it; those that
	// lose the slot are placed again by the leader once it learns it.
	seen   [][]paxos.Command
	since  int64 // tick the current phase started
	sentAt int64 // tick of the last (re)transmission
	// resends counts the retransmissions of the current phase (see
	// resendAfter).
	resends int
}

// proposal is this replica's fast-round proposal in one slot: a batch of
// up to Config.Batch commands.
type proposal struct {
	cmds    []paxos.Command
	ballot  Ballot
	sentAt  int64
	resends int // retransmissions in this ballot (see resendAfter)
}

// slot is one log position at this replica: its acceptor's state, what was
// learned, and the leader's and proposer's work on it.
type slot struct {
	promised Ballot // the recovery promise in this slot (the term promise is global)
	vote     Vote   // the acceptor's vote; zero Ballot if none
	learned  bool
	value    []paxos.Command
	tally    *tally
	// fast0 keeps the votes of the fast round (term, 0) while tally
	// counts those of the acceptors' own recovery round (term, 1): a fast
	// quorum may still complete there (uncoordinated recovery).
	fast0 *tally
	lead  *leadSlot
	prop  *proposal
}

// queued is a command waiting to be proposed here.
type queued struct {
	cmd   paxos.Command
	after int64 // earliest tick to propose (or forward) it
	// forwards counts the times it was forwarded to leader to; the wait
	// before the next forward grows with it (see forwardWait) until
	// another leader takes over.
	forwards int
	to       paxos.NodeID
}

type role int

const (
	follower role = iota
	candidate
	leader
)

// Replica is a Fast Paxos replica: acceptor, learner and proposer of every
// slot, and leader (coordinator) when elected. Build it with New.
type Replica struct {
	cfg            paxos.Config
	id             paxos.NodeID
	n              int
	classic, fastQ int
	qs             quorum.Fast
	rng            *rand.Rand
	store          *kv.Executor
	now            int64

	slots map[uint64]*slot
	// nacks counts the equal Nacks sent to each replica this tick (see nack).
	nacks nackcap.Cap[Nack]
	// Log compaction (snapshot.go): the snapshot interval (0 = never), the
	// latest snapshot's index (its data is not kept: see emitSnapshot),
	// and base, the highest slot dropped from slots.
	every uint64
	snap  Snapshot
	// sinceSnapCmds counts commands executed since the latest snapshot,
	// snapKeys the keys the store held then (see maybeSnapshot).
	sinceSnapCmds, snapKeys int
	base                    uint64
	// snapSent is when we last sent our snapshot to a peer that asked
	// about a compacted slot (at most once per RetryTicks each).
	snapSent map[paxos.NodeID]int64
	// maxSlot is the highest slot heard of; learnedTo ends the contiguous
	// prefix of learned (and executed) slots.
	maxSlot, learnedTo uint64

	// Acceptor: the term promise and the fast round opened by Any.
	promised  Ballot
	anyBallot Ballot
	anyFrom   uint64

	// Election and leadership.
	role      role
	ballot    Ballot // our term while candidate or leader
	leader    paxos.NodeID
	heard     int64 // tick we last heard from a leader or granted a promise
	timeout   int64
	promises  map[paxos.NodeID]Promise
	campaignT int64
	seenRound uint64
	beatAt    int64
	// fastFrom is, while we lead, the first slot our term opened for fast
	// rounds; it never changes during a term.
	fastFrom  uint64
	forwarded []paxos.Command // commands to place in fresh slots as leader
	// placing holds the commands we place as leader until one is chosen.
	placing map[paxos.CommandID]struct{}

	// Proposer.
	queue   []queued
	waiting map[paxos.CommandID]int // command proposed here -> fast rounds lost
	askAt   int64

	// rb is set while the replica rebuilds after a lost disk (rebuild.go).
	rb *rebuild
	// marker is set by restore when the records say a rebuild was under
	// way and did not complete.
	marker bool

	local []paxos.Message // messages to ourselves, handled after the current input
	rd    paxos.Ready
	stats map[string]uint64
	bug   bugs
}

// bugs are planted bugs (mutants.go); all false in the real protocol.
type bugs struct {
	// lowestReporter makes recovery adopt the value of the lowest-id
	// acceptor that voted at the highest round, ignoring the O4 rule.
	lowestReporter bool
	// smallFast makes learners accept fast quorums one replica short.
	smallFast bool
	// snapshotDropsDedup leaves the clients' sessions out of snapshots.
	snapshotDropsDedup bool
	// uncoordinatedClassic makes learners take the acceptors' own
	// recovery round (Sub 1) for a classic round: a classic quorum of
	// equal votes there counts as chosen.
	uncoordinatedClassic bool
	// acceptTermPromise makes a classic Accept check only the term
	// promise, not the slot's recovery promise (a third-round variant).
	acceptTermPromise bool
	// Fifth round: voteAgain makes an acceptor that voted in a fast round
	// vote again in that round for another value proposed to it (it
	// repeats its vote only for the same value); o4Strict makes recovery
	// force a value only when more than fast + m - n reporters voted it,
	// not at least as many.
	voteAgain bool
	o4Strict  bool
}

// acceptBound is the promise a classic Accept in slot st must not be
// below: the effective one (under the planted bug acceptTermPromise, the
// term promise alone).
func (r *Replica) acceptBound(st *slot) Ballot {
	if r.bug.acceptTermPromise {
		return r.promised
	}
	return r.effective(st)
}

// New builds a Fast Paxos replica. cfg.Quorums nil or a majority means the
// default sizes (classic ⌊N/2⌋+1, fast ⌈3N/4⌉); a quorum.Fast gives other
// sizes. With cfg.Restore set, the replica replays its persisted records.
// With cfg.Rebuild set it starts as a non-voting member that rebuilds from
// its peers (see the package doc).
func New(cfg paxos.Config) (paxos.Replica, error) {
	return newReplica(cfg, bugs{})
}

func newReplica(cfg paxos.Config, bug bugs) (*Replica, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fastpaxos: %w", err)
	}
	var qs quorum.Fast
	switch q := cfg.Quorums.(type) {
	case nil, quorum.Majority:
		c, f := quorum.FastDefaults(cfg.N)
		s, err := quorum.NewFast(cfg.N, c, f)
		if err != nil {
			return nil, fmt.Errorf("fastpaxos: %w: %w", paxos.ErrConfig, err)
		}
		qs = s
	case quorum.Fast:
		if err := quorum.CheckFast(q.N(), q.Classic(), q.FastSize()); err != nil {
			return nil, fmt.Errorf("fastpaxos: %w: %w", paxos.ErrConfig, err)
		}
		qs = q
	default:
		return nil, fmt.Errorf("fastpaxos: %w: quorum system %s: Fast Paxos needs classic and fast quorum sizes; pass quorum.NewFast(n, classic, fast) or leave Quorums nil for the defaults", paxos.ErrConfig, cfg.Quorums)
	}
	r := &Replica{
		cfg: cfg, id: cfg.ID, n: cfg.N, qs: qs,
		classic: qs.Classic(), fastQ: qs.FastSize(),
		rng: cfg.Rand(), store: kv.NewExecutor(cfg),
		slots: map[uint64]*slot{}, waiting: map[paxos.CommandID]int{},
		leader: -1, stats: map[string]uint64{}, bug: bug,
		nacks: nackcap.New[Nack](cfg.N),
	}
	if bug.smallFast {
		r.fastQ--
	}
	switch {
	case cfg.SnapshotEvery == 0:
		r.every = DefaultSnapshotEvery
	case cfg.SnapshotEvery > 0:
		r.every = uint64(cfg.SnapshotEvery)
	}
	r.resetTimer()
	if cfg.Restore != nil {
		if err := r.restore(cfg.Restore); err != nil {
			return nil, err
		}
	} else if cfg.InitialLeader >= 0 && !cfg.Rebuild {
		// Every replica starts having promised (1, L, 0) with nothing
		// voted: exactly what phase 1 at that ballot would report, so L
		// needs no phase 1 and every slot is open for a fast round.
		b := Ballot{Round: 1, Node: cfg.InitialLeader}
		r.promised, r.anyBallot, r.anyFrom, r.leader = b, b, 1, cfg.InitialLeader
		r.persist(PromiseRecord{Ballot: b})
		if r.id == cfg.InitialLeader {
			r.role, r.ballot, r.fastFrom = leader, b, 1
		}
	}
	if err := r.startRebuild(r.marker); err != nil {
		return nil, err
	}
	if r.rb != nil {
		r.stats["rebuilds"]++
	}
	return r, nil
}

// Quorums returns the replica's quorum system (classic and fast sizes).
func (r *Replica) Quorums() quorum.System { return r.qs }

// Coverage implements paxos.CoverageReporter: counts since this replica was
// built, by name: "fast-chosen" and "classic-chosen" (slots this replica
// learned from votes, by round kind), "coordinated-recoveries" (fast rounds
// the leader recovered from their own votes), "recoveries" (one-slot phase
// 1 at a recovery ballot), "o4-forced" (recoveries where a value might have
// been chosen in a fast round and was kept), "o4-free", "elections",
// "forwards", "forwards-dropped" (forwarded commands the leader had no room
// for), "catchups", "rebuilds" (started after a lost disk), "rebuilds-done",
// "snapshots" (taken), "snapshots-sent",
// "snapshot-installs" and paxos.CoverageRefused (messages Step refused as
// malformed, see check).
func (r *Replica) Coverage() paxos.Coverage {
	out := paxos.Coverage{}
	for k, v := range r.stats {
		out[k] = v
	}
	return out
}

func (r *Replica) restore(p *paxos.Persisted) error {
	switch v := p.Snapshot.(type) {
	case nil:
	case SnapshotRecord:
		if err := r.restoreSnapshot(v); err != nil {
			return err
		}
	case *SnapshotRecord:
		if err := r.restoreSnapshot(*v); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: snapshot has type %T, not a fastpaxos.SnapshotRecord; was it written by another protocol?", ErrRestore, p.Snapshot)
	}
	for i, rec := range p.Records {
		switch v := rec.(type) {
		case *PromiseRecord:
			rec = *v
		case *SlotPromiseRecord:
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
			r.promised = maxBallot(r.promised, v.Ballot)
		case SlotPromiseRecord:
			if v.Slot == 0 {
				return fmt.Errorf("%w: record %d: promise for slot 0", ErrRestore, i)
			}
			if r.gone(v.Slot) {
				continue
			}
			s := r.slot(v.Slot)
			s.promised = maxBallot(s.promised, v.Ballot)
		case AcceptRecord:
			if v.Vote.Slot == 0 {
				return fmt.Errorf("%w: record %d: vote for slot 0", ErrRestore, i)
			}
			if r.gone(v.Vote.Slot) {
				continue
			}
			s := r.slot(v.Vote.Slot)
			if s.vote.Ballot.Less(v.Vote.Ballot) {
				s.vote = v.Vote
			}
		case DecisionRecord:
			if v.Slot == 0 || len(v.Value) == 0 {
				return fmt.Errorf("%w: record %d: decision for slot %d without a value", ErrRestore, i, v.Slot)
			}
			if r.gone(v.Slot) {
				continue
			}
			s := r.slot(v.Slot)
			if !s.learned {
				s.learned, s.value = true, v.Value
				r.rd.Decided = append(r.rd.Decided, paxos.Decision{Instance: paxos.Instance{Slot: v.Slot}, Commands: v.Value})
			}
		case RebuildRecord:
			r.marker = !v.Done
		default:
			return fmt.Errorf("%w: record %d has type %T, not a fastpaxos record; was it written by another protocol?", ErrRestore, i, rec)
		}
	}
	r.seenRound = r.promised.Round
	r.execute()
	return nil
}

// Executed returns the end of the contiguous prefix of slots this replica
// learned and executed.
func (r *Replica) Executed() uint64 { return r.learnedTo }

// LogLen returns how many slots this replica holds in memory (compaction
// drops those up to its previous snapshot).
func (r *Replica) LogLen() int { return len(r.slots) }

// ID implements paxos.Replica.
func (r *Replica) ID() paxos.NodeID { return r.id }

// Leader returns the coordinator this replica last heard from (itself when
// it leads), or -1 while none is known: the replica that opens fast rounds
// and recovers collisions.
func (r *Replica) Leader() paxos.NodeID { return r.leader }

// Propose implements paxos.Replica. The command goes out in a fast round
// when the driver next collects Ready; one already executed here is
// answered at once, one already in flight here is not proposed twice.
func (r *Replica) Propose(cmd paxos.Command) {
	if err := r.store.Check(&cmd); err != nil {
		r.rd.Executed = append(r.rd.Executed, paxos.Refused(&cmd, err))
		return
	}
	id := cmd.ID()
	if r.store.Done(&cmd) { // a retry of an executed command
		ex, _ := r.store.Executed(&cmd)
		r.rd.Executed = append(r.rd.Executed, ex)
		r.rd.Committed = append(r.rd.Committed, paxos.Commit{ID: id, Path: paxos.PathClassic})
		return
	}
	if cmd.Client != 0 {
		if _, dup := r.waiting[id]; dup {
			return
		}
		r.waiting[id] = 0
	}
	r.queue = append(r.queue, queued{cmd: cmd})
}

// Ready implements paxos.Replica. It first proposes the queued commands.
func (r *Replica) Ready() paxos.Ready {
	r.pump()
	r.drain()
	rd := r.rd
	r.rd = paxos.Ready{}
	return rd
}

// Tick implements paxos.Replica.
func (r *Replica) Tick() {
	r.now++
	if r.rb != nil {
		r.rebuildTick()
		r.retransmit()
		r.drain()
		return
	}
	switch r.role {
	case leader:
		if r.now >= r.beatAt {
			r.beat()
		}
		r.lead()
	case candidate:
		if r.now-r.campaignT >= r.timeout {
			r.campaign()
		}
	default:
		if r.now-r.heard >= r.timeout {
			r.campaign()
		}
	}
	r.retransmit()
	r.drain()
}

// Step implements paxos.Replica.
// A message no correct peer could send is refused with an error wrapping
// paxos.ErrMalformed, before anything is stored for it, and counted under
// paxos.CoverageRefused (see check).
func (r *Replica) Step(msg paxos.Message) error {
	err := r.check(msg)
	if err == nil {
		err = r.handle(msg.From, msg.Body)
	}
	if errors.Is(err, paxos.ErrMalformed) {
		r.stats[paxos.CoverageRefused]++
	}
	r.drain()
	return err
}

// send queues a message; one to ourselves is handled once the current
// input is done.
func (r *Replica) send(to paxos.NodeID, body any) {
	m := paxos.Message{From: r.id, To: to, Body: body}
	if to == r.id {
		r.local = append(r.local, m)
		return
	}
	r.rd.Messages = append(r.rd.Messages, m)
}

func (r *Replica) broadcast(body any) {
	for i := 0; i < r.n; i++ {
		r.send(paxos.NodeID(i), body)
	}
}

func (r *Replica) drain() {
	for len(r.local) > 0 {
		m := r.local[0]
		r.local = r.local[1:]
		_ = r.handle(m.From, m.Body)
	}
}

func (r *Replica) persist(rec any) { r.rd.Persist = append(r.rd.Persist, rec) }

func (r *Replica) slot(s uint64) *slot {
	st := r.slots[s]
	if st == nil {
		st = &slot{}
		r.slots[s] = st
		r.maxSlot = max(r.maxSlot, s)
	}
	return st
}

func (r *Replica) resetTimer() {
	e := int64(r.cfg.ElectionTicks)
	r.timeout = e + r.rng.Int64N(e)
}

func (r *Replica) retry() int64 { return int64(r.cfg.RetryTicks) }

// resendAfter is how long a round that was sent again k times waits before
// the next send: RetryTicks, doubling with every resend up to
// 1<<maxBackoff of it. An answer that has not come in a retry period is,
// far more often than lost, queued at a busy peer or behind this
// replica's own backlog; resending every RetryTicks then only adds to
// every queue (see TestOverloadDrains).
func (r *Replica) resendAfter(k int) int64 { return r.retry() << min(k, maxBackoff) }

// forwardWait is how long a command forwarded to the same leader k times
// before waits after the next forward: 4 RetryTicks + ElectionTicks (time
// for the leader to get it chosen, or for a new one to be elected),
// doubling with every forward up to the longest wait of a resent round,
// RetryTicks << maxBackoff (or the first wait, if longer). A leader that
// has not got it chosen is most often busy, or dropped it because it had
// no room (see place); forwarding it at a fixed pace only adds to its
// queue (see TestForwardsBackOff). A new leader gets it at once (see pump).
func (r *Replica) forwardWait(k int) int64 {
	first := 4*r.retry() + int64(r.cfg.ElectionTicks)
	return min(first<<min(k, maxBackoff), max(first, r.resendAfter(maxBackoff)))
}

func (r *Replica) handle(from paxos.NodeID, body any) error {
	if r.rebuildStep(from, body) {
		return nil
	}
	switch m := body.(type) {
	case Prepare:
		r.onPrepare(from, m)
	case Promise:
		r.onPromise(from, m)
	case Any:
		r.onAny(from, m)
	case Propose:
		r.onPropose(from, m)
	case Accept:
		r.onAccept(from, m)
	case Voted:
		r.onVoted(from, m.Vote)
	case Recover:
		r.onRecover(from, m)
	case Report:
		r.onReport(from, m)
	case Nack:
		r.onNack(from, m)
	case Commit:
		r.learn(m.Slot, m.Value, m.Fast, false)
	case Forward:
		r.place(m.Command)
	case CatchUp:
		r.onCatchUp(from, m)
	case InstallSnapshot:
		if from != r.id && m.Snapshot.Index > r.learnedTo {
			if err := r.installSnapshot(m.Snapshot); err != nil {
				r.stats[paxos.CoverageRefused]++
				return err
			}
			r.send(from, CatchUp{From: r.learnedTo + 1}) // the slots after it
		}
	case Learned:
		before := r.learnedTo
		for _, v := range m.Votes {
			if v.Decided && v.Slot > 0 && len(v.Value) > 0 {
				r.learn(v.Slot, v.Value, false, false)
			}
		}
		// A full answer means the peer may hold more: ask on at once, so
		// that a replica far behind catches up without waiting for a
		// leader (it may be a candidate whose Prepares are refused).
		if len(m.Votes) == maxCatchUp && r.learnedTo > before && from != r.id {
			r.askAt = r.now + r.retry()
			r.send(from, CatchUp{From: r.learnedTo + 1})
		}
	default:
		return fmt.Errorf("%w: unexpected message type %T", paxos.ErrMalformed, body)
	}
	return nil
}

// ---- acceptor ----

func (r *Replica) onPrepare(from paxos.NodeID, m Prepare) {
	r.seenRound = max(r.seenRound, m.Ballot.Round)
	if a := r.ahead(); m.From <= r.base || (r.learnedTo > a && m.From < r.learnedTo-a) {
		// The candidate is too far behind to take over: our promise would
		// report more slots than it may hold, or slots we compacted. Refuse without promising and
		// tell it how far we learned; it catches up first.
		r.nack(from, Nack{Ballot: m.Ballot, Promised: r.promised, Learned: r.learnedTo})
		return
	}
	if m.Ballot.Sub != 0 || m.Ballot.Less(r.promised) {
		r.nack(from, Nack{Ballot: m.Ballot, Promised: r.promised})
		return
	}
	if r.promised != m.Ballot {
		r.promised = m.Ballot
		r.persist(PromiseRecord{Ballot: m.Ballot})
	}
	if r.anyBallot.Less(m.Ballot) {
		r.anyBallot, r.anyFrom = Ballot{}, 0
	}
	if from != r.id {
		r.heard = r.now
		if r.role != follower && r.ballot.Less(m.Ballot) {
			r.stepDown()
		}
	}
	var votes []Vote
	for s := max(m.From, 1); s <= r.maxSlot; s++ {
		st := r.slots[s]
		switch {
		case st == nil:
		case st.learned:
			votes = append(votes, Vote{Slot: s, Decided: true, Value: st.value})
		case !st.vote.Ballot.IsZero():
			votes = append(votes, st.vote)
		}
	}
	r.send(from, Promise{Ballot: m.Ballot, Votes: votes})
}

func (r *Replica) onAny(from paxos.NodeID, m Any) {
	r.seenRound = max(r.seenRound, m.Ballot.Round)
	if m.Ballot.Less(r.promised) {
		r.nack(from, Nack{Ballot: m.Ballot, Promised: r.promised})
		return
	}
	if r.role != follower && r.ballot != m.Ballot {
		r.stepDown()
	}
	r.anyBallot, r.anyFrom, r.leader, r.heard = m.Ballot, m.From, from, r.now
	// The leader's highest slot may be beyond what we may hold: we learn of
	// the slots up to our horizon, and catch up for the rest.
	r.maxSlot = max(r.maxSlot, min(m.MaxSlot, r.horizon()))
	if m.Learned > r.learnedTo && r.now >= r.askAt && from != r.id {
		r.askAt = r.now + r.retry()
		r.stats["catchups"]++
		r.send(from, CatchUp{From: r.learnedTo + 1})
	}
}

// effective returns the promise that binds slot st: the term promise or a
// higher recovery promise.
func (r *Replica) effective(st *slot) Ballot { return maxBallot(r.promised, st.promised) }

func (r *Replica) onPropose(from paxos.NodeID, m Propose) {
	if r.gone(m.Slot) {
		r.behind(from)
		return
	}
	st := r.slot(m.Slot)
	if st.learned {
		r.send(from, Commit{Slot: m.Slot, Value: st.value})
		return
	}
	again := r.bug.voteAgain && st.vote.Ballot == m.Ballot && !paxos.SameCommands(st.vote.Value, m.Value)
	if st.vote.Ballot == m.Ballot && !again { // already voted in this fast round: repeat it
		r.sendVote(from, st.vote)
		return
	}
	if m.Ballot != r.anyBallot || m.Ballot.Sub != 0 || m.Slot < r.anyFrom || m.Ballot.Less(r.effective(st)) || !st.vote.Ballot.Less(m.Ballot) && !again {
		r.nack(from, Nack{Slot: m.Slot, Ballot: m.Ballot, Promised: maxBallot(r.effective(st), st.vote.Ballot)})
		return
	}
	st.vote = Vote{Slot: m.Slot, Ballot: m.Ballot, Fast: true, Value: m.Value}
	r.persist(AcceptRecord{Vote: st.vote})
	r.sendVote(from, st.vote)
}

// sendVote sends a vote to the round's leader and, if another replica
// proposed it, to that proposer.
func (r *Replica) sendVote(proposer paxos.NodeID, v Vote) {
	if r.uncoordinated() {
		// Every acceptor counts the fast round's votes, to recover from
		// a collision by itself (uncoordinated.go).
		r.broadcast(Voted{Vote: v})
		return
	}
	r.send(v.Ballot.Node, Voted{Vote: v})
	if proposer != v.Ballot.Node {
		r.send(proposer, Voted{Vote: v})
	}
}

func (r *Replica) onAccept(from paxos.NodeID, m Accept) {
	if r.gone(m.Slot) {
		r.behind(from)
		return
	}
	st := r.slot(m.Slot)
	if st.learned {
		r.send(from, Commit{Slot: m.Slot, Value: st.value})
		return
	}
	if st.vote.Ballot == m.Ballot {
		r.send(from, Voted{Vote: st.vote})
		return
	}
	if m.Ballot.Less(r.acceptBound(st)) || !st.vote.Ballot.Less(m.Ballot) {
		r.nack(from, Nack{Slot: m.Slot, Ballot: m.Ballot, Promised: maxBallot(r.effective(st), st.vote.Ballot)})
		return
	}
	st.vote = Vote{Slot: m.Slot, Ballot: m.Ballot, Value: m.Value}
	r.persist(AcceptRecord{Vote: st.vote})
	r.send(from, Voted{Vote: st.vote})
}

func (r *Replica) onRecover(from paxos.NodeID, m Recover) {
	if r.gone(m.Slot) {
		r.behind(from)
		return
	}
	st := r.slot(m.Slot)
	if st.learned {
		r.send(from, Commit{Slot: m.Slot, Value: st.value})
		return
	}
	if m.Ballot.Less(r.effective(st)) || m.Ballot.Less(st.vote.Ballot) {
		r.nack(from, Nack{Slot: m.Slot, Ballot: m.Ballot, Promised: maxBallot(r.effective(st), st.vote.Ballot)})
		return
	}
	if st.promised.Less(m.Ballot) {
		st.promised = m.Ballot
		//lint:ignore S1016 a record of the promise, not a converted message: the two types only share their fields today
		r.persist(SlotPromiseRecord{Slot: m.Slot, Ballot: m.Ballot})
	}
	v := st.vote
	v.Slot = m.Slot
	r.send(from, Report{Ballot: m.Ballot, Vote: v})
}

func (r *Replica) onCatchUp(from paxos.NodeID, m CatchUp) {
	var out []Vote
	// One answer covers maxCatchUp slots from From, so the asker's horizon
	// holds them all.
	from0 := max(m.From, 1)
	if from0 <= r.base {
		r.stats["snapshots-sent"]++
		r.send(from, InstallSnapshot{Snapshot: r.currentSnapshot()})
		return
	}
	for s := from0; s <= r.maxSlot && s-from0 < maxCatchUp; s++ {
		if st := r.slots[s]; st != nil && st.learned {
			out = append(out, Vote{Slot: s, Decided: true, Value: st.value})
		}
	}
	if len(out) > 0 {
		r.send(from, Learned{Votes: out})
	}
}

// ---- learner ----

func (r *Replica) onVoted(from paxos.NodeID, v Vote) {
	if r.gone(v.Slot) {
		return
	}
	st := r.slot(v.Slot)
	if st.learned {
		return
	}
	t := st.tally
	if t == nil || t.ballot.Less(v.Ballot) {
		st.fast0 = nil
		if r.uncoordinated() && t != nil && t.ballot.Sub == 0 && v.Ballot.Sub == 1 && t.ballot.Term() == v.Ballot.Term() {
			st.fast0 = t
		}
		t = &tally{ballot: v.Ballot, votes: map[paxos.NodeID]Vote{}}
		st.tally = t
	}
	if v.Ballot != t.ballot {
		if st.fast0 == nil || v.Ballot != st.fast0.ballot {
			return
		}
		t = st.fast0
	}
	t.votes[from] = v
	need := r.classic
	if v.Fast && !(r.bug.uncoordinatedClassic && v.Ballot.Sub == 1) {
		need = r.fastQ
	}
	n := 0
	for _, w := range t.votes {
		if paxos.SameCommands(w.Value, v.Value) {
			n++
		}
	}
	if n >= need {
		switch {
		case v.Fast && v.Ballot.Sub > 0:
			r.stats["uncoordinated-chosen"]++
		case v.Fast:
			r.stats["fast-chosen"]++
		default:
			r.stats["classic-chosen"]++
		}
		r.learn(v.Slot, v.Value, v.Fast && v.Ballot.Sub == 0, true)
		return
	}
	if r.uncoordinated() && v.Fast && v.Ballot.Sub == 0 {
		r.selfRecover(v.Slot, st, t)
	}
	if r.role == leader && (v.Ballot == r.at(0) || (r.uncoordinated() && v.Ballot == r.at(1))) {
		if st.lead == nil {
			st.lead = &leadSlot{since: r.now}
		}
		if ls := st.lead; r.uncoordinated() && !slices.ContainsFunc(ls.seen, func(w []paxos.Command) bool { return paxos.SameCommands(w, v.Value) }) {
			ls.seen = append(ls.seen, v.Value)
		}
		if st.lead.phase == watching {
			r.watch(v.Slot, st)
		}
	}
}

// learn records that value was chosen in slot s. A replica that learned it
// from votes tells everyone (only the leader does, with uncoordinated
// recovery).
func (r *Replica) learn(s uint64, value []paxos.Command, fast, fromVotes bool) {
	if r.gone(s) {
		return
	}
	st := r.slot(s)
	if st.learned {
		return
	}
	if ls := st.lead; ls != nil && ls.prefer != nil && r.role == leader && !paxos.SameCommands(ls.prefer, value) {
		// A forwarded command lost its slot: try another one at once.
		r.forwarded = append(r.forwarded, ls.prefer...)
	}
	if ls := st.lead; ls != nil && r.role == leader {
		for _, v := range ls.seen {
			if !paxos.SameCommands(v, value) {
				for _, c := range v {
					r.place(c)
				}
			}
		}
	}
	st.learned, st.value, st.tally, st.fast0, st.lead = true, value, nil, nil, nil
	for _, c := range value {
		delete(r.placing, c.ID())
	}
	r.persist(DecisionRecord{Slot: s, Value: value})
	r.rd.Decided = append(r.rd.Decided, paxos.Decision{Instance: paxos.Instance{Slot: s}, Commands: value})
	// With uncoordinated recovery every replica hears the fast rounds'
	// votes itself; only the leader announces what they chose.
	if fromVotes && (!r.uncoordinated() || r.role == leader) {
		for i := 0; i < r.n; i++ {
			if paxos.NodeID(i) != r.id {
				r.send(paxos.NodeID(i), Commit{Slot: s, Value: value, Fast: fast})
			}
		}
	}
	path := paxos.PathSlow // a classic round: after a collision, a stall or a forward
	if fast {
		path = paxos.PathFast
	}
	for _, c := range value {
		if _, ok := r.waiting[c.ID()]; ok && c.Client != 0 {
			delete(r.waiting, c.ID())
			r.rd.Committed = append(r.rd.Committed, paxos.Commit{ID: c.ID(), Path: path})
		}
	}
	if p := st.prop; p != nil {
		st.prop = nil
		for _, c := range p.cmds {
			if lost, ok := r.waiting[c.ID()]; ok {
				r.waiting[c.ID()] = lost + 1
				r.queue = append(r.queue, queued{cmd: c})
			}
		}
	}
	r.execute()
}

func (r *Replica) execute() {
	for {
		st := r.slots[r.learnedTo+1]
		if st == nil || !st.learned {
			return
		}
		r.learnedTo++
		r.rd.Executed = append(r.rd.Executed, r.store.ApplyChosen(st.value)...)
		r.sinceSnapCmds += len(st.value)
		r.maybeSnapshot()
	}
}

// ---- proposer ----

// pump proposes queued commands in fresh slots of the open fast round, up
// to Config.Batch in a slot, or forwards those that lost too often to the
// leader.
func (r *Replica) pump() {
	if len(r.queue) == 0 {
		return
	}
	kept := r.queue[:0]
	var batch []paxos.Command
	flush := func() {
		if len(batch) == 0 {
			return
		}
		s := max(r.maxSlot+1, r.anyFrom)
		if s > r.learnedTo+uint64(r.cfg.Window) {
			// Config.Window slots in flight past our learned prefix: wait.
			for _, c := range batch {
				kept = append(kept, queued{cmd: c})
			}
			batch = nil
			return
		}
		st := r.slot(s)
		st.prop = &proposal{cmds: batch, ballot: r.anyBallot, sentAt: r.now}
		r.broadcast(Propose{Slot: s, Ballot: r.anyBallot, Value: batch})
		batch = nil
	}
	for _, q := range r.queue {
		lost, ok := r.waiting[q.cmd.ID()]
		if q.cmd.Client != 0 && !ok {
			continue // chosen meanwhile
		}
		newLeader := q.forwards > 0 && r.leader >= 0 && r.leader != q.to
		if q.after > r.now && !newLeader {
			kept = append(kept, q)
			continue
		}
		if lost >= forwardAfter && r.leader >= 0 {
			k := q.forwards
			if newLeader {
				k = 0
			}
			r.stats["forwards"]++
			r.send(r.leader, Forward{Command: q.cmd})
			// Forward it again, or propose it, later if the leader did
			// not get it chosen.
			kept = append(kept, queued{cmd: q.cmd, after: r.now + r.forwardWait(k), forwards: k + 1, to: r.leader})
			continue
		}
		if r.anyBallot.IsZero() {
			kept = append(kept, q)
			continue
		}
		batch = append(batch, q.cmd)
		if len(batch) >= r.cfg.Batch {
			flush()
		}
	}
	flush()
	r.queue = kept
}

// retransmit repeats fast proposals that got no decision, in the current
// fast round when the slot is still open to it.
func (r *Replica) retransmit() {
	for s := r.learnedTo + 1; s <= r.maxSlot && s <= r.learnedTo+leaderScan; s++ {
		st := r.slots[s]
		if st == nil || st.prop == nil || st.learned {
			continue
		}
		p := st.prop
		if r.anyBallot.IsZero() || (p.ballot != r.anyBallot && s < r.anyFrom) {
			continue // the leader's phase 1 covers this slot
		}
		// A new fast round: its first send waits only RetryTicks after
		// the last send of the old round, whose backoff (up to 32
		// RetryTicks) says nothing about the new leader's round.
		resends := p.resends
		if p.ballot != r.anyBallot {
			resends = 0
		}
		if r.now-p.sentAt < r.resendAfter(resends) {
			continue
		}
		p.ballot, p.sentAt, p.resends = r.anyBallot, r.now, resends+1
		r.broadcast(Propose{Slot: s, Ballot: p.ballot, Value: p.cmds})
	}
	if r.learnedTo < r.maxSlot && r.leader >= 0 && r.leader != r.id && r.now >= r.askAt {
		if st := r.slots[r.learnedTo+1]; st == nil || !st.learned {
			r.askAt = r.now + 4*r.retry()
			r.send(r.leader, CatchUp{From: r.learnedTo + 1})
		}
	}
}

// nack refuses a message: it sends m to the refused replica, at most
// nackcap.PerTick equal Nacks to one replica per tick, so that a burst of
// stale messages, such as the Anys of a leader whose clock jumped ahead
// (one on each tick), is not echoed back into its queue, where the Nacks
// held up the Promises of its next elections for seconds while each of its
// new ballots deposed the others' leader (see nackcap;
// TestStaleLeaderFloodConverges).
func (r *Replica) nack(to paxos.NodeID, m Nack) {
	if r.nacks.Allow(to, uint64(r.now), m) {
		r.send(to, m)
	}
}

func (r *Replica) onNack(from paxos.NodeID, m Nack) {
	r.seenRound = max(r.seenRound, m.Promised.Round)
	if m.Slot == 0 && r.role == candidate && m.Ballot == r.ballot && m.Learned > r.learnedTo && from != r.id && r.now >= r.askAt {
		// Refused for being too far behind: catch up from that peer.
		r.askAt = r.now + r.retry()
		r.stats["catchups"]++
		r.send(from, CatchUp{From: r.learnedTo + 1})
	}
	if r.role != follower && r.ballot.Term().Less(m.Promised.Term()) {
		r.stepDown()
	}
	if m.Slot != 0 && r.anyBallot == m.Ballot && r.anyBallot.Term().Less(m.Promised.Term()) {
		r.anyBallot, r.anyFrom = Ballot{}, 0 // a newer leader took over
	}
}

// ---- leader ----

func (r *Replica) stepDown() {
	r.role, r.promises, r.forwarded, r.placing = follower, nil, nil, nil
	for _, st := range r.slots {
		st.lead = nil
	}
	r.heard = r.now
	r.resetTimer()
}

func (r *Replica) campaign() {
	r.stats["elections"]++
	r.resetTimer()
	r.role, r.campaignT, r.leader = candidate, r.now, -1
	r.seenRound = max(r.seenRound, r.promised.Round)
	r.ballot = Ballot{Round: r.seenRound + 1, Node: r.id}
	r.promises = map[paxos.NodeID]Promise{}
	r.broadcast(Prepare{Ballot: r.ballot, From: r.learnedTo + 1})
}

func (r *Replica) onPromise(from paxos.NodeID, m Promise) {
	if r.role != candidate || m.Ballot != r.ballot {
		return
	}
	r.promises[from] = m
	if len(r.promises) < r.classic {
		return
	}
	// Phase 1 done: per slot, choose with the O4 rule from the promises.
	ps := r.promises
	r.role, r.leader, r.promises = leader, r.id, nil
	per := map[uint64]map[paxos.NodeID]Vote{}
	top := r.learnedTo
	for node, p := range ps {
		for _, v := range p.Votes {
			if v.Slot <= r.learnedTo {
				continue
			}
			if per[v.Slot] == nil {
				per[v.Slot] = map[paxos.NodeID]Vote{}
			}
			per[v.Slot][node] = v
			top = max(top, v.Slot)
		}
	}
	for s := r.learnedTo + 1; s <= top; s++ {
		st := r.slot(s)
		if st.learned {
			continue
		}
		if v, ok := r.decided(per[s]); ok {
			r.learn(s, v, false, true)
			continue
		}
		ls := &leadSlot{since: r.now}
		st.lead = ls
		r.chooseAndAccept(s, st, per[s], len(ps))
	}
	r.fastFrom = top + 1
	r.maxSlot = max(r.maxSlot, top)
	r.beat()
}

// decided returns a decided value among votes.
func (r *Replica) decided(votes map[paxos.NodeID]Vote) ([]paxos.Command, bool) {
	for id := 0; id < r.n; id++ {
		if v, ok := votes[paxos.NodeID(id)]; ok && v.Decided {
			return v.Value, true
		}
	}
	return nil, false
}

// beat sends Any, the leader's heartbeat and fast-round opener.
func (r *Replica) beat() {
	r.beatAt = r.now + int64(r.cfg.HeartbeatTicks)
	r.broadcast(Any{Ballot: r.ballot, From: r.fastFrom, MaxSlot: r.maxSlot, Learned: r.learnedTo})
}

// at returns the leader's ballot with recovery number sub.
func (r *Replica) at(sub uint32) Ballot {
	b := r.ballot
	b.Sub = sub
	return b
}

// lead is the leader's tick: forwarded commands get classic rounds in
// fresh slots; every slot it knows of and has not learned is watched, and
// recovered when its fast round collided or stalled.
func (r *Replica) lead() {
	var todo []paxos.Command
	for _, c := range r.forwarded {
		if !r.store.Done(&c) {
			todo = append(todo, c)
		}
	}
	r.forwarded = nil
	for len(todo) > 0 {
		s := r.maxSlot + 1
		if s > r.learnedTo+uint64(r.cfg.Window) {
			r.forwarded = todo // the window is full: place them later
			break
		}
		k := min(len(todo), r.cfg.Batch)
		st := r.slot(s)
		st.lead = &leadSlot{prefer: todo[:k:k], since: r.now}
		todo = todo[k:]
		r.startRecover(s, st)
	}
	for s := r.learnedTo + 1; s <= r.maxSlot && s <= r.learnedTo+leaderScan; s++ {
		st := r.slot(s)
		if st.learned {
			continue
		}
		ls := st.lead
		if ls == nil {
			st.lead = &leadSlot{since: r.now}
			continue
		}
		switch ls.phase {
		case watching:
			r.watch(s, st)
		case recovering:
			if r.now-ls.sentAt >= r.resendAfter(ls.resends) {
				ls.sentAt = r.now
				ls.resends++
				r.broadcast(Recover{Slot: s, Ballot: r.at(ls.sub)})
			}
		case accepting:
			if r.now-ls.sentAt >= r.resendAfter(ls.resends) {
				ls.sentAt = r.now
				ls.resends++
				r.broadcast(Accept{Slot: s, Ballot: r.at(ls.sub), Value: ls.value})
			}
		}
	}
}

// watch looks at the fast round of slot s the leader watches: (term, 0),
// or with uncoordinated recovery the acceptors' own round (term, 1) (it
// leaves (term, 0) to them). Once a classic quorum voted in it and either
// the votes differ (a collision: no value may reach a fast quorum, and
// rule O4 keeps the one that still might) or the round took RetryTicks,
// the leader recovers in the next ballot, using those votes as that
// ballot's phase-1 reports (coordinated recovery). A slot with too few
// votes for that is recovered with a one-slot phase 1 after twice as long.
func (r *Replica) watch(s uint64, st *slot) {
	ls := st.lead
	t := st.tally
	watched, next := uint32(0), uint32(1)
	if r.uncoordinated() {
		watched, next = 1, 2 // the acceptors' own round, then ours
	}
	if ls.sub == 0 && t != nil && t.ballot == r.at(watched) && len(t.votes) >= r.classic && r.anyVote(t).Fast {
		if r.split(t) || r.now-ls.since >= r.retry() {
			r.stats["coordinated-recoveries"]++
			ls.sub = next
			r.chooseAndAccept(s, st, t.votes, len(t.votes))
		}
		return
	}
	if r.now-ls.since >= 2*r.retry() {
		r.startRecover(s, st)
	}
}

// split reports whether the votes of t differ.
func (r *Replica) split(t *tally) bool {
	first := r.anyVote(t)
	for _, v := range t.votes {
		if !paxos.SameCommands(v.Value, first.Value) {
			return true
		}
	}
	return false
}

// anyVote returns one vote of t (the one of the lowest id).
func (r *Replica) anyVote(t *tally) Vote {
	for id := 0; id < r.n; id++ {
		if v, ok := t.votes[paxos.NodeID(id)]; ok {
			return v
		}
	}
	return Vote{}
}

// startRecover runs a one-slot phase 1 at the next recovery ballot.
func (r *Replica) startRecover(s uint64, st *slot) {
	ls := st.lead
	ls.sub++
	if r.uncoordinated() {
		ls.sub = max(ls.sub, 2) // Sub 1 is the acceptors' own fast round
	}
	ls.phase, ls.reports, ls.since, ls.sentAt, ls.resends = recovering, map[paxos.NodeID]Vote{}, r.now, r.now, 0
	r.stats["recoveries"]++
	r.broadcast(Recover{Slot: s, Ballot: r.at(ls.sub)})
}

func (r *Replica) onReport(from paxos.NodeID, m Report) {
	st := r.slots[m.Vote.Slot]
	if r.role != leader || st == nil || st.learned || st.lead == nil {
		return
	}
	ls := st.lead
	if ls.phase != recovering || m.Ballot != r.at(ls.sub) {
		return
	}
	ls.reports[from] = m.Vote
	if len(ls.reports) >= r.classic {
		r.chooseAndAccept(m.Vote.Slot, st, ls.reports, len(ls.reports))
	}
}

// chooseAndAccept picks the value of slot s from m acceptors' reports with
// the O4 rule and sends it in a classic round at (term, ls.sub).
func (r *Replica) chooseAndAccept(s uint64, st *slot, reports map[paxos.NodeID]Vote, m int) {
	ls := st.lead
	v, forced := r.pick(reports, m)
	switch {
	case forced:
		r.stats["o4-forced"]++
	case v != nil:
		r.stats["o4-free"]++
	}
	if !forced && ls.prefer != nil {
		v = ls.prefer
	}
	if v == nil {
		v = []paxos.Command{{Op: paxos.OpNop}}
	}
	// The commands of the values that lost this slot get fresh slots from
	// us at once, sparing their proposers a round trip to learn they lost.
	for id := 0; id < r.n; id++ {
		if rep, ok := reports[paxos.NodeID(id)]; ok && !paxos.SameCommands(rep.Value, v) {
			for _, c := range rep.Value {
				r.place(c)
			}
		}
	}
	ls.value, ls.phase, ls.since, ls.sentAt, ls.resends = v, accepting, r.now, r.now, 0
	r.broadcast(Accept{Slot: s, Ballot: r.at(ls.sub), Value: v})
}

// pick is the value-selection rule of recovery (see the package doc). The
// reports come from m acceptors, at least a classic quorum; an acceptor
// that voted nothing reports a zero ballot or nothing. It returns the value
// that might have been chosen at a round below the recovery ballot and
// forced = true, or, when none might have been, the most voted value of the
// highest round (ties: the lowest reporter's), or nil when nobody voted.
func (r *Replica) pick(reports map[paxos.NodeID]Vote, m int) (value []paxos.Command, forced bool) {
	var k Ballot
	for id := 0; id < r.n; id++ {
		if v, ok := reports[paxos.NodeID(id)]; ok && k.Less(v.Ballot) {
			k = v.Ballot
		}
	}
	if k.IsZero() {
		return nil, false
	}
	type group struct {
		value []paxos.Command
		votes int
	}
	var groups []group
	fast := false
	for id := 0; id < r.n; id++ {
		v, ok := reports[paxos.NodeID(id)]
		if !ok || v.Ballot != k {
			continue
		}
		fast = fast || v.Fast
		i := slices.IndexFunc(groups, func(g group) bool { return paxos.SameCommands(g.value, v.Value) })
		if i < 0 {
			groups = append(groups, group{value: v.Value})
			i = len(groups) - 1
		}
		groups[i].votes++
	}
	if !fast || r.bug.lowestReporter {
		// A classic round has one value; the planted bug treats a fast
		// round as if it had one too.
		return groups[0].value, true
	}
	// v might have been chosen at k iff some fast quorum's members among
	// the reporters all voted v: at least fast + m - n of them did.
	need := r.qs.FastSize() + m - r.n
	best := 0
	for i, g := range groups {
		if g.votes >= need && !(r.bug.o4Strict && g.votes == need) {
			return g.value, true
		}
		if g.votes > groups[best].votes {
			best = i
		}
	}
	return groups[best].value, false
}

// place queues a command the leader puts in a fresh slot through a classic
// round (forwarded to it, or one that lost a collision), unless it is
// already placing it or it executed.
func (r *Replica) place(c paxos.Command) {
	if r.role != leader || c.Client == 0 {
		return
	}
	if r.store.Done(&c) {
		return
	}
	if _, dup := r.placing[c.ID()]; dup {
		return
	}
	if len(r.placing) >= r.cfg.Window+maxCatchUp {
		// Enough to fill the window: drop it; its proposer proposes it
		// again later (see pump), so no command is lost for good.
		r.stats["forwards-dropped"]++
		return
	}
	if r.placing == nil {
		r.placing = map[paxos.CommandID]struct{}{}
	}
	r.placing[c.ID()] = struct{}{}
	r.forwarded = append(r.forwarded, c)
}
