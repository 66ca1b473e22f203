package multi

import (
	"fmt"
	"math/rand/v2"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/nackcap"
	"github.com/paxos-lab/paxos/internal/planted"
	"github.com/paxos-lab/paxos/internal/readypool"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/quorum"
)

// DefaultSnapshotEvery is the snapshot interval, in executed slots, used when
// Config.SnapshotEvery is 0.
const DefaultSnapshotEvery = 1000

// LeaseMargin is the safety margin, in ticks, by which a leader's view of its
// lease is shorter than the followers' promise. One tick covers the unknown
// phase between two replicas' tick sources; the second covers clock drift
// (tick rates within a factor (LeaseTicks-1)/(LeaseTicks-2) of each other;
// see the package doc).
const LeaseMargin = 2

// noReply marks a replica from which the leader has had no heartbeat reply
// at its ballot (see onHeartbeatReply).
const noReply = ^uint64(0)

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
	sent      quorum.Set // leader: replicas sent the Accept at the current ballot
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
	spares     readypool.Spares // lists of Readies carried out (RecycleReady), reused
	id         paxos.NodeID
	n          int
	others     []paxos.NodeID // every other replica, by id
	p2         quorum.Set     // phase-2 targets (including me)
	near       []paxos.NodeID // other replicas, nearest first
	every      uint64         // snapshot interval; 0 = never
	resend     uint64         // ticks before a follower re-forwards a proposal

	now      uint64
	role     role
	promised Ballot
	maxSeen  Ballot
	ballot   Ballot       // own ballot while candidate or leader
	leader   paxos.NodeID // known leader, -1 when unknown

	electionElapsed int
	electionTimeout int
	hbElapsed       int
	// announced is the commit point the last heartbeat saw; the next
	// heartbeat carries it (see heartbeat).
	announced uint64

	// leases (follower side)
	leaseHolder paxos.NodeID
	leaseUntil  uint64

	// log
	snap      Snapshot // the latest snapshot's index only (KV empty; see emitSnapshot)
	sinceSnap int      // commands executed since the latest snapshot (see takeSnapshot)
	snapKeys  int      // keys the store held at the latest snapshot taken here
	snapDelay uint64   // slots the first routine snapshot waits past every (paxos.Config.SnapshotDelay)
	base      uint64   // the log starts after this slot (<= executed; see trim)
	log       []entry  // log[i] holds slot base+1+i
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
	ackedSlot []uint64 // highest slot each replica acknowledged at this ballot (see learn)
	resentAt  []uint64 // tick of the last retransmission of Accepts to each replica
	catchAt   []uint64 // tick of the last catch-up sent to each replica
	replyExec []uint64 // execution point of each replica's last heartbeat reply (noReply: none yet)
	heard     []uint64 // tick we last heard from each replica

	// refusals: the Nacks sent to each replica this tick, by promise (see nack)
	nacks nackcap.Cap[Ballot]

	// proposals made here and not yet executed here, in proposal order
	pending pendingProposals

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
	// Only a planted bug's system (internal/planted, out of users' reach)
	// skips the intersection check.
	if !planted.Is(q) {
		if err := CheckQuorums(q); err != nil {
			return nil, err
		}
	}
	r := &Replica{
		cfg:         cfg,
		q:           q,
		thrifty:     opt.Thrifty,
		rng:         cfg.Rand(),
		id:          cfg.ID,
		n:           cfg.N,
		leader:      -1,
		leaseHolder: -1,
		store:       kv.NewExecutor(cfg),
		pending:     newPendingProposals(),
		leaseAck:    make([]uint64, cfg.N),
		ackedSlot:   make([]uint64, cfg.N),
		resentAt:    make([]uint64, cfg.N),
		catchAt:     make([]uint64, cfg.N),
		replyExec:   make([]uint64, cfg.N),
		heard:       make([]uint64, cfg.N),
		nacks:       nackcap.New[Ballot](cfg.N),
	}
	r.near = cfg.Nearest()
	for i := range r.replyExec {
		r.replyExec[i] = noReply
	}
	for i := 0; i < cfg.N; i++ {
		if paxos.NodeID(i) != r.id {
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
	r.snapDelay = uint64(cfg.SnapshotDelay(int(r.every)))
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
		if r.id == cfg.InitialLeader {
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
	pref = append(pref, int(r.id))
	var late []int
	for _, id := range r.near {
		if r.role == leader && r.now-r.heard[id] > uint64(r.cfg.ElectionTicks) {
			late = append(late, int(id))
		} else {
			pref = append(pref, int(id))
		}
	}
	r.p2 = r.q.ChoosePhase2(append(pref, late...))
}

// ID implements paxos.Replica.
func (r *Replica) ID() paxos.NodeID { return r.id }

// Leader returns the leader this replica knows of, or -1.
func (r *Replica) Leader() paxos.NodeID { return r.leader }

// IsLeader reports whether this replica leads (phase 1 complete).
func (r *Replica) IsLeader() bool { return r.role == leader }

// Ballot returns the highest ballot this replica has promised.
func (r *Replica) Ballot() Ballot { return r.promised }

// Executed returns the highest slot executed here.
func (r *Replica) Executed() uint64 { return r.executed }

// ExecutedPrefix implements paxos.Converger: the highest slot executed here.
func (r *Replica) ExecutedPrefix() uint64 { return r.executed }

// LogLen returns the number of log entries retained in memory: the slots
// above the execution point up to the highest one known here, and at most
// SnapshotEvery executed slots below it (all of them when snapshots are
// off), so that replicas lagging by less than that catch up from the log
// rather than by snapshot (see trim).
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
	r.rd.Messages = append(r.rd.Messages, paxos.Message{From: r.id, To: to, Body: body})
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
	return r.cfg.LeaseTicks > 0 && r.now < r.leaseUntil
}
