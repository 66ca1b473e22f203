// Package epaxos implements Egalitarian Paxos (Moraru, Andersen, Kaminsky,
// SOSP 2013; proof and recovery in CMU-PDL-13-111): leaderless consensus in
// which every replica is the command leader of the commands proposed to it.
//
// An instance (replica, slot) carries a batch of commands with two ordering
// attributes: seq and deps (Deps[r] = highest slot of replica r holding an
// interfering command, 0 = none). A per-key index yields the attributes
// without scanning the log. The command leader pre-accepts at its initial
// ballot; when a fast quorum of F+floor((F+1)/2) replicas (counting itself)
// all pre-accept the leader's original attributes unchanged, the instance
// commits in one round trip (fast path). Otherwise the union of the replies
// is accepted by F+1 replicas and then committed (slow path). Commits are
// broadcast at once. With N = 3 and Thrifty, a leader whose PreAccept went
// to its nearest replica only commits that replica's answer, changed or
// not, after the one round (as the published implementation does); rule 3a
// of recovery makes that safe.
//
// Recovery (explicit prepare) runs when an instance stays uncommitted: it
// follows the paper's case analysis with TryPreAccept for the optimized fast
// quorum, keeps every instance's promised ballot apart from the ballot of its
// last vote (Sutra, 2019), and commits a Nop when no replica knows the
// command. See recovery.go for the exact rules and the argument for them.
//
// Execution runs Tarjan's algorithm over committed instances each time the
// replica is stepped, executes strongly connected components in dependency
// order with members ordered by (seq, replica, slot), never waits (an
// uncommitted dependency is recovered after a timeout) and applies the EPaxos
// Revisited rule: a dependency W that also depends on V and is ordered after
// V by (seq, replica, slot) is not waited for when executing V.
//
// Instances executed at every replica are garbage-collected using executed
// watermarks that replicas exchange periodically. A replica whose watermark
// for some replica's instances stalls is sent the commits it is missing.
//
// Every replica recovers any instance it knows of (or that a dependency
// names) once it has stayed uncommitted for 10-20 RetryTicks, backing off
// exponentially, and longer when queueing slows commits down (see
// recoveryDelay).
//
// Rebuilding after a lost disk. A replica W started with Config.Rebuild
// has lost its durable state. Before the loss it may have pre-accepted or
// accepted instances (votes that a recovery counts: a fast-quorum
// pre-accept with the leader's original attributes, an accepted value and
// its ballot), promised recovery ballots, and led instances of its own at
// slots it no longer knows. A vote or promise matters only while its
// instance is uncommitted: a committed decision is final, and a recovery
// that meets a replica knowing the commit adopts it. So W sends no
// PreAccept, Accept, Prepare or TryPreAccept reply and leads nothing (no
// command, no recovery) until every instance it may have voted on is
// committed and known to it. It asks its peers (RebuildQuery) for the
// highest slot they know of each replica and for the committed part of one
// peer's state (store, dependency index, committed instances; the peer's
// votes are not W's), until the peers that answered, none of them
// rebuilding, are at least N-F (so every slow quorum, and every fast
// quorum, has a member among them besides W). Let H[q] be the highest slot
// of replica q they reported. A vote of W that a commit or a recovery could
// count belongs to an instance the rest of whose quorum meets those peers,
// so its slot is at most H[q]; and every instance W led that was committed,
// or that an answering peer holds, is at most H[W] (one W led that reached
// only peers that did not answer is not: see rebuild.go). W then asks for the commits of every instance
// up to H that it does not hold committed (peers recover the undecided ones
// as usual), and once it holds them all it persists a snapshot with its slot
// counter past H[W] and RebuildRecord{Done: true}, and votes and leads
// again, except that it never casts a fast-path vote again (it lost the
// memory of its own commands that recovery rule 4a relies on; see
// rebuild.go). Peers that get W's query forget W's execution watermark, so that
// garbage collection keeps what W still needs. A crash mid-rebuild restarts
// the rebuild (RebuildRecord{}, SnapshotRecord.Rebuilding). Assumptions: at
// most F replicas are crashed or rebuilding at once (otherwise W waits);
// and, as for Multi-Paxos, votes are taken at the moment the peers answered:
// a PreAccept or Accept sent before the loss and delivered to the rest of
// its quorum only after they answered escapes the bound (see rebuild.go).
//
// Load. A command leader keeps at most Config.Window of its own instances
// uncommitted; further proposals wait locally (so that under overload
// latency grows in that queue instead of in every replica's message queue,
// where it would trip timeouts). With Config.Batch > 1, proposals arriving
// while the leader has an instance in flight wait for a full batch, for the
// next Tick at the latest; with nothing in flight they go out at once. A
// round that waits a retry period is resent to a replica only on evidence
// that a message was lost (the replica answered a round started later, or
// has been silent since), and to every replica that has not answered after
// resendAfter retry periods; Thrifty rounds widen to the replicas left out
// only on such evidence. Stats counts resends and widenings.
//
// Known limitations, stated plainly:
//
//   - TryPreAccept deferral. When TryPreAccept is refused because of an
//     uncommitted conflicting instance, this recovery attempt is abandoned
//     (Stats.Deferred), the conflicting instance is recovered first, and
//     the attempt retried later. Instances whose leaders are down and that
//     block one another's TryPreAccepts are resolved by rule 4a in
//     recovery.go: a replica whose own instance, held somewhere with its
//     original attributes, leaves the recovered instance out cannot have
//     been in that instance's fast quorum. The technical report keeps such
//     "possible quorum" bookkeeping for deferred recoveries; we could not
//     read its text, so 4a is our restatement of the part we can prove, with
//     the evidence coming from the recoverer's own state or from the
//     refusing replica (TryPreAcceptReply.LeaderOut). Its completeness is
//     shown by testing, not proven: TestRecoveryLiveAfterCrashStop stops F
//     replicas for good after random schedules with heavy conflicts and
//     requires the survivors to decide everything (500 schedules per size
//     in the suite, tens of thousands while developing, none stuck; with
//     4a turned off it fails at N = 5 within the first 50). A blocker
//     whose leader's original attributes no live replica holds would still
//     wait until enough replicas are back.
//   - TryPreAccept accepts a committed conflicting instance δ that is among
//     the candidate deps even if its seq is not below the candidate seq (the
//     strict rule can block recovery while the missing replicas stay down).
//     Agreement and the dependency invariant are unaffected. The recovered
//     instance can then share a strongly connected component with δ and
//     come first by seq, but only when the two were concurrent: clients
//     are answered at execution, which needs the whole dependency closure
//     committed, so a command that completed before another was proposed
//     never shares a component with it and always executes first. No
//     client-visible real-time violation follows
//     (TestRelaxedTryPreAcceptOrder builds the schedule and explains it).
//   - After a restart, a replica re-executes everything after its latest
//     snapshot, taken after Config.SnapshotEvery executed instances
//     (default 10000) once at least as many commands executed since the
//     previous one as the index holds keys (a snapshot copies the index,
//     so its cost per command stays bounded); the Executed it reports
//     again carry the same outputs.
package epaxos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/quorum"
)

// DefaultSnapshotEvery is how many executed instances pass between
// snapshots when Config.SnapshotEvery is 0.
const DefaultSnapshotEvery = 10000

// Options are construction knobs beyond paxos.Config. The zero value is the
// protocol; its unexported fields plant bugs that must be in place while a
// replica restores (mutants.go). Other planted bugs are in
// mutants_catalog.go.
type Options struct {
	// forgetOverwrittenKeys plants the bug of mutant
	// "epaxos/rule4a-after-restart" (mutants.go): restore rebuilds the
	// per-key index from each instance's latest record only, so keys of
	// commands since replaced by a Nop are forgotten across a restart.
	forgetOverwrittenKeys bool
	// volatilePromise plants the bug of mutant "epaxos/volatile-promise":
	// a ballot seen in a refusal raises the promise in memory only, so a
	// Prepare at that ballot is granted without persisting the promise.
	volatilePromise bool
}

// phase is what a coordinator (command leader or recoverer) is doing.
type phase uint8

const (
	phPreAccept phase = iota + 1
	phAccept
	phPrepare
	phTryPreAccept
)

// instance is one replica's view of one instance.
type instance struct {
	id     paxos.Instance
	cmds   []paxos.Command
	seq    uint64
	deps   []uint64
	status Status
	bal    Ballot // promised (always as persisted)
	seen   Ballot // highest ballot seen in a refusal; volatile, picks the next round
	vbal   Ballot // ballot of the last vote (pre-accept or accept)
	orig   bool   // holds the leader's original initial-ballot attributes

	executed bool
	decided  bool // Decided reported in this incarnation

	nextTry  uint64 // tick at which to start recovery if still uncommitted
	attempts int    // recoveries started here, for backoff

	blockedOn *instance // execution waits for this uncommitted instance

	led   bool   // this replica's own instance, counted in Replica.inflight
	ledAt uint64 // when this replica started leading it

	// outOfFastQuorum holds replicas proven not to have been in the
	// instance's initial-ballot fast quorum (rule 4a in recovery.go),
	// learned from TryPreAccept replies. Facts, so never reset; kept in
	// memory only: forgetting them costs a recovery round, not safety.
	outOfFastQuorum quorum.Set

	co   *coord          // coordinator state when this replica drives the instance
	mine []paxos.Command // commands proposed here riding on this instance
	fast bool            // committed by this replica on the fast path
}

// coord is the state of a replica driving an instance: a command leader's
// PreAccept and Accept rounds, or a recovery.
type coord struct {
	ballot  Ballot
	phase   phase
	started uint64
	widened bool

	cmds     []paxos.Command
	seq      uint64
	deps     []uint64
	origSeq  uint64
	origDeps []uint64

	impatient bool       // waited long: settle for the slow path with F+1 replies
	lastSend  uint64     // when the round was last resent (0: never)
	asked     quorum.Set // replicas the current round was sent to

	replied   quorum.Set // pre-accept or prepare replies (self included)
	unchanged int        // pre-accept replies equal to the original attributes
	oks       quorum.Set // accept or try-pre-accept votes

	prep       map[paxos.NodeID]PrepareReply
	waitedLong bool
	ruledOut   quorum.Set // replicas this recovery ruled out by rule 4a (counted once each)
}

// keyIndex records, for one key, the latest instance of each replica that
// reads or writes it, the highest seq among them, and the latest executed
// ones (which survive garbage collection). Only replicas with a fact about
// the key take room (most keys are touched by one replica): rows lists them
// in no particular order; a replica not listed has every slot 0.
type keyIndex struct {
	writeSeq, readSeq uint64
	rows              []keyRow
}

// keyRow is one replica's facts about one key: its latest slot writing and
// reading it, and its latest executed slots writing and reading it.
type keyRow struct {
	write, read, execWrite, execRead uint64
	replica                          paxos.NodeID
}

// row returns replica q's facts about the key (zero when it has none).
func (ki *keyIndex) row(q paxos.NodeID) keyRow {
	for _, f := range ki.rows {
		if f.replica == q {
			return f
		}
	}
	return keyRow{replica: q}
}

// rowFor returns replica q's facts about the key for updating, adding a
// zero row when it has none.
func (ki *keyIndex) rowFor(q paxos.NodeID) *keyRow {
	for i := range ki.rows {
		if ki.rows[i].replica == q {
			return &ki.rows[i]
		}
	}
	ki.rows = append(ki.rows, keyRow{replica: q})
	return &ki.rows[len(ki.rows)-1]
}

// Replica is an EPaxos replica. It implements paxos.Replica.
type Replica struct {
	cfg       paxos.Config
	opts      Options
	planted   plantedBugs // planted bugs (mutants_catalog.go); zero except in a mutant
	id        paxos.NodeID
	n         int
	fq        int // fast quorum size, leader included
	sq        int // slow (and recovery) quorum size
	rng       *rand.Rand
	nearest   []paxos.NodeID
	snapEvery int

	now uint64

	inst     []map[uint64]*instance
	maxSlot  []uint64
	nextSlot uint64
	execUpTo []uint64
	gcUpTo   []uint64
	peerExec [][]uint64
	// peerStuck[p][q]: when peer p's execution of row q last moved (or was
	// last helped to catch up).
	peerStuck [][]uint64
	sentExec  []uint64

	index       map[string]*keyIndex
	lookupBuf   []*keyIndex // scratch for lookup (conflicts.go)
	store       *kv.Executor
	pendingExec map[paxos.Instance]*instance
	candidates  []*instance               // committed instances to try to execute
	waiters     map[*instance][]*instance // uncommitted instance -> instances blocked on it
	open        [][]uint64                // per replica: known slots not yet executed, sorted (with dead entries)
	openDead    []int                     // executed entries still in open
	uncommitted map[paxos.Instance]*instance
	sinceSnap   int
	// sinceSnapCmds counts commands executed since the latest snapshot. A
	// snapshot copies the index, so one is taken only once at least as many
	// commands executed as the index holds keys: the copying costs at most
	// one key per command, however many keys there are.
	sinceSnapCmds int

	// Per peer: the tick at which its latest message was processed here,
	// and the latest tick at which this replica started a round (PreAccept
	// or Accept) that the peer answered. A peer that answered a round
	// started after our last send of a stalled round has evidently lost our
	// message or its reply (messages are processed in order); otherwise the
	// reply is merely queued, and resending would only add load.
	lastHeard []uint64
	answered  []uint64

	inflight int // own instances led here and not yet committed
	// commitLat is a moving average of the commit latency, in ticks, of
	// this replica's own instances: under load, queueing delays every
	// instance alike, and recovery timeouts stretch accordingly.
	commitLat float64
	batch     []paxos.Command // proposals waiting to be led
	ready     paxos.Ready
	stats     Stats
	rb        *rebuild // rebuilding after a lost disk: no votes (rebuild.go)
	rebuilt   bool     // rebuilt after a lost disk: never casts a fast-path vote (rebuild.go)
}

// Stats counts protocol events at one replica since it started.
type Stats struct {
	FastPath        uint64 // instances this replica committed as leader on the fast path
	SlowPath        uint64 // instances this replica committed as leader or recoverer via Accept
	Recoveries      uint64 // recoveries started here
	TryPreAccepts   uint64 // recoveries here that ran TryPreAccept
	Deferred        uint64 // TryPreAccepts abandoned for a later attempt, blocked by an uncommitted conflicting instance
	Rule3a          uint64 // recoveries here that accepted the sole initial-ballot vote (rule 3a, N = 3)
	Rule4a          uint64 // replicas ruled out of a fast quorum by rule 4a, once per recovery attempt and replica
	RecoveryCommits uint64 // instances decided by a recovery here (through its Accept phase)
	RecoveryNops    uint64 // of those, instances decided as a Nop
	Executed        uint64 // instances executed here
	Resent          uint64 // PreAccept or Accept messages sent again to a replica already asked
	Widened         uint64 // PreAccept or Accept messages sent to a replica left out by Thrifty
	Live            int    // instances held in memory now
	InFlight        int    // own instances led here and not yet committed
	Waiting         int    // proposals waiting here for a batch or for room in the window
	Refused         uint64 // messages Step refused as malformed (paxos.ErrMalformed)
}

var (
	_ paxos.Replica          = (*Replica)(nil)
	_ paxos.CoverageReporter = (*Replica)(nil)
)

// New builds an EPaxos replica. cfg.Quorums may be nil or a quorum.EPaxos;
// other quorum systems are refused. cfg.Restore rebuilds a crashed replica.
func New(cfg paxos.Config) (paxos.Replica, error) {
	return NewWithOptions(cfg, Options{})
}

// NewWithOptions builds a replica with test-only options; see Options.
func NewWithOptions(cfg paxos.Config, opts Options) (*Replica, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("epaxos: %w", err)
	}
	var sys quorum.EPaxos
	switch q := cfg.Quorums.(type) {
	case nil:
		s, err := quorum.NewEPaxos(cfg.N)
		if err != nil {
			return nil, fmt.Errorf("epaxos: %w: %w", paxos.ErrConfig, err)
		}
		sys = s
	case quorum.EPaxos:
		sys = q
	default:
		return nil, fmt.Errorf("epaxos: %w: quorum system %s is not an EPaxos system; leave Config.Quorums nil or pass quorum.NewEPaxos(n)", paxos.ErrConfig, cfg.Quorums)
	}
	r := &Replica{
		cfg: cfg, opts: opts, id: cfg.ID, n: cfg.N, fq: sys.FastSize(), sq: sys.SlowSize(),
		rng: cfg.Rand(), nearest: cfg.Nearest(),
		inst: make([]map[uint64]*instance, cfg.N), maxSlot: make([]uint64, cfg.N),
		execUpTo: make([]uint64, cfg.N), gcUpTo: make([]uint64, cfg.N),
		peerExec: make([][]uint64, cfg.N), peerStuck: make([][]uint64, cfg.N), nextSlot: 1,
		lastHeard: make([]uint64, cfg.N), answered: make([]uint64, cfg.N),
		index: map[string]*keyIndex{}, store: kv.NewExecutor(cfg),
		pendingExec: map[paxos.Instance]*instance{}, uncommitted: map[paxos.Instance]*instance{},
		waiters: map[*instance][]*instance{}, open: make([][]uint64, cfg.N), openDead: make([]int, cfg.N),
	}
	switch {
	case cfg.SnapshotEvery == 0:
		r.snapEvery = DefaultSnapshotEvery
	case cfg.SnapshotEvery < 0:
		r.snapEvery = 0
	default:
		r.snapEvery = cfg.SnapshotEvery
	}
	for i := range r.inst {
		r.inst[i] = map[uint64]*instance{}
		r.peerExec[i] = make([]uint64, cfg.N)
		r.peerStuck[i] = make([]uint64, cfg.N)
	}
	if cfg.Restore != nil {
		if err := r.restore(cfg.Restore); err != nil {
			return nil, fmt.Errorf("epaxos: restore replica %d: %w", cfg.ID, err)
		}
	}
	if err := r.startRebuild(); err != nil {
		return nil, err
	}
	return r, nil
}

// ID implements paxos.Replica.
func (r *Replica) ID() paxos.NodeID { return r.id }

// Stats returns counters of protocol events.
func (r *Replica) Stats() Stats {
	s := r.stats
	s.InFlight, s.Waiting = r.inflight, len(r.batch)
	for _, m := range r.inst {
		s.Live += len(m)
	}
	return s
}

// Coverage implements paxos.CoverageReporter: counts of recovery events
// since this replica was built (this incarnation only), by name:
// "recoveries" (explicit prepares started), "trypreaccepts" (TryPreAccept
// phases started), "deferrals" (TryPreAccepts abandoned for a later
// attempt), "rule3a" (sole initial votes accepted at N = 3), "rule4a"
// (replicas ruled out of a fast quorum by rule 4a, from this replica's
// instances or a LeaderOut reply, once per recovery attempt and replica),
// "recovery-commits" (instances a recovery here decided through its Accept
// phase; adopting a decision a reply carries is not counted),
// "recovery-nops" (those decided as a Nop) and paxos.CoverageRefused
// (messages Step refused as malformed). See recovery.go for the rules.
func (r *Replica) Coverage() paxos.Coverage {
	s := r.stats
	return paxos.Coverage{
		"recoveries":          s.Recoveries,
		"trypreaccepts":       s.TryPreAccepts,
		"deferrals":           s.Deferred,
		"rule3a":              s.Rule3a,
		"rule4a":              s.Rule4a,
		"recovery-commits":    s.RecoveryCommits,
		"recovery-nops":       s.RecoveryNops,
		paxos.CoverageRefused: s.Refused,
	}
}

// FastQuorum returns the fast-quorum size in use, leader included.
func (r *Replica) FastQuorum() int { return r.fq }

// Propose implements paxos.Replica. The command starts a new instance at
// once unless this replica already leads Config.Window uncommitted
// instances (then it waits for one to commit). With Config.Batch > 1,
// commands that arrive while at least batchWait of this replica's instances
// are in flight wait for a full batch, for the next Tick at the latest;
// with nothing in flight a command is never delayed. A command that
// already executed here (a client's retry) is answered at once from the
// store, reported as a Duplicate execution.
func (r *Replica) Propose(cmd paxos.Command) {
	if err := r.store.Check(cmd); err != nil {
		r.ready.Executed = append(r.ready.Executed, paxos.Refused(cmd, err))
		return
	}
	if cmd.Client != 0 && !cmd.IsNop() {
		if ex, done := r.store.Executed(cmd); done {
			r.ready.Executed = append(r.ready.Executed, ex)
			return
		}
	}
	r.batch = append(r.batch, cmd)
	if len(r.batch) >= r.cfg.Batch {
		r.flush(false)
	}
	r.execute()
}

// Ready implements paxos.Replica.
func (r *Replica) Ready() paxos.Ready {
	r.flush(false)
	r.execute()
	if r.snapEvery > 0 && r.sinceSnap >= r.snapEvery && r.sinceSnapCmds >= len(r.index) {
		r.sinceSnap, r.sinceSnapCmds = 0, 0
		r.ready.Snapshot = r.plantedSnapshot(r.snapshot())
		r.ready.Persist = nil // the snapshot covers them
	}
	rd := r.ready
	r.ready = paxos.Ready{}
	return rd
}

// Tick implements paxos.Replica.
func (r *Replica) Tick() {
	r.now++
	if r.rb != nil {
		r.rebuildTick()
		r.execute()
		return
	}
	r.flush(true)
	r.tickTimers()
	// Tell peers the execution watermark: every tick when it moved, and
	// every 2*RetryTicks anyway (messages may be lost).
	if every := uint64(2 * r.cfg.RetryTicks); r.n > 1 && (r.now%every == 0 || !slices.Equal(r.sentExec, r.execUpTo)) {
		r.sentExec = slices.Clone(r.execUpTo)
		wm := Watermark{Executed: slices.Clone(r.execUpTo)}
		for p := 0; p < r.n; p++ {
			if paxos.NodeID(p) != r.id {
				r.send(paxos.NodeID(p), wm)
			}
		}
	}
	r.execute()
}

// Step implements paxos.Replica. A refused message (an error wrapping
// paxos.ErrMalformed) is counted in Stats.Refused and under
// paxos.CoverageRefused.
func (r *Replica) Step(msg paxos.Message) error {
	err := r.step(msg)
	if err != nil {
		r.stats.Refused++
	}
	return err
}

func (r *Replica) step(msg paxos.Message) error {
	if msg.To != r.id {
		return fmt.Errorf("epaxos: replica %d got a message addressed to %d: %w", r.id, msg.To, paxos.ErrMalformed)
	}
	if msg.From < 0 || int(msg.From) >= r.n || msg.From == r.id {
		return fmt.Errorf("epaxos: replica %d got a message from replica %d, not another replica of 0..%d: %w", r.id, msg.From, r.n-1, paxos.ErrMalformed)
	}
	if err := r.checkBody(msg.Body); err != nil {
		return err
	}
	r.lastHeard[msg.From] = r.now
	if handled, err := r.rebuildStep(msg.From, msg.Body); handled {
		r.execute()
		return err
	}
	var err error
	switch m := msg.Body.(type) {
	case PreAccept:
		if err = r.checkValue(m.Inst, m.Cmds, m.Deps); err == nil {
			r.onPreAccept(msg.From, m)
		}
	case PreAcceptReply:
		if err = r.checkReply(m.Inst, m.Deps, m.OK, m.Committed, m.Cmds); err == nil {
			r.onPreAcceptReply(msg.From, m)
		}
	case Accept:
		if err = r.checkValue(m.Inst, m.Cmds, m.Deps); err == nil {
			r.onAccept(msg.From, m)
		}
	case AcceptReply:
		if err = r.checkReply(m.Inst, m.Deps, false, m.Committed, m.Cmds); err == nil {
			r.onAcceptReply(msg.From, m)
		}
	case Commit:
		if err = r.checkValue(m.Inst, m.Cmds, m.Deps); err == nil {
			r.onCommit(m)
		}
	case Prepare:
		if err = r.checkInst(m.Inst, nil, false); err == nil {
			r.onPrepare(msg.From, m)
		}
	case PrepareReply:
		if err = r.checkReply(m.Inst, m.Deps, len(m.Cmds) > 0, m.OK && m.Status == StatusCommitted, m.Cmds); err == nil {
			r.onPrepareReply(msg.From, m)
		}
	case TryPreAccept:
		if err = r.checkValue(m.Inst, m.Cmds, m.Deps); err == nil {
			r.onTryPreAccept(msg.From, m)
		}
	case TryPreAcceptReply:
		err = r.checkReply(m.Inst, m.Deps, false, m.Committed, m.Cmds)
		if err == nil && m.Conflict != (paxos.Instance{}) {
			err = r.checkInst(m.Conflict, nil, false)
		}
		if err == nil {
			r.onTryPreAcceptReply(msg.From, m)
		}
	case Watermark:
		if len(m.Executed) != r.n {
			err = fmt.Errorf("epaxos: watermark with %d entries for %d replicas: %w", len(m.Executed), r.n, paxos.ErrMalformed)
		} else {
			r.onWatermark(msg.From, m)
		}
	default:
		err = fmt.Errorf("epaxos: replica %d got unexpected message %T: %w", r.id, msg.Body, paxos.ErrMalformed)
	}
	r.execute()
	return err
}

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

// ---- helpers ----

func (r *Replica) send(to paxos.NodeID, body any) {
	r.ready.Messages = append(r.ready.Messages, paxos.Message{From: r.id, To: to, Body: body})
}

func (r *Replica) others() []paxos.NodeID { return r.nearest }

// gcd reports whether an instance was garbage-collected (executed everywhere).
func (r *Replica) gcd(id paxos.Instance) bool { return id.Slot <= r.gcUpTo[id.Replica] }

// get returns the instance, creating an empty one (and scheduling its
// recovery should it stay uncommitted) when unknown. Slots of a replica
// below the highest one known are created too, so that no unknown instance
// can hide below a dependency. It returns nil for a garbage-collected
// instance.
func (r *Replica) get(id paxos.Instance) *instance {
	if in := r.inst[id.Replica][id.Slot]; in != nil {
		return in
	}
	if r.gcd(id) {
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
	return in
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

func (r *Replica) record(in *instance) InstanceRecord {
	return InstanceRecord{Inst: in.id, Status: in.status, Ballot: in.bal, VBallot: in.vbal, Orig: in.orig,
		Cmds: slices.Clone(in.cmds), Seq: in.seq, Deps: slices.Clone(in.deps)}
}

func (r *Replica) persist(in *instance) {
	r.ready.Persist = append(r.ready.Persist, r.record(in))
}

func equalAttrs(s1 uint64, d1 []uint64, s2 uint64, d2 []uint64) bool {
	return s1 == s2 && slices.Equal(d1, d2)
}

func (r *Replica) zeroDeps() []uint64 { return make([]uint64, r.n) }

func nopBatch() []paxos.Command { return []paxos.Command{{Op: paxos.OpNop}} }

// ---- the per-key index ----

func (r *Replica) key(k string) *keyIndex {
	ki := r.index[k]
	if ki == nil {
		ki = &keyIndex{rows: make([]keyRow, 0, 1)}
		r.index[k] = ki
	}
	return ki
}

// attrs merges this replica's interfering instances into (seq, deps) for
// cmds of instance id: deps[q] becomes at least the latest interfering slot
// of q known here (never id itself), and seq at least 1 + the highest seq of
// an interfering instance. prev is this replica's earlier deps of id, used
// when the latest interfering instance of id's own replica is id itself.
func (r *Replica) attrs(id paxos.Instance, cmds []paxos.Command, seq uint64, deps, prev []uint64) (uint64, []uint64) {
	out := slices.Clone(deps)
	if out == nil {
		out = r.zeroDeps()
	}
	for _, c := range cmds {
		if c.IsNop() {
			continue
		}
		for _, ki := range r.lookup(c) {
			ms := ki.writeSeq
			if c.Writes() && ki.readSeq > ms {
				ms = ki.readSeq
			}
			if ms+1 > seq {
				seq = ms + 1
			}
			for _, f := range ki.rows {
				q := f.replica
				d := f.write
				if c.Writes() && f.read > d && !r.planted.writeIgnoresReads {
					d = f.read
				}
				if q == id.Replica && d == id.Slot {
					d = 0
					if prev != nil {
						d = prev[q]
					}
				}
				if d > out[q] {
					out[q] = d
				}
			}
		}
	}
	return seq, out
}

// indexAdd records instance in in the per-key index. The index only grows,
// in memory and (see restore) across restarts: recovery rule 4a relies on it.
func (r *Replica) indexAdd(in *instance) { r.indexCmds(in.id, in.cmds, in.seq) }

// indexCmds records that instance id held cmds with seq.
func (r *Replica) indexCmds(id paxos.Instance, cmds []paxos.Command, seq uint64) {
	for _, c := range cmds {
		if c.IsNop() {
			continue
		}
		var one [1]string
		for _, k := range touched(c, &one) {
			ki := r.key(k)
			f := ki.rowFor(id.Replica)
			if c.Writes() {
				f.write = max(f.write, id.Slot)
				ki.writeSeq = max(ki.writeSeq, seq)
			} else {
				f.read = max(f.read, id.Slot)
				ki.readSeq = max(ki.readSeq, seq)
			}
		}
	}
}

// ---- proposing ----

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
// after the proposal, answers them.
func (r *Replica) flush(partial bool) {
	if r.rb != nil {
		return // no leading while rebuilding
	}
	i := 0
	for i < len(r.batch) && r.inflight < r.cfg.Window {
		if len(r.batch)-i < r.cfg.Batch && !partial && r.inflight >= batchWait {
			break
		}
		k := min(len(r.batch)-i, r.cfg.Batch)
		cmds := make([]paxos.Command, 0, k)
		for _, c := range r.batch[i : i+k] {
			if c.Client != 0 && !c.IsNop() {
				if _, done := r.store.Executed(c); done {
					continue
				}
			}
			cmds = append(cmds, c)
		}
		i += k
		if len(cmds) > 0 {
			r.lead(cmds)
		}
	}
	if i > 0 {
		r.batch = r.batch[:copy(r.batch, r.batch[i:])]
	}
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
	seq, deps := r.attrs(id, cmds, 1, nil, nil)
	b := MakeBallot(0, r.id)
	in.cmds, in.seq, in.deps, in.status, in.bal, in.vbal, in.orig = cmds, seq, deps, StatusPreAccepted, b, b, true
	in.mine = cmds
	in.led, in.ledAt = true, r.now
	r.inflight++
	r.indexAdd(in)
	r.persist(in)
	in.co = &coord{ballot: b, phase: phPreAccept, started: r.now, cmds: cmds, seq: seq, deps: slices.Clone(deps),
		origSeq: seq, origDeps: slices.Clone(deps), replied: quorum.Of(int(r.id)), unchanged: 1}
	r.scheduleRecovery(in)
	msg := PreAccept{Ballot: b, Inst: id, Cmds: cmds, Seq: seq, Deps: deps}
	targets := r.others()
	if r.cfg.Thrifty {
		targets = targets[:min(len(targets), r.fq-1)]
	}
	in.co.asked = setOf(targets)
	for _, p := range targets {
		r.send(p, msg)
	}
	r.decidePreAccept(in)
}

// ---- pre-accept ----

func (r *Replica) onPreAccept(from paxos.NodeID, m PreAccept) {
	in := r.get(m.Inst)
	if in == nil {
		return
	}
	reply := PreAcceptReply{Ballot: m.Ballot, Inst: m.Inst}
	switch {
	case in.status == StatusCommitted:
		reply.Committed, reply.Cmds, reply.Seq, reply.Deps = true, in.cmds, in.seq, in.deps
	case m.Ballot < in.bal:
		reply.Ballot = in.bal
	case in.status == StatusAccepted && m.Ballot <= in.vbal:
		return // a late pre-accept of a round that already moved on
	case in.status == StatusPreAccepted && in.vbal == m.Ballot && in.cmds != nil && (m.Ballot.Initial() || !in.orig):
		// duplicate (a try-pre-accept vote at this ballot is not one): answer as before
		reply.OK, reply.Seq, reply.Deps = true, in.seq, in.deps
		reply.Changed = !(m.Ballot.Initial() && in.orig)
	default:
		seq, deps := r.attrs(m.Inst, m.Cmds, m.Seq, m.Deps, in.deps)
		// A rebuilt replica never votes unchanged (see rebuild.go).
		changed := !equalAttrs(seq, deps, m.Seq, m.Deps) || r.rebuilt
		in.cmds, in.seq, in.deps, in.status = slices.Clone(m.Cmds), seq, deps, StatusPreAccepted
		in.bal, in.vbal = m.Ballot, m.Ballot
		in.orig = m.Ballot.Initial() && !changed
		r.indexAdd(in)
		if !r.planted.noPersistVote {
			r.persist(in)
		}
		reply.OK, reply.Changed, reply.Seq, reply.Deps = true, changed, seq, deps
	}
	r.send(from, reply)
}

// roundReply is what every answer to a round a replica drives carries:
// the instance, the ballot (the round's, or a higher one on refusal),
// whether the vote was given, and any decision the replier already holds.
type roundReply struct {
	inst     paxos.Instance
	ballot   Ballot
	ok       bool
	decision *Commit
}

// currentRound screens an answer to a round this replica drives. It
// returns the instance and its coordinator when the answer counts for the
// current round, phase ph at the coordinator's ballot; otherwise nil, after
// acting on what the answer still tells: a decision it carries is
// committed here (and, when rebroadcast is set, sent on to every replica),
// and a refusal at a higher ballot abandons the round.
func (r *Replica) currentRound(m roundReply, ph phase, rebroadcast bool) (*instance, *coord) {
	in := r.inst[m.inst.Replica][m.inst.Slot]
	if in == nil || in.status == StatusCommitted {
		return nil, nil
	}
	if d := m.decision; d != nil {
		if rebroadcast {
			r.commit(in, d.Cmds, d.Seq, d.Deps)
		} else {
			r.commitLocal(in, d.Cmds, d.Seq, d.Deps, true)
		}
		return nil, nil
	}
	co := in.co
	if co == nil || co.phase != ph {
		return nil, nil
	}
	if !m.ok {
		if m.ballot > co.ballot {
			r.abandon(in, m.ballot)
		}
		return nil, nil
	}
	if m.ballot != co.ballot {
		return nil, nil
	}
	return in, co
}

// decision returns the decision an answer carries, or nil.
func decision(committed bool, inst paxos.Instance, cmds []paxos.Command, seq uint64, deps []uint64) *Commit {
	if !committed {
		return nil
	}
	return &Commit{Inst: inst, Cmds: cmds, Seq: seq, Deps: deps}
}

func (r *Replica) onPreAcceptReply(from paxos.NodeID, m PreAcceptReply) {
	in, co := r.currentRound(roundReply{m.Inst, m.Ballot, m.OK, decision(m.Committed, m.Inst, m.Cmds, m.Seq, m.Deps)}, phPreAccept, false)
	if co == nil || co.replied.Has(int(from)) {
		return
	}
	r.answered[from] = max(r.answered[from], co.started)
	co.replied = co.replied.Add(int(from))
	if !m.Changed && equalAttrs(m.Seq, m.Deps, co.origSeq, co.origDeps) {
		co.unchanged++
	}
	co.seq = max(co.seq, m.Seq)
	for q := range co.deps {
		co.deps[q] = max(co.deps[q], m.Deps[q])
	}
	r.decidePreAccept(in)
}

// decidePreAccept commits on the fast path, moves to Accept, or waits.
func (r *Replica) decidePreAccept(in *instance) {
	co := in.co
	if co.ballot.Initial() && in.bal == co.ballot && co.unchanged >= r.fq {
		r.stats.FastPath++
		in.fast = true
		r.commit(in, co.cmds, co.origSeq, co.origDeps)
		return
	}
	if r.threeReplicaShortcut(in) {
		r.stats.FastPath++
		in.fast = true
		r.commit(in, co.cmds, co.seq, co.deps)
		return
	}
	n := co.replied.Len()
	if n >= r.sq && (n >= r.fq || !co.ballot.Initial() || co.impatient) {
		r.startAccept(in, co.ballot, co.cmds, co.seq, co.deps)
	}
}

// threeReplicaShortcut reports whether a command leader of a 3-replica
// cluster may commit after one round whatever the attributes: its initial
// PreAccept went to one replica only (Thrifty, not widened) and that replica
// answered. The leader and that replica are a majority, and the reply
// already holds the leader's attributes merged with the replica's (its
// merge starts from them), so the decision is as safe for the dependency
// invariant as a slow-path Accept of the same attributes. Recovery finds it
// because that replica is then the only one to have voted at the initial
// ballot (the three-replica rule in recovery.go). The published
// implementation commits the same way at N = 3 in thrifty mode; with
// PreAccept sent to both other replicas it would not be safe, since a
// recovery could find two different answers and could not tell which one
// the leader committed.
func (r *Replica) threeReplicaShortcut(in *instance) bool {
	co := in.co
	return r.n == 3 && co.ballot.Initial() && in.bal == co.ballot && co.replied.Len() == 2 &&
		(co.asked.Len() == 1 || r.planted.shortcutToAll)
}

// abandon gives up driving an instance after seeing a higher ballot; the
// instance will be recovered later if it stays uncommitted.
// The ballot seen goes to in.seen, never to in.bal: in.bal is the durable
// promise, and a Prepare at a ballot only seen must be persisted when
// granted (see "Facts a rule relies on" in recovery.go).
func (r *Replica) abandon(in *instance, seen Ballot) {
	in.co = nil
	in.seen = max(in.seen, seen)
	if r.opts.volatilePromise && seen > in.bal {
		in.bal = seen
	}
	in.attempts++
	r.scheduleRecovery(in)
}

// ---- accept ----

func (r *Replica) startAccept(in *instance, b Ballot, cmds []paxos.Command, seq uint64, deps []uint64) {
	if in.bal > b {
		r.abandon(in, in.bal)
		return
	}
	cmds, deps = slices.Clone(cmds), slices.Clone(deps)
	in.cmds, in.seq, in.deps, in.status, in.bal, in.vbal, in.orig = cmds, seq, deps, StatusAccepted, b, b, false
	r.indexAdd(in)
	r.persist(in)
	co := in.co
	if co == nil {
		co = &coord{ballot: b}
		in.co = co
	}
	co.phase, co.started, co.widened, co.lastSend = phAccept, r.now, false, 0
	co.cmds, co.seq, co.deps = cmds, seq, deps
	co.oks = quorum.Of(int(r.id))
	msg := Accept{Ballot: b, Inst: in.id, Cmds: cmds, Seq: seq, Deps: deps}
	targets := r.others()
	if r.cfg.Thrifty {
		targets = targets[:min(len(targets), r.sq-1)]
	}
	co.asked = setOf(targets)
	for _, p := range targets {
		r.send(p, msg)
	}
	r.decideAccept(in)
}

func (r *Replica) decideAccept(in *instance) {
	co := in.co
	if co.oks.Len() >= r.sq {
		r.stats.SlowPath++
		if !co.ballot.Initial() {
			r.stats.RecoveryCommits++
			if !realCommands(co.cmds) {
				r.stats.RecoveryNops++
			}
		}
		r.commit(in, co.cmds, co.seq, co.deps)
	}
}

func (r *Replica) onAccept(from paxos.NodeID, m Accept) {
	in := r.get(m.Inst)
	if in == nil {
		return
	}
	reply := AcceptReply{Ballot: m.Ballot, Inst: m.Inst}
	switch {
	case in.status == StatusCommitted:
		reply.Committed, reply.Cmds, reply.Seq, reply.Deps = true, in.cmds, in.seq, in.deps
	case m.Ballot < in.bal:
		reply.Ballot = in.bal
	default:
		if !(in.status == StatusAccepted && in.vbal == m.Ballot) {
			in.cmds, in.seq, in.deps = slices.Clone(m.Cmds), m.Seq, slices.Clone(m.Deps)
			in.status, in.bal, in.vbal, in.orig = StatusAccepted, m.Ballot, m.Ballot, false
			r.indexAdd(in)
			if !r.planted.noPersistVote {
				r.persist(in)
			}
		}
		reply.OK = true
	}
	r.send(from, reply)
}

func (r *Replica) onAcceptReply(from paxos.NodeID, m AcceptReply) {
	in, co := r.currentRound(roundReply{m.Inst, m.Ballot, m.OK, decision(m.Committed, m.Inst, m.Cmds, m.Seq, m.Deps)}, phAccept, false)
	if co == nil {
		return
	}
	r.answered[from] = max(r.answered[from], co.started)
	co.oks = co.oks.Add(int(from))
	r.decideAccept(in)
}

// ---- commit ----

// commit decides an instance driven here and broadcasts the decision.
func (r *Replica) commit(in *instance, cmds []paxos.Command, seq uint64, deps []uint64) {
	cmds, deps = slices.Clone(cmds), slices.Clone(deps)
	msg := Commit{Inst: in.id, Cmds: cmds, Seq: seq, Deps: deps}
	for _, p := range r.others() {
		r.send(p, msg)
	}
	r.commitLocal(in, cmds, seq, deps, false)
}

func (r *Replica) onCommit(m Commit) {
	in := r.get(m.Inst)
	if in == nil || in.status == StatusCommitted {
		return
	}
	r.commitLocal(in, m.Cmds, m.Seq, m.Deps, true)
}

// commitLocal records a decision learned or made here.
func (r *Replica) commitLocal(in *instance, cmds []paxos.Command, seq uint64, deps []uint64, learned bool) {
	if in.status == StatusCommitted {
		return
	}
	in.co = nil
	if in.led {
		in.led = false
		r.inflight--
		r.commitLat += (float64(r.now-in.ledAt) - r.commitLat) / 8
	}
	in.cmds, in.seq, in.deps = slices.Clone(cmds), seq, slices.Clone(deps)
	in.status, in.orig = StatusCommitted, false
	r.indexAdd(in)
	r.persist(in)
	delete(r.uncommitted, in.id)
	r.pendingExec[in.id] = in
	r.candidates = append(r.candidates, in)
	for _, w := range r.waiters[in] {
		if !w.executed && w.blockedOn == in {
			w.blockedOn = nil
			r.candidates = append(r.candidates, w)
		}
	}
	delete(r.waiters, in)
	r.reportDecided(in)
	if in.mine != nil {
		if paxos.SameCommands(in.mine, in.cmds) {
			path := paxos.PathSlow
			if in.fast && !learned {
				path = paxos.PathFast
			}
			for _, c := range in.mine {
				r.ready.Committed = append(r.ready.Committed, paxos.Commit{ID: c.ID(), Path: path})
			}
		} else {
			// Recovery filled our slot with something else (a Nop after we
			// looked dead): propose our commands again in a new instance.
			r.batch = append(r.batch, in.mine...)
		}
		in.mine = nil
	}
}

func (r *Replica) reportDecided(in *instance) {
	if in.decided {
		return
	}
	in.decided = true
	r.ready.Decided = append(r.ready.Decided, paxos.Decision{Instance: in.id, Commands: slices.Clone(in.cmds), Seq: in.seq, Deps: slices.Clone(in.deps)})
}

// ---- timers ----

func (r *Replica) tickTimers() {
	if len(r.uncommitted) == 0 {
		return
	}
	ids := make([]paxos.Instance, 0, len(r.uncommitted))
	for id := range r.uncommitted {
		ids = append(ids, id)
	}
	sortInstances(ids)
	rt := uint64(r.cfg.RetryTicks)
	for _, id := range ids {
		in := r.uncommitted[id]
		if in == nil || in.status == StatusCommitted {
			continue
		}
		co := in.co
		if co != nil {
			age := r.now - co.started
			switch co.phase {
			case phPreAccept, phAccept:
				last := max(co.started, co.lastSend)
				if age >= r.patience(giveUpAfter) && !co.impatient {
					co.impatient = true
					if co.phase == phPreAccept {
						r.decidePreAccept(in)
						if in.co != co || co.phase != phPreAccept {
							continue
						}
					}
				}
				if r.now-last >= rt {
					r.retransmit(in, last, r.now-last >= r.patience(resendAfter))
				}
			case phPrepare, phTryPreAccept:
				if co.phase == phPrepare && !co.waitedLong && age >= 2*rt && len(co.prep) >= r.sq {
					co.waitedLong = true
					r.evalPrepare(in)
				} else if age >= giveUpAfter*rt {
					r.abandon(in, in.bal) // retry later at a higher ballot
				}
			}
			continue
		}
		if r.now >= in.nextTry {
			r.recover(in)
		}
	}
}

// retransmit handles a round (PreAccept or Accept) that has waited a retry
// period since it was last sent, last. Replies still missing are most often
// only queued (here or at the peer) under load, so the round goes again to
// an asked replica only on evidence of loss (it answered a round started
// after last), when it is silent (nothing processed from it since last:
// crashed, or idle and our message lost), or when force is set (the round
// has waited patience(resendAfter)). Replicas left out by Thrifty are
// asked (the round widens) when some asked replica is lost or silent, or on
// force.
func (r *Replica) retransmit(in *instance, last uint64, force bool) {
	co := in.co
	have := co.replied
	if co.phase == phAccept {
		have = co.oks
	}
	var resend, widen []paxos.NodeID
	suspect := force
	for _, p := range r.others() {
		switch {
		case have.Has(int(p)):
		case !co.asked.Has(int(p)):
			widen = append(widen, p)
		case force || r.answered[p] > last || r.lastHeard[p] <= last:
			resend = append(resend, p)
			suspect = true
		}
	}
	if !suspect {
		widen = nil
	}
	if len(resend)+len(widen) == 0 {
		return
	}
	co.lastSend = r.now
	r.stats.Resent += uint64(len(resend))
	r.stats.Widened += uint64(len(widen))
	var msg any
	if co.phase == phPreAccept {
		msg = PreAccept{Ballot: co.ballot, Inst: in.id, Cmds: co.cmds, Seq: co.origSeq, Deps: co.origDeps}
	} else {
		msg = Accept{Ballot: co.ballot, Inst: in.id, Cmds: co.cmds, Seq: co.seq, Deps: co.deps}
	}
	for _, p := range append(resend, widen...) {
		co.asked = co.asked.Add(int(p))
		r.send(p, msg)
	}
	if len(widen) > 0 {
		co.widened = true
	}
	if co.phase == phPreAccept {
		r.decidePreAccept(in)
	}
}

func sortInstances(ids []paxos.Instance) {
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].Replica != ids[j].Replica {
			return ids[i].Replica < ids[j].Replica
		}
		return ids[i].Slot < ids[j].Slot
	})
}

// ---- garbage collection ----

func (r *Replica) onWatermark(from paxos.NodeID, m Watermark) {
	pe, stuck := r.peerExec[from], r.peerStuck[from]
	patience := uint64(2 * r.cfg.RetryTicks)
	for q := range pe {
		// A peer's watermark is trusted no further than this replica's
		// horizon: a lower watermark only delays garbage collection.
		switch e := min(m.Executed[q], r.horizon(paxos.NodeID(q))); {
		case e > pe[q]:
			pe[q], stuck[q] = e, r.now
		case r.now-stuck[q] >= patience:
			stuck[q] = r.now // at most one catch-up per row and patience
			r.helpCatchUp(from, q, pe[q])
		}
	}
	r.collect()
}

// catchUpBatch bounds the commits resent to a lagging peer per row at once.
const catchUpBatch = 8

// helpCatchUp resends, to a peer whose execution of row q has not moved for
// 2*RetryTicks, the commits this replica holds just past that point. A
// commit broadcast can be lost and its command leader crash before
// retransmitting; when nothing the peer learns later depends on the
// instance, nothing else would ever tell the peer, and no replica could
// garbage-collect the instance.
func (r *Replica) helpCatchUp(p paxos.NodeID, q int, upTo uint64) {
	for s := upTo + 1; s <= upTo+catchUpBatch; s++ {
		in := r.inst[q][s]
		if in == nil || in.status != StatusCommitted {
			return
		}
		r.send(p, Commit{Inst: in.id, Cmds: in.cmds, Seq: in.seq, Deps: in.deps})
	}
}

// collect drops instances that every replica has executed.
func (r *Replica) collect() {
	for q := 0; q < r.n; q++ {
		low := r.execUpTo[q]
		for p := 0; p < r.n; p++ {
			if paxos.NodeID(p) != r.id {
				low = min(low, r.peerExec[p][q])
			}
		}
		for s := r.gcUpTo[q] + 1; s <= low; s++ {
			delete(r.inst[q], s)
		}
		if low > r.gcUpTo[q] {
			r.gcUpTo[q] = low
		}
	}
}
