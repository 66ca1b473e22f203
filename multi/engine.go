package multi

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/quorum"
)

// DefaultSnapshotEvery is the snapshot interval, in executed slots, used when
// Config.SnapshotEvery is 0.
const DefaultSnapshotEvery = 1000

// LeaseMargin is the safety margin, in ticks, by which a leader's view of its
// lease is shorter than the followers' promise. One tick covers the unknown
// phase between two replicas' tick sources; the second covers clock drift.
const LeaseMargin = 2

// maxCatchUp bounds the entries carried by one CatchUp message.
const maxCatchUp = 512

// Options select how the engine replicates, beyond paxos.Config.
type Options struct {
	// Quorums is the quorum system; nil means majority of cfg.N.
	Quorums quorum.System
	// Thrifty sends Accepts only to a chosen phase-2 quorum (leader
	// first, then the nearest by cfg.Nearest), widening after
	// cfg.RetryTicks to every replica that has not acknowledged and has
	// answered a heartbeat sent after the Accept.
	Thrifty bool
	// AllowUnsafeQuorums skips the check that every phase-1 quorum
	// intersects every phase-2 quorum. TEST-ONLY: it exists so negative
	// tests can show the checker catching two values chosen for one slot.
	AllowUnsafeQuorums bool
}

type role uint8

const (
	follower role = iota
	candidate
	leader
)

// entry is one slot of the log.
type entry struct {
	ballot    Ballot          // ballot of the value held (accepted or committed)
	cmds      []paxos.Command // nil when nothing is known for the slot
	committed bool
	acks      quorum.Set // leader: replicas that accepted at the current ballot
	sentAt    uint64     // leader: tick the Accept was last sent
}

// proposal is a command proposed at this replica and not yet executed here.
type proposal struct {
	cmd       paxos.Command
	sentAt    uint64
	committed bool
	forwarded bool // sent to the current leader and counted in Replica.fwd
}

// Replica is the Multi-Paxos engine. Build it with New, NewEngine, or
// flexible.New; drive it through the paxos.Replica methods.
type Replica struct {
	cfg     paxos.Config
	q       quorum.System
	thrifty bool
	// bug holds planted bugs (mutants.go); all false except in a mutant.
	bug        bugs
	everLeased bool
	rng        *rand.Rand
	me         paxos.NodeID
	n          int
	others     []paxos.NodeID // every other replica, by id
	p2         quorum.Set     // phase-2 targets (including me)
	near       []paxos.NodeID // other replicas, nearest first
	every      uint64         // snapshot interval; 0 = never
	resend     uint64         // ticks before a follower re-forwards a proposal

	ticks    uint64
	role     role
	promised Ballot
	maxSeen  Ballot
	ballot   Ballot       // own ballot while candidate or leader
	leader   paxos.NodeID // known leader, -1 when unknown

	electionElapsed int
	electionTimeout int
	hbElapsed       int

	// leases (follower side)
	leaseHolder paxos.NodeID
	leaseUntil  uint64

	// log
	snap      Snapshot
	sinceSnap int     // commands executed since the latest snapshot (see takeSnapshot)
	base      uint64  // the log starts after this slot (<= snap.Index)
	log       []entry // log[i] holds slot base+1+i
	executed  uint64
	store     *kv.Executor

	// candidate
	promises  quorum.Set
	p1        map[uint64]Entry
	p1Max     uint64
	prepareAt uint64

	// leader
	next      uint64 // next slot to assign
	recovered uint64 // highest slot taken over in phase 1
	waiting   []paxos.Command
	leaseAck  []uint64 // heartbeat tick acknowledged by each replica, +1 (0 = none)
	resentAt  []uint64 // tick of the last retransmission of Accepts to each replica
	catchAt   []uint64 // tick of the last catch-up sent to each replica
	heard     []uint64 // tick we last heard from each replica

	// proposals made here, in proposal order
	pending     map[paxos.CommandID]proposal
	pendingList []paxos.CommandID

	// follower flow control: at most fwdCap proposals forwarded to the
	// leader and not yet executed here (fwd counts them); the others wait
	// in held, in proposal order, for earlier ones to execute.
	fwd    int
	fwdCap int
	held   []paxos.CommandID

	rd  paxos.Ready
	cov engineCoverage

	// rb is non-nil while the replica rebuilds after a lost disk and does
	// not vote (rebuild.go).
	rb *rebuild
}

// engineCoverage counts events for Coverage.
type engineCoverage struct {
	elections, phase1Rounds, taken, nopFills, catchUps, snapshotInstalls, refused uint64
}

// Coverage implements paxos.CoverageReporter: counts since this replica
// was built (this incarnation only), by name: "elections" (elections
// started here), "phase1-rounds" (elections won: phase 1 completed),
// "phase1-adopted" (slots a new leader re-proposed with a value found in
// phase 1), "nop-fills" (holes a new leader filled with a Nop),
// "catchups" (catch-up batches or snapshots sent to lagging replicas),
// "snapshot-installs" (snapshots installed from the leader) and
// paxos.CoverageRefused (messages Step refused as malformed, see ahead).
func (r *Replica) Coverage() paxos.Coverage {
	return paxos.Coverage{
		"elections":           r.cov.elections,
		"phase1-rounds":       r.cov.phase1Rounds,
		"phase1-adopted":      r.cov.taken,
		"nop-fills":           r.cov.nopFills,
		"catchups":            r.cov.catchUps,
		"snapshot-installs":   r.cov.snapshotInstalls,
		paxos.CoverageRefused: r.cov.refused,
	}
}

// New builds a Multi-Paxos replica over cfg.Quorums (majority when nil),
// sending Accepts to every replica unless cfg.Thrifty is set. It refuses a
// quorum system whose phase-1 and phase-2 quorums may not intersect.
func New(cfg paxos.Config) (paxos.Replica, error) {
	return NewEngine(cfg, Options{Quorums: cfg.Quorums, Thrifty: cfg.Thrifty})
}

// NewEngine builds the engine with explicit options; flexible.New uses it.
// opt.Quorums overrides cfg.Quorums.
func NewEngine(cfg paxos.Config, opt Options) (*Replica, error) {
	cfg = cfg.WithDefaults()
	if opt.Quorums != nil {
		cfg.Quorums = opt.Quorums
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("multi: %w", err)
	}
	if cfg.LeaseTicks > 0 {
		if cfg.LeaseTicks >= cfg.ElectionTicks {
			return nil, fmt.Errorf("multi: %w: LeaseTicks=%d must be shorter than ElectionTicks=%d, or followers would elect a new leader while the old lease holds; lower LeaseTicks or raise ElectionTicks",
				paxos.ErrConfig, cfg.LeaseTicks, cfg.ElectionTicks)
		}
		if cfg.LeaseTicks <= LeaseMargin {
			return nil, fmt.Errorf("multi: %w: LeaseTicks=%d leaves no lease after the %d-tick safety margin; use at least %d",
				paxos.ErrConfig, cfg.LeaseTicks, LeaseMargin, LeaseMargin+1)
		}
	}
	q := cfg.Quorums
	if q == nil {
		m, err := quorum.NewMajority(cfg.N)
		if err != nil {
			return nil, fmt.Errorf("multi: %w: %w", paxos.ErrConfig, err)
		}
		q = m
	}
	if !opt.AllowUnsafeQuorums {
		if err := CheckQuorums(q); err != nil {
			return nil, err
		}
	}
	r := &Replica{
		cfg:         cfg,
		q:           q,
		thrifty:     opt.Thrifty,
		rng:         cfg.Rand(),
		me:          cfg.ID,
		n:           cfg.N,
		leader:      -1,
		leaseHolder: -1,
		store:       kv.NewExecutor(cfg),
		pending:     map[paxos.CommandID]proposal{},
		leaseAck:    make([]uint64, cfg.N),
		resentAt:    make([]uint64, cfg.N),
		catchAt:     make([]uint64, cfg.N),
		heard:       make([]uint64, cfg.N),
	}
	r.near = cfg.Nearest()
	for i := 0; i < cfg.N; i++ {
		if paxos.NodeID(i) != r.me {
			r.others = append(r.others, paxos.NodeID(i))
		}
	}
	r.p2 = quorum.Full(cfg.N)
	r.choosePhase2()
	switch {
	case cfg.SnapshotEvery > 0:
		r.every = uint64(cfg.SnapshotEvery)
	case cfg.SnapshotEvery == 0:
		r.every = DefaultSnapshotEvery
	}
	r.resend = uint64(4 * max(cfg.ElectionTicks, cfg.RetryTicks))
	// One window of slots in flight needs at most Window commands, or one
	// batch; beyond one command per slot, pump batches what credits allow.
	r.fwdCap = max(cfg.Window, cfg.Batch)
	r.resetElectionTimer()

	marker, done := false, false
	if cfg.Restore != nil {
		if err := r.restore(cfg.Restore, &marker, &done); err != nil {
			return nil, err
		}
		if cfg.LeaseTicks > 0 {
			// We may have granted a lease before the crash and forgotten
			// it: refuse other leaders until it has surely expired.
			r.leaseUntil = uint64(cfg.LeaseTicks + LeaseMargin)
		}
	} else if cfg.InitialLeader >= 0 && !cfg.Rebuild {
		// Every replica starts having promised ballot 1.L with nothing
		// accepted, exactly what phase 1 at that ballot would report; so
		// L may skip phase 1. Any other candidate uses a higher ballot.
		b := Ballot{Round: 1, Node: cfg.InitialLeader}
		r.promised, r.maxSeen, r.leader = b, b, cfg.InitialLeader
		r.persist(PromiseRecord{Ballot: b})
		if r.me == cfg.InitialLeader {
			r.role, r.ballot = leader, b
			r.next = 1
		}
	}
	if err := r.startRebuild(marker, done); err != nil {
		return nil, err
	}
	return r, nil
}

// CheckQuorums verifies that every phase-1 quorum of q meets every phase-2
// quorum, by trying every set of replicas whose complement is a phase-2
// quorum (exhaustive up to 20 replicas; larger systems are trusted to their
// constructor, which in package quorum always checks). The error wraps
// paxos.ErrConfig and quorum.ErrUnsafe and names the system's sizes.
func CheckQuorums(q quorum.System) error {
	n := q.N()
	if n > 20 {
		return nil
	}
	full := quorum.Full(n)
	for s := quorum.Set(0); s <= full; s++ {
		if q.IsPhase2(s) && q.IsPhase1(full&^s) {
			return fmt.Errorf("multi: %w: quorum system %s: %w: phase-1 quorum %v and phase-2 quorum %v are disjoint; use sizes with q1+q2 > n or a grid",
				paxos.ErrConfig, q, quorum.ErrUnsafe, full&^s, s)
		}
	}
	return nil
}

// choosePhase2 picks the thrifty phase-2 targets: the quorum system's choice
// with this replica first, then the others nearest first, those not heard
// from for ElectionTicks moved to the end (they are probably down).
func (r *Replica) choosePhase2() {
	if !r.thrifty {
		return
	}
	pref := make([]int, 0, r.n)
	pref = append(pref, int(r.me))
	var late []int
	for _, id := range r.near {
		if r.role == leader && r.ticks-r.heard[id] > uint64(r.cfg.ElectionTicks) {
			late = append(late, int(id))
		} else {
			pref = append(pref, int(id))
		}
	}
	r.p2 = r.q.ChoosePhase2(append(pref, late...))
}

// ID implements paxos.Replica.
func (r *Replica) ID() paxos.NodeID { return r.me }

// Leader returns the leader this replica knows of, or -1.
func (r *Replica) Leader() paxos.NodeID { return r.leader }

// IsLeader reports whether this replica leads (phase 1 complete).
func (r *Replica) IsLeader() bool { return r.role == leader }

// Ballot returns the highest ballot this replica has promised.
func (r *Replica) Ballot() Ballot { return r.promised }

// Executed returns the highest slot executed here.
func (r *Replica) Executed() uint64 { return r.executed }

// LogLen returns the number of log entries retained in memory (the log above
// the last snapshot).
// The leader keeps one snapshot interval of committed entries below its
// latest snapshot, so replicas lagging by less than that catch up from the
// log rather than by snapshot.
func (r *Replica) LogLen() int { return len(r.log) }

// SnapshotIndex returns the slot covered by the latest snapshot.
func (r *Replica) SnapshotIndex() uint64 { return r.snap.Index }

// Quorums returns the quorum system the engine uses.
func (r *Replica) Quorums() quorum.System { return r.q }

// ---- log helpers ----

func (r *Replica) lastSlot() uint64 { return r.base + uint64(len(r.log)) }

func (r *Replica) at(slot uint64) *entry {
	if slot <= r.base || slot > r.lastSlot() {
		return nil
	}
	return &r.log[slot-r.base-1]
}

// ensure returns the entry for slot (> base), growing the log.
func (r *Replica) ensure(slot uint64) *entry {
	for r.lastSlot() < slot {
		r.log = append(r.log, entry{})
	}
	return &r.log[slot-r.base-1]
}

// ---- output helpers ----

func (r *Replica) send(to paxos.NodeID, body any) {
	r.rd.Messages = append(r.rd.Messages, paxos.Message{From: r.me, To: to, Body: body})
}

func (r *Replica) broadcast(body any) {
	for _, id := range r.others {
		r.send(id, body)
	}
}

func (r *Replica) persist(rec any) { r.rd.Persist = append(r.rd.Persist, rec) }

func (r *Replica) resetElectionTimer() {
	r.electionElapsed = 0
	r.electionTimeout = r.cfg.ElectionTicks + r.rng.IntN(r.cfg.ElectionTicks)
}

func (r *Replica) promise(b Ballot) {
	if r.promised.Less(b) {
		r.promised = b
		if !r.bug.noPersistPromise {
			r.persist(PromiseRecord{Ballot: b})
		}
	}
	if r.maxSeen.Less(b) {
		r.maxSeen = b
	}
}

// leaseHeld reports whether this replica promised another replica a lease
// that has not expired.
func (r *Replica) leaseHeld() bool {
	return r.cfg.LeaseTicks > 0 && r.ticks < r.leaseUntil
}

// ---- paxos.Replica ----

// Propose implements paxos.Replica.
func (r *Replica) Propose(cmd paxos.Command) {
	if err := r.store.Check(cmd); err != nil {
		r.rd.Executed = append(r.rd.Executed, paxos.Refused(cmd, err))
		return
	}
	if !cmd.IsNop() && !cmd.Writes() && r.canReadLocally() {
		r.rd.Executed = append(r.rd.Executed, r.store.Read(cmd))
		return
	}
	id := cmd.ID()
	if !cmd.IsNop() && cmd.Client != 0 {
		if ex, done := r.store.Executed(cmd); done {
			r.rd.Executed = append(r.rd.Executed, ex)
			return
		}
		if _, ok := r.pending[id]; ok {
			// A client retry of a command still pending here: it is
			// already queued, held or forwarded (and re-forwarded if it
			// gets lost), so sending it again would only add load.
			return
		}
		r.pending[id] = proposal{cmd: cmd, sentAt: r.ticks}
		r.pendingList = append(r.pendingList, id)
		if r.role == follower {
			r.held = append(r.held, id)
			return
		}
	}
	switch {
	case r.role != follower:
		r.waiting = append(r.waiting, cmd)
	case r.leader >= 0 && r.leader != r.me:
		r.send(r.leader, Forward{Cmds: []paxos.Command{cmd}})
	}
}

// pump forwards held proposals to the leader while fewer than fwdCap
// forwarded ones are unexecuted. This is the follower's flow control: an
// overloaded leader pays CPU for every command it receives, so forwarding
// faster than it commits only queues commands in front of the Accepted
// replies it needs to commit, and its throughput collapses. Held, the
// backlog waits here instead. The credit, max(Window, Batch) commands, lets
// one follower fill the leader's window at one command per slot; when the
// leader batches, credits come back a batch at a time and one Forward
// carries the held commands they allow, so the leader pays one message for
// many commands.
func (r *Replica) pump() {
	if r.role != follower || r.leader < 0 || r.leader == r.me || len(r.held) == 0 {
		return
	}
	var cmds []paxos.Command
	i := 0
	for ; i < len(r.held) && r.fwd < r.fwdCap; i++ {
		id := r.held[i]
		p, ok := r.pending[id]
		if !ok || p.forwarded {
			continue
		}
		if ex, done := r.store.Executed(p.cmd); done {
			// executed meanwhile, e.g. retried by its client elsewhere
			r.rd.Executed = append(r.rd.Executed, ex)
			delete(r.pending, id)
			continue
		}
		p.forwarded, p.sentAt = true, r.ticks
		r.pending[id] = p
		r.fwd++
		cmds = append(cmds, p.cmd)
	}
	if i == len(r.held) {
		r.held = r.held[:0]
	} else {
		r.held = r.held[:copy(r.held, r.held[i:])]
	}
	if len(cmds) > 0 {
		r.send(r.leader, Forward{Cmds: cmds})
	}
}

// unforward forgets which proposals were forwarded (to a leader that is
// gone) and holds them all again, in proposal order.
func (r *Replica) unforward() {
	r.fwd = 0
	r.held = r.held[:0]
	for _, id := range r.pendingList {
		if p, ok := r.pending[id]; ok {
			if p.forwarded {
				p.forwarded = false
				r.pending[id] = p
			}
			r.held = append(r.held, id)
		}
	}
}

// Tick implements paxos.Replica.
func (r *Replica) Tick() {
	r.ticks++
	if r.rb != nil {
		r.rebuildTick()
		return
	}
	switch r.role {
	case leader:
		r.hbElapsed++
		if r.hbElapsed >= r.cfg.HeartbeatTicks {
			r.hbElapsed = 0
			r.heartbeat()
		}
		r.retransmit()
		r.choosePhase2()
		r.flush(true)
	case candidate:
		r.electionElapsed++
		if r.electionElapsed >= r.electionTimeout {
			r.startElection()
		} else if r.ticks-r.prepareAt >= uint64(r.cfg.RetryTicks) {
			r.prepareAt = r.ticks
			p := Prepare{Ballot: r.ballot, Commit: r.executed}
			for _, id := range r.others {
				if !r.promises.Has(int(id)) {
					r.send(id, p)
				}
			}
		}
	case follower:
		r.electionElapsed++
		if r.electionElapsed >= r.electionTimeout && !r.leaseHeld() {
			r.startElection()
		}
		r.resendPending()
	}
}

// Ready implements paxos.Replica.
func (r *Replica) Ready() paxos.Ready {
	r.pump()
	r.flush(false)
	rd := r.rd
	r.rd = paxos.Ready{}
	return rd
}

// Step implements paxos.Replica. A refused message (an error wrapping
// paxos.ErrMalformed) is counted under paxos.CoverageRefused.
func (r *Replica) Step(msg paxos.Message) error {
	err := r.step(msg)
	if err != nil {
		r.cov.refused++
	}
	return err
}

func (r *Replica) step(msg paxos.Message) error {
	if msg.To != r.me {
		return fmt.Errorf("%w: addressed to %d, this is replica %d", paxos.ErrMalformed, msg.To, r.me)
	}
	if msg.From < 0 || int(msg.From) >= r.n || msg.From == r.me {
		return fmt.Errorf("%w: sender %d is not another replica of 0..%d", paxos.ErrMalformed, msg.From, r.n-1)
	}
	from := msg.From
	if err := r.checkBallots(from, msg.Body); err != nil {
		return err
	}
	r.heard[from] = r.ticks
	if handled, err := r.rebuildStep(from, msg.Body); handled {
		return err
	}
	switch m := msg.Body.(type) {
	case Prepare:
		return r.onPrepare(from, m)
	case Promise:
		return r.onPromise(from, m)
	case Accept:
		return r.onAccept(from, m)
	case Accepted:
		r.onAccepted(from, m)
	case Commit:
		return r.onCommit(from, m)
	case Chosen:
		return r.onChosen(from, m)
	case Nack:
		r.onNack(m)
	case Heartbeat:
		return r.onHeartbeat(from, m)
	case HeartbeatReply:
		r.onHeartbeatReply(from, m)
	case Forward:
		return r.onForward(from, m)
	case CatchUp:
		return r.onCatchUp(from, m)
	case InstallSnapshot:
		r.onInstallSnapshot(from, m)
	default:
		return fmt.Errorf("%w: unexpected body %T from %d", paxos.ErrMalformed, msg.Body, from)
	}
	return nil
}

// ahead is how far beyond its execution point this replica stores a slot.
// A leader keeps at most Window slots in flight past its own execution
// point, a new leader takes over what its phase-1 quorum holds (at most a
// snapshot interval and a window past the snapshot it may install), and a
// catch-up answer carries maxCatchUp slots; the bound is twice the sum. A
// message naming a slot further ahead is refused as malformed before
// anything is allocated for it: a correct follower that far behind first
// catches up through the leader's CatchUp and InstallSnapshot, which the
// heartbeat replies trigger.
func (r *Replica) ahead() uint64 {
	return 4*uint64(r.cfg.Window) + 2*r.every + 2*maxCatchUp
}

// horizon is the highest slot this replica stores a value for.
func (r *Replica) horizon() uint64 {
	h := r.executed + r.ahead()
	if h < r.executed {
		return ^uint64(0)
	}
	return h
}

func (r *Replica) checkSlot(slot uint64, cmds []paxos.Command) error {
	if slot == 0 {
		return fmt.Errorf("%w: slot 0 (slots start at 1)", paxos.ErrMalformed)
	}
	if slot > r.horizon() {
		return fmt.Errorf("%w: slot %d is more than %d slots beyond execution point %d (Config.Window=%d); a replica that far behind catches up first",
			paxos.ErrMalformed, slot, r.ahead(), r.executed, r.cfg.Window)
	}
	if len(cmds) == 0 {
		return fmt.Errorf("%w: slot %d carries no command", paxos.ErrMalformed, slot)
	}
	if len(cmds) > r.cfg.Batch {
		return fmt.Errorf("%w: %d commands for slot %d, more than Config.Batch=%d; every replica must run with the same Batch", paxos.ErrMalformed, len(cmds), slot, r.cfg.Batch)
	}
	return nil
}

// checkBallot refuses a ballot naming no replica of the cluster, or a
// round no correct replica reaches (see paxos.MaxRound).
func (r *Replica) checkBallot(b Ballot) error {
	if b.Node < 0 || int(b.Node) >= r.n || b.Round > paxos.MaxRound {
		return fmt.Errorf("%w: ballot %v names replica %d of 0..%d or a round above %d", paxos.ErrMalformed, b, b.Node, r.n-1, uint64(paxos.MaxRound))
	}
	return nil
}

// maxSlotNumber bounds the slot numbers a peer may report beyond this
// replica's window: a snapshot's index (a snapshot may be far ahead of this
// replica, that is what it is for) and a candidate's commit point. No run
// executes 2^62 slots, and beyond that slot arithmetic would overflow.
const maxSlotNumber = 1 << 62

func checkSnapshot(s Snapshot) error {
	if s.Index > maxSlotNumber {
		return fmt.Errorf("%w: snapshot at slot %d, above %d", paxos.ErrMalformed, s.Index, uint64(maxSlotNumber))
	}
	return nil
}

// checkBallots validates every ballot a message carries, and the sizes of
// its lists, before any handler looks at it.
func (r *Replica) checkBallots(from paxos.NodeID, body any) error {
	var bs []Ballot
	switch m := body.(type) {
	case Prepare:
		if m.Commit > maxSlotNumber {
			return fmt.Errorf("%w: prepare with commit point %d, above %d", paxos.ErrMalformed, m.Commit, uint64(maxSlotNumber))
		}
		bs = []Ballot{m.Ballot}
	case Promise:
		if m.Snapshot != nil {
			if err := checkSnapshot(*m.Snapshot); err != nil {
				return err
			}
		}
		if len(m.Entries) > 2*int(min(r.ahead(), 1<<30)) {
			return fmt.Errorf("%w: promise with %d entries, more than a window holds", paxos.ErrMalformed, len(m.Entries))
		}
		bs = []Ballot{m.Ballot}
		for _, e := range m.Entries {
			bs = append(bs, e.Ballot)
		}
	case Accept:
		bs = []Ballot{m.Ballot}
	case Accepted:
		bs = []Ballot{m.Ballot}
	case Commit:
		if m.Ballot.Node != from {
			return fmt.Errorf("%w: commit for ballot %v sent by %d, not by that ballot's leader", paxos.ErrMalformed, m.Ballot, from)
		}
		bs = []Ballot{m.Ballot}
	case Chosen:
		if m.Ballot.Node != from {
			return fmt.Errorf("%w: commit for ballot %v sent by %d, not by that ballot's leader", paxos.ErrMalformed, m.Ballot, from)
		}
		bs = []Ballot{m.Ballot}
	case Nack:
		bs = []Ballot{m.Promised}
	case Heartbeat:
		bs = []Ballot{m.Ballot}
	case HeartbeatReply:
		if m.Tick > r.ticks {
			return fmt.Errorf("%w: heartbeat reply echoes tick %d, this replica is at tick %d", paxos.ErrMalformed, m.Tick, r.ticks)
		}
		bs = []Ballot{m.Ballot}
	case Forward:
		if len(m.Cmds) > r.fwdCap {
			return fmt.Errorf("%w: forward of %d commands, more than max(Window, Batch)=%d", paxos.ErrMalformed, len(m.Cmds), r.fwdCap)
		}
	case CatchUp:
		if m.Ballot.Node != from {
			return fmt.Errorf("%w: catch-up for ballot %v sent by %d, not by that ballot's leader", paxos.ErrMalformed, m.Ballot, from)
		}
		if len(m.Entries) > maxCatchUp {
			return fmt.Errorf("%w: catch-up with %d entries, at most %d", paxos.ErrMalformed, len(m.Entries), maxCatchUp)
		}
		bs = []Ballot{m.Ballot}
		for _, e := range m.Entries {
			bs = append(bs, e.Ballot)
		}
	case InstallSnapshot:
		if m.Ballot.Node != from {
			return fmt.Errorf("%w: snapshot for ballot %v sent by %d, not by that ballot's leader", paxos.ErrMalformed, m.Ballot, from)
		}
		if err := checkSnapshot(m.Snapshot); err != nil {
			return err
		}
		bs = []Ballot{m.Ballot}
	case RebuildInfo:
		bs = []Ballot{m.Promised}
	}
	for _, b := range bs {
		if err := r.checkBallot(b); err != nil {
			return err
		}
	}
	return nil
}

// ---- elections ----

func (r *Replica) startElection() {
	r.cov.elections++
	round := max(r.promised.Round, r.maxSeen.Round) + 1
	b := Ballot{Round: round, Node: r.me}
	r.role, r.ballot, r.leader = candidate, b, -1
	r.promise(b)
	r.promises = quorum.Of(int(r.me))
	r.p1 = map[uint64]Entry{}
	r.p1Max = 0
	r.prepareAt = r.ticks
	r.resetElectionTimer()
	r.broadcast(Prepare{Ballot: b, Commit: r.executed})
	if r.q.IsPhase1(r.promises) {
		r.becomeLeader()
	}
}

func (r *Replica) stepDown() {
	r.role = follower
	r.waiting = nil
	r.p1 = nil
	r.resetElectionTimer()
}

// observe handles a message at ballot b >= promised from b's leader.
func (r *Replica) observe(b Ballot) {
	r.promise(b)
	if r.role != follower && b != r.ballot {
		r.stepDown()
	}
	if r.role != follower {
		return
	}
	r.electionElapsed = 0
	if r.cfg.LeaseTicks > 0 {
		r.leaseHolder = b.Node
		r.leaseUntil = r.ticks + uint64(r.cfg.LeaseTicks)
	}
	if r.leader != b.Node {
		r.leader = b.Node
		r.reforward()
	}
}

func (r *Replica) onPrepare(from paxos.NodeID, m Prepare) error {
	if m.Ballot.Node != from {
		return fmt.Errorf("%w: prepare for ballot %v sent by %d", paxos.ErrMalformed, m.Ballot, from)
	}
	if m.Ballot.Less(r.promised) {
		r.send(from, Nack{Promised: r.promised})
		return nil
	}
	if r.leaseHeld() && r.leaseHolder != from {
		return nil // promised the lease holder not to elect anyone else yet
	}
	if r.promised.Less(m.Ballot) {
		r.promise(m.Ballot)
		if r.role != follower {
			r.stepDown()
		}
		r.leader = -1
		r.resetElectionTimer()
	}
	from0 := max(m.Commit, r.base)
	p := Promise{Ballot: m.Ballot}
	if r.base > m.Commit {
		s := r.snap
		p.Snapshot = &s
	}
	for s := from0 + 1; from0 < r.lastSlot() && s <= r.lastSlot(); s++ {
		e := r.at(s)
		if e.cmds != nil {
			p.Entries = append(p.Entries, Entry{Slot: s, Ballot: e.ballot, Cmds: e.cmds, Committed: e.committed})
		}
	}
	r.send(from, p)
	return nil
}

func (r *Replica) onPromise(from paxos.NodeID, m Promise) error {
	for _, e := range m.Entries {
		if err := r.checkSlot(e.Slot, e.Cmds); err != nil {
			return err
		}
	}
	if r.role != candidate || m.Ballot != r.ballot {
		return nil
	}
	if m.Snapshot != nil && m.Snapshot.Index > r.executed {
		r.installSnapshot(*m.Snapshot)
	}
	for _, e := range m.Entries {
		r.mergeP1(e)
	}
	r.promises = r.promises.Add(int(from))
	if r.q.IsPhase1(r.promises) {
		r.becomeLeader()
	}
	return nil
}

func better(a, b Entry) bool {
	if a.Committed != b.Committed {
		return a.Committed
	}
	return b.Ballot.Less(a.Ballot)
}

func (r *Replica) mergeP1(e Entry) {
	if e.Slot <= r.executed {
		return
	}
	if cur, ok := r.p1[e.Slot]; !ok || better(e, cur) && (e.Committed || !r.bug.adoptFirstValue) {
		r.p1[e.Slot] = e
	}
	r.p1Max = max(r.p1Max, e.Slot)
}

var nop = []paxos.Command{{Op: paxos.OpNop}}

func (r *Replica) becomeLeader() {
	r.cov.phase1Rounds++
	r.role, r.leader = leader, r.me
	for s := r.executed + 1; s <= r.lastSlot(); s++ {
		if e := r.at(s); e.cmds != nil {
			r.mergeP1(Entry{Slot: s, Ballot: e.ballot, Cmds: e.cmds, Committed: e.committed})
		}
	}
	last := max(r.p1Max, r.lastSlot(), r.executed)
	for i := range r.leaseAck {
		r.leaseAck[i], r.catchAt[i], r.heard[i], r.resentAt[i] = 0, 0, r.ticks, 0
	}
	r.next, r.recovered = last+1, last
	for s := r.executed + 1; s <= last; s++ {
		if s <= r.executed {
			continue // executed meanwhile (learning a slot executed those after it)
		}
		e := r.ensure(s)
		best, ok := r.p1[s]
		switch {
		case e.committed:
			r.broadcast(Commit{Ballot: r.ballot, Slot: s, Cmds: e.cmds})
		case ok && best.Committed:
			r.learn(s, best.Cmds, r.ballot, true)
		case ok:
			r.cov.taken++
			r.proposeSlot(s, best.Cmds)
		default:
			r.cov.nopFills++
			r.proposeSlot(s, nop)
		}
	}
	r.p1 = nil
	r.hbElapsed = 0
	r.heartbeat()
	// Serve what was proposed here while we were not leading, then what
	// was forwarded to us during the election.
	queued := r.waiting
	r.waiting = nil
	r.unforward()
	r.held = r.held[:0]
	for _, id := range r.pendingList {
		if p, ok := r.pending[id]; ok {
			r.waiting = append(r.waiting, p.cmd)
		}
	}
	for _, c := range queued {
		if _, mine := r.pending[c.ID()]; !mine || c.Client == 0 {
			r.waiting = append(r.waiting, c)
		}
	}
	r.executeReady()
}

// ---- phase 2 ----

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
		for _, c := range r.waiting[i : i+k] {
			if c.Client != 0 && !c.IsNop() {
				if _, done := r.store.Executed(c); done {
					continue
				}
			}
			cmds = append(cmds, c)
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
	e.ballot, e.cmds, e.acks, e.sentAt = r.ballot, cmds, quorum.Of(int(r.me)), r.ticks
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
		if e == nil || e.committed || r.ticks-e.sentAt < uint64(r.cfg.RetryTicks) {
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
			}
		}
	}
	for _, id := range r.others {
		if resent.Has(int(id)) {
			r.resentAt[id] = r.ticks
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
		r.send(from, Nack{Promised: r.promised})
		return nil
	}
	r.observe(m.Ballot)
	if m.Slot > r.executed {
		e := r.ensure(m.Slot)
		if !e.committed {
			e.ballot, e.cmds = m.Ballot, m.Cmds
			if !r.bug.noPersistAccept {
				r.persist(AcceptRecord{Slot: m.Slot, Ballot: m.Ballot, Cmds: m.Cmds})
			}
		}
	}
	r.send(from, Accepted{Ballot: m.Ballot, Slot: m.Slot})
	return nil
}

func (r *Replica) onAccepted(from paxos.NodeID, m Accepted) {
	if r.role != leader || m.Ballot != r.ballot {
		return
	}
	e := r.at(m.Slot)
	if e == nil || e.committed || e.ballot != r.ballot {
		return
	}
	e.acks = e.acks.Add(int(from))
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
	var acked quorum.Set // replicas known to hold cmds at b (see Chosen)
	if e.ballot == b && r.role == leader && b == r.ballot {
		acked = e.acks
	}
	e.committed, e.cmds, e.ballot = true, cmds, b
	r.rd.Decided = append(r.rd.Decided, paxos.Decision{Instance: paxos.Instance{Replica: 0, Slot: s}, Commands: cmds})
	if len(r.pending) > 0 {
		r.rd.Committed = slices.Grow(r.rd.Committed, len(cmds))
	}
	for _, c := range cmds {
		if p, ok := r.pending[c.ID()]; ok && !p.committed && c.Client != 0 {
			p.committed = true
			r.pending[c.ID()] = p
			r.rd.Committed = append(r.rd.Committed, paxos.Commit{ID: c.ID(), Path: paxos.PathClassic})
		}
	}
	if announce && r.role == leader {
		// A short commit to each replica that acknowledged the value;
		// the commands only to the others.
		for _, id := range r.others {
			if acked.Has(int(id)) {
				r.send(id, Chosen{Ballot: r.ballot, Slot: s})
			} else {
				r.send(id, Commit{Ballot: r.ballot, Slot: s, Cmds: cmds})
			}
		}
	}
	r.executeReady()
}

func (r *Replica) onCommit(from paxos.NodeID, m Commit) error {
	if err := r.checkSlot(m.Slot, m.Cmds); err != nil {
		return err
	}
	if m.Ballot.Less(r.promised) {
		r.send(from, Nack{Promised: r.promised})
		return nil
	}
	r.observe(m.Ballot)
	r.learn(m.Slot, r.commitValue(m.Slot, m.Cmds), m.Ballot, false)
	return nil
}

// onChosen handles a short commit: the value is the one this replica
// accepted at m.Ballot. A replica that no longer holds it (it lost its disk
// since) ignores the message; a catch-up brings the value.
func (r *Replica) onChosen(from paxos.NodeID, m Chosen) error {
	if err := r.checkSlot(m.Slot, nop); err != nil { // nop: no commands to check
		return err
	}
	if m.Ballot.Less(r.promised) {
		r.send(from, Nack{Promised: r.promised})
		return nil
	}
	r.observe(m.Ballot)
	if e := r.at(m.Slot); e != nil && e.cmds != nil && e.ballot == m.Ballot {
		r.learn(m.Slot, e.cmds, m.Ballot, false)
	}
	return nil
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
	for {
		e := r.at(r.executed + 1)
		if e == nil || !e.committed {
			break
		}
		r.executed++
		r.rd.Executed = slices.Grow(r.rd.Executed, len(e.cmds))
		for _, c := range e.cmds {
			r.rd.Executed = append(r.rd.Executed, r.store.Apply(c))
			r.sinceSnap++
			if c.Client != 0 && len(r.pending) > 0 {
				r.dropPending(c.ID())
			}
		}
	}
	if len(r.pendingList) > 2*len(r.pending)+16 {
		r.compactPending()
	}
	if r.every > 0 && r.executed-r.snap.Index >= r.every && r.sinceSnap >= r.store.Len() {
		r.takeSnapshot()
	}
}

// dropPending forgets proposal id (executed here), returning its forwarding
// credit.
func (r *Replica) dropPending(id paxos.CommandID) {
	if p, ok := r.pending[id]; ok {
		if p.forwarded {
			r.fwd--
		}
		delete(r.pending, id)
	}
}

func (r *Replica) compactPending() {
	out := r.pendingList[:0]
	for _, id := range r.pendingList {
		if _, ok := r.pending[id]; ok {
			out = append(out, id)
		}
	}
	r.pendingList = out
}

// ---- heartbeats, catch-up, forwarding ----

func (r *Replica) heartbeat() {
	r.broadcast(Heartbeat{Ballot: r.ballot, Commit: r.executed, Tick: r.ticks})
}

func (r *Replica) onHeartbeat(from paxos.NodeID, m Heartbeat) error {
	if m.Ballot.Node != from {
		return fmt.Errorf("%w: heartbeat for ballot %v sent by %d", paxos.ErrMalformed, m.Ballot, from)
	}
	if m.Ballot.Less(r.promised) {
		r.send(from, Nack{Promised: r.promised})
		return nil
	}
	r.observe(m.Ballot)
	r.send(from, HeartbeatReply{Ballot: m.Ballot, Executed: r.executed, Commit: m.Commit, Tick: m.Tick})
	return nil
}

func (r *Replica) onHeartbeatReply(from paxos.NodeID, m HeartbeatReply) {
	if r.role != leader || m.Ballot != r.ballot {
		return
	}
	r.leaseAck[from] = max(r.leaseAck[from], m.Tick+1)
	// Only a replica behind the commit point the heartbeat announced is
	// missing something; one merely behind our current point has Commits
	// in flight.
	if m.Executed < m.Commit && m.Executed < r.executed && (r.catchAt[from] == 0 || r.ticks+1-r.catchAt[from] >= uint64(r.cfg.RetryTicks)) {
		r.catchAt[from] = r.ticks + 1
		r.sendCatchUp(from, m.Executed)
	}
}

func (r *Replica) sendCatchUp(to paxos.NodeID, theirs uint64) {
	r.cov.catchUps++
	if theirs < r.base {
		r.send(to, InstallSnapshot{Ballot: r.ballot, Snapshot: r.snap})
		return
	}
	end := min(r.catchUpEnd(), theirs+maxCatchUp)
	c := CatchUp{Ballot: r.ballot, Entries: make([]Entry, 0, end-theirs)}
	for s := theirs + 1; s <= end; s++ {
		e := r.at(s)
		c.Entries = append(c.Entries, Entry{Slot: s, Ballot: e.ballot, Cmds: e.cmds, Committed: true})
	}
	r.send(to, c)
}

// onCatchUp learns the committed entries of a CatchUp. A stale one is
// answered with a Nack to its sender (the leader whose ballot it carries;
// never to the ballot's node, which a forged message could make this
// replica itself).
func (r *Replica) onCatchUp(from paxos.NodeID, m CatchUp) error {
	for _, e := range m.Entries {
		if err := r.checkSlot(e.Slot, e.Cmds); err != nil {
			return err
		}
	}
	if m.Ballot.Less(r.promised) {
		r.send(from, Nack{Promised: r.promised})
		return nil
	}
	r.observe(m.Ballot)
	for _, e := range m.Entries {
		r.learn(e.Slot, e.Cmds, e.Ballot, false)
	}
	return nil
}

func (r *Replica) onInstallSnapshot(from paxos.NodeID, m InstallSnapshot) {
	if m.Ballot.Less(r.promised) {
		r.send(from, Nack{Promised: r.promised})
		return
	}
	r.observe(m.Ballot)
	r.cov.snapshotInstalls++
	r.installSnapshot(m.Snapshot)
}

func (r *Replica) onForward(from paxos.NodeID, m Forward) error {
	if len(m.Cmds) == 0 {
		return fmt.Errorf("%w: empty forward from %d", paxos.ErrMalformed, from)
	}
	switch {
	case r.role != follower:
		r.waiting = append(r.waiting, m.Cmds...)
	case r.leader >= 0 && r.leader != r.me && r.leader != from:
		r.send(r.leader, m)
	}
	return nil
}

// reforward sends the pending proposals to the (new) leader, within the
// forwarding credit.
func (r *Replica) reforward() {
	r.unforward()
	r.pump()
}

// resendPending re-forwards proposals that did not execute in time.
func (r *Replica) resendPending() {
	if r.leader < 0 || r.leader == r.me {
		return
	}
	var cmds []paxos.Command
	for _, id := range r.pendingList {
		if p, ok := r.pending[id]; ok && p.forwarded && r.ticks-p.sentAt >= r.resend {
			p.sentAt = r.ticks
			r.pending[id] = p
			cmds = append(cmds, p.cmd)
		}
	}
	if len(cmds) > 0 {
		r.send(r.leader, Forward{Cmds: cmds})
	}
}

// ---- leases ----

// canReadLocally reports whether a Get proposed here may be answered from
// local state: this replica leads, has executed every slot it took over in
// phase 1, and a phase-2 quorum (itself included) acknowledged a heartbeat
// recently enough that none of them will promise another leader yet.
func (r *Replica) canReadLocally() bool {
	if r.bug.leaseNeverExpires && r.everLeased {
		return true
	}
	if r.cfg.LeaseTicks <= 0 || r.role != leader || r.executed < r.recovered {
		return false
	}
	set := quorum.Of(int(r.me))
	if r.q.IsPhase2(set) {
		return true
	}
	// Find the latest send tick x such that the replicas that acknowledged
	// a heartbeat sent at or after x form a phase-2 quorum with us.
	for {
		best := uint64(0)
		for _, id := range r.others {
			if a := r.leaseAck[id]; a > 0 && !set.Has(int(id)) && a > best {
				best = a
			}
		}
		if best == 0 {
			return false
		}
		for _, id := range r.others {
			if r.leaseAck[id] == best {
				set = set.Add(int(id))
			}
		}
		if r.q.IsPhase2(set) {
			sent := best - 1
			held := r.ticks-sent < uint64(r.cfg.LeaseTicks-LeaseMargin)
			r.everLeased = r.everLeased || held
			return held || r.bug.leaseNeverExpires
		}
	}
}

// ---- snapshots and restore ----

func (r *Replica) record() SnapshotRecord {
	rec := SnapshotRecord{Promised: r.promised, Snapshot: r.snap, Rebuilding: r.rb != nil}
	for s := r.snap.Index + 1; s <= r.lastSlot(); s++ {
		if e := r.at(s); e.cmds != nil {
			rec.Entries = append(rec.Entries, Entry{Slot: s, Ballot: e.ballot, Cmds: e.cmds, Committed: e.committed})
		}
	}
	return rec
}

// emitSnapshot replaces every record of this Ready with a snapshot record
// holding all durable state.
func (r *Replica) emitSnapshot() {
	r.rd.Persist = nil
	r.rd.Snapshot = r.record()
}

// truncate drops the log up to slot index (> base).
func (r *Replica) truncate(index uint64) {
	var keep []entry
	if index < r.lastSlot() {
		keep = append(make([]entry, 0, r.lastSlot()-index+64), r.log[index-r.base:]...)
	}
	r.log = keep
	r.base = index
}

// takeSnapshot snapshots the store at the execution point and drops the log
// up to the previous snapshot, keeping one interval for catch-up. A
// snapshot costs time and memory in proportion to the store, so one is
// taken after SnapshotEvery executed slots once at least as many commands
// executed since the last one as the store holds keys: the cost per
// command stays bounded however much the store holds (a store of 1M
// distinct keys is written out once per 1M commands, not once per 10,000).
func (r *Replica) takeSnapshot() {
	if r.snap.Index > r.base {
		r.truncate(r.snap.Index)
	}
	r.snap = Snapshot{Index: r.executed, KV: r.store.Snapshot()}
	r.sinceSnap = 0
	if r.bug.snapshotDropsDedup {
		r.snap.KV.Sessions = nil
	}
	r.emitSnapshot()
}

func (r *Replica) installSnapshot(s Snapshot) {
	if s.Index <= r.executed && !(r.bug.installStaleSnapshot && s.Index >= r.base) {
		return
	}
	store, err := kv.ExecutorFromSnapshot(r.cfg, s.KV)
	if err != nil {
		return // a snapshot this state machine cannot restore: catch up by log instead
	}
	if s.Index < r.lastSlot() {
		r.truncate(s.Index)
	} else {
		r.log, r.base = nil, s.Index
	}
	r.snap = s
	r.store = store
	r.executed = s.Index
	if r.next != 0 && r.next <= s.Index {
		r.next = s.Index + 1
	}
	// Proposals of ours that the snapshot already executed: report their
	// (first) outputs, as a retry would.
	for _, id := range r.pendingList {
		p, ok := r.pending[id]
		if !ok {
			continue
		}
		if ex, done := r.store.Executed(p.cmd); done {
			r.rd.Executed = append(r.rd.Executed, ex)
			r.dropPending(id)
		}
	}
	r.emitSnapshot()
	r.executeReady()
}

func (r *Replica) restore(p *paxos.Persisted, rebuilding, rebuilt *bool) error {
	if p.Snapshot != nil {
		rec, ok := p.Snapshot.(SnapshotRecord)
		if !ok {
			return fmt.Errorf("multi: restore: snapshot is %T, want multi.SnapshotRecord; was it written by another protocol?", p.Snapshot)
		}
		if err := r.applyRecord(rec); err != nil {
			return err
		}
		*rebuilding = rec.Rebuilding
	}
	for i, rec := range p.Records {
		switch v := rec.(type) {
		case PromiseRecord:
			if r.promised.Less(v.Ballot) {
				r.promised = v.Ballot
			}
		case AcceptRecord:
			if v.Slot == 0 || len(v.Cmds) == 0 {
				return fmt.Errorf("multi: restore: record %d: accept record for slot %d with %d commands is corrupt", i, v.Slot, len(v.Cmds))
			}
			if v.Slot > r.base {
				e := r.ensure(v.Slot)
				if !e.committed && !v.Ballot.Less(e.ballot) {
					e.ballot, e.cmds = v.Ballot, v.Cmds
				}
			}
		case SnapshotRecord:
			if err := r.applyRecord(v); err != nil {
				return err
			}
			*rebuilding = v.Rebuilding
		case RebuildRecord:
			*rebuilding, *rebuilt = !v.Done, v.Done
		default:
			return fmt.Errorf("multi: restore: record %d is %T, not a multi record; was it written by another protocol?", i, rec)
		}
	}
	r.maxSeen = r.promised
	r.executeReady()
	return nil
}

func (r *Replica) applyRecord(rec SnapshotRecord) error {
	if r.promised.Less(rec.Promised) {
		r.promised = rec.Promised
	}
	r.snap = rec.Snapshot
	store, err := kv.ExecutorFromSnapshot(r.cfg, rec.Snapshot.KV)
	if err != nil {
		return fmt.Errorf("multi: restore: %w", err)
	}
	r.store = store
	r.executed = rec.Snapshot.Index
	r.log, r.base = nil, rec.Snapshot.Index
	for _, e := range rec.Entries {
		if e.Slot <= r.snap.Index || len(e.Cmds) == 0 {
			continue
		}
		x := r.ensure(e.Slot)
		x.ballot, x.cmds, x.committed = e.Ballot, e.Cmds, e.Committed
	}
	return nil
}
