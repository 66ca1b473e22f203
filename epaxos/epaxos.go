package epaxos

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/readypool"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/quorum"
)

// DefaultSnapshotEvery is how many executed instances pass between
// snapshots when Config.SnapshotEvery is 0.
const DefaultSnapshotEvery = 10000

// plants are planted bugs that must be in place while a replica restores
// (mutants.go); the zero value is the protocol. Other planted bugs are in
// mutants_catalog.go. Only the mutants set them.
type plants struct {
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
	// freshAt is 1 + the index's rewrites (factsIndex) when in's latest
	// indexAdd stored each key of its commands as a new key's inline
	// facts naming its write, 0 otherwise: while the index's rewrites
	// stay the same, those facts are unchanged, and executing in within
	// the executed prefix would leave them so (noteExecuted), so apply
	// does not look them up.
	freshAt uint64

	nextTry  uint64 // tick at which to start recovery if still uncommitted
	attempts int    // recoveries started here, for backoff

	blockedOn *instance // execution waits for this uncommitted instance
	walk      walk      // marks of the execution pass (exec.go)

	led   bool   // this replica's own instance, counted in Replica.inflight
	held  bool   // this replica's own instance not led in this incarnation, uncommitted: counted in Replica.held
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
// in no particular order; a replica not listed has every slot 0. It is the
// working form of a key's facts; the index stores them as keyFacts.
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

// keyFacts is how the index stores one key's facts, the same facts as its
// keyIndex in less room. Most keys are only written, by one replica, and
// then the facts are that replica, its latest slot writing the key, the
// highest seq writing it, and whether the latest executed write is that
// slot (otherwise no write of the key executed here yet): kept inline in
// one 64-bit word with no allocation of their own (bits 0-1 the kind,
// 2-7 the replica, 8-35 the slot, 36-63 the seq; a replica id above 63,
// or a slot or seq of 2^28 or more, is stored in full). Any other key
// keeps its keyIndex in the index's slab (factsIndex.full), at the
// position in bits 2-63. A word rather than two makes each slot of the
// index's maps 24 bytes instead of 32 (a quarter less for the index of a
// million distinct keys).
type keyFacts uint64

// Kinds of keyFacts, and the layout of the inline form.
const (
	factsPacked           = 0 // executed when the executed prefix marks it (marks.go)
	factsPackedExecuted   = 1
	factsFull             = 2
	factsPackedUnexecuted = 3 // not executed, whatever the executed prefix says (marks.go)

	factsReplicaShift = 2
	factsSlotShift    = 8
	factsSeqShift     = 36
	factsReplicaMax   = 1<<(factsSlotShift-factsReplicaShift) - 1
	factsSlotMax      = 1<<(factsSeqShift-factsSlotShift) - 1
	factsSeqMax       = 1<<(64-factsSeqShift) - 1
)

func (f keyFacts) kind() uint64 { return uint64(f) & 3 }

// pos is the slab position of a key stored in full.
func (f keyFacts) pos() uint64 { return uint64(f) >> 2 }

// fullFacts is the stored form of a key kept at slab position pos.
func fullFacts(pos uint64) keyFacts { return keyFacts(pos<<2 | factsFull) }

// expand writes f's facts into ki, copying them into ki's rows (which
// never share memory with the index).
func (r *Replica) expand(f keyFacts, ki *keyIndex) {
	if f.kind() == factsFull {
		full := r.index.full(f.pos())
		ki.writeSeq, ki.readSeq, ki.rows = full.writeSeq, full.readSeq, append(ki.rows[:0], full.rows...)
		return
	}
	expandMarked(f, ki, r.marks())
}

// inlineReplica is the replica of facts stored inline.
func (f keyFacts) inlineReplica() int { return int(uint64(f) >> factsReplicaShift & factsReplicaMax) }

// inlineWrite is the latest slot writing the key of facts stored inline.
func (f keyFacts) inlineWrite() uint64 { return uint64(f) >> factsSlotShift & factsSlotMax }

// expandInline writes the facts of f, stored inline, into ki, with the
// executed mark stored in f only (see expandMarked).
func expandInline(f keyFacts, ki *keyIndex) {
	row := keyRow{replica: paxos.NodeID(f.inlineReplica()), write: f.inlineWrite()}
	if f.kind() == factsPackedExecuted {
		row.execWrite = row.write
	}
	ki.writeSeq, ki.readSeq, ki.rows = uint64(f)>>factsSeqShift, 0, append(ki.rows[:0], row)
}

// packable reports whether ki's facts fit inline in a keyFacts.
func packable(ki *keyIndex) bool {
	if len(ki.rows) != 1 || ki.readSeq != 0 || ki.writeSeq > factsSeqMax {
		return false
	}
	row := ki.rows[0]
	return row.replica >= 0 && row.replica <= factsReplicaMax && row.write <= factsSlotMax &&
		row.read == 0 && row.execRead == 0 && (row.execWrite == 0 || row.execWrite == row.write)
}

// pack returns the stored form of ki's facts, which were stored as old
// (the zero keyFacts for a new key): inline when they fit, otherwise in
// the index's slab (in old's place there when it had one).
func (r *Replica) pack(ki *keyIndex, old keyFacts) keyFacts {
	if f, ok := packInline(ki); ok {
		if old.kind() == factsFull {
			r.index.freeFull(old.pos())
		}
		f = r.unmarked(f)
		if f.kind() == factsPackedExecuted && old == f&^factsPackedExecuted && r.prefixMarked(old) {
			return old // the same facts, marked executed by the executed prefix
		}
		return f
	}
	pos := old.pos()
	if old.kind() != factsFull {
		pos = r.index.addFull()
	}
	full := r.index.fullMut(pos)
	full.writeSeq, full.readSeq, full.rows = ki.writeSeq, ki.readSeq, append(full.rows[:0], ki.rows...)
	return fullFacts(pos)
}

// packInline returns the inline form of ki's facts, if they fit.
func packInline(ki *keyIndex) (keyFacts, bool) {
	if !packable(ki) {
		return 0, false
	}
	row := ki.rows[0]
	f := keyFacts(ki.writeSeq<<factsSeqShift | row.write<<factsSlotShift | uint64(row.replica)<<factsReplicaShift)
	if row.execWrite != 0 {
		f |= factsPackedExecuted
	}
	return f, true
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
	opts      plants
	planted   plantedBugs // planted bugs (mutants_catalog.go); zero except in a mutant
	id        paxos.NodeID
	n         int
	fq        int // fast quorum size, leader included
	sq        int // slow (and recovery) quorum size
	rng       *rand.Rand
	nearest   []paxos.NodeID // the other replicas, nearest first (Config.Nearest)
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
	// peerSeen[p]: the highest slot of each replica that peer p reported
	// holding (Watermark.Seen, the maximum over its reports; nil until it
	// reported one, and again once it rebuilds). prune is the pruning
	// epoch under way, prunedUpTo the slots up to which the last one
	// pruned, and floor what pruning dropped, persisted in snapshots
	// (gc.go, floor.go; "Pruning the index" in recovery.go).
	peerSeen     [][]uint64
	peerSeenExec [][]uint64 // peer p's Executed, from the reports carrying a Seen only
	prune        pruneEpoch
	prunedUpTo   []uint64
	floor        indexFloor

	index           factsIndex   // copy on write: a snapshot shares it (cowindex.go)
	lookupBuf       []keyIndex   // scratch for lookup (conflicts.go)
	editBuf         keyIndex     // scratch for edit (index.go)
	found           []foundFacts // attrs's finds, for the indexAddFound right after it (index.go)
	sink            uint64       // sum of what attrs prefetched (cowindex.go): the reads are kept
	hashBuf         []uint32     // scratch for attrs's prefetch: the hashes of a batch's keys
	floorBuf        []uint64     // scratch for attrs's floor (index.go)
	store           *kv.Executor
	pendingExec     map[paxos.Instance]*instance
	candidates      []*instance               // committed instances to try to execute
	spareCandidates []*instance               // candidates' previous buffer, reused
	timerIDs        []paxos.Instance          // tickTimers' scratch list, reused
	hint            readyHint                 // sizes for the next Ready's lists
	spares          readypool.Spares          // lists of Readies carried out (RecycleReady), reused
	walk            tarjan                    // the execution pass, reused
	waiters         map[*instance][]*instance // uncommitted instance -> instances blocked on it
	open            [][]uint64                // per replica: known slots not yet executed, sorted (with dead entries)
	nops            [][]uint64                // per replica: slots executed here as a Nop, sorted (marks.go)
	openDead        []int                     // executed entries still in open
	uncommitted     map[paxos.Instance]*instance
	sinceSnap       int
	// batchChecked says that every command waiting in batch was found not
	// executed here when proposed (Propose), and no command executed
	// since: flush need not ask the store again.
	batchChecked bool
	// sinceSnapCmds counts commands executed since the latest snapshot. A
	// snapshot costs time in proportion to the index and the store, so one
	// is taken only once at least as many commands executed as the index
	// held keys at the latest one (snapKeys): the cost per command stays
	// bounded, however many keys there are. Its size then, not now: with
	// every command on a new key the commands since the latest snapshot
	// never reach the index's current size, and no snapshot would be taken
	// again (the WAL growing with every command).
	sinceSnapCmds int
	snapKeys      int
	// snapDelay is how many instances the first routine snapshot waits
	// past snapEvery (paxos.Config.SnapshotDelay).
	snapDelay int
	// sincePruneCmds counts commands executed since the index was last
	// pruned; it is pruned again only once as many commands executed as it
	// held keys after that (pruneKeys), so that sweeping it costs a
	// bounded amount per command.
	sincePruneCmds int
	pruneKeys      int

	// Per peer: the tick at which its latest message was processed here,
	// and the latest tick at which this replica started a round (PreAccept
	// or Accept) that the peer answered. A peer that answered a round
	// started after our last send of a stalled round has evidently lost our
	// message or its reply (messages are processed in order); otherwise the
	// reply is merely queued, and resending would only add load.
	lastHeard []uint64
	answered  []uint64

	inflight int // own instances led here and not yet committed
	// held counts the other uncommitted instances of this replica's own:
	// restored from its records, or slots it skipped (rebuild.go). With
	// inflight they bound the replica's own uncommitted instances by
	// Config.Window, across restarts, which a rebuild relies on.
	held int
	// reserved is the highest slot of this replica's own that it may have
	// led before it lost its disk: it leads a slot up to it only after a
	// phase 1 (rebuild.go). Persisted in SnapshotRecord.Reserved.
	reserved uint64
	// commitLat is a moving average of the commit latency, in ticks, of
	// this replica's own instances: under load, queueing delays every
	// instance alike, and recovery timeouts stretch accordingly.
	commitLat float64
	batch     []paxos.Command // proposals waiting to be led
	rd        paxos.Ready
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
	IndexKeys       int    // keys in the per-key index now
	InFlight        int    // own instances led here and not yet committed
	Waiting         int    // proposals waiting here for a batch or for room in the window
	Refused         uint64 // messages Step refused as malformed (paxos.ErrMalformed)
	Reserved        uint64 // instances led after a phase 1, in slots this replica may have used before it lost its disk
	Pruned          uint64 // keys dropped from the per-key index, every replica having executed their instances (gc.go)
}

var (
	_ paxos.Replica          = (*Replica)(nil)
	_ paxos.CoverageReporter = (*Replica)(nil)
)

// New builds an EPaxos replica. cfg.Quorums may be nil or a quorum.EPaxos;
// other quorum systems are refused. cfg.Restore rebuilds a crashed replica.
func New(cfg paxos.Config) (paxos.Replica, error) {
	return newReplica(cfg, plants{})
}

// NewReplica is New returning the concrete type, for callers that read
// its Stats or FastQuorum.
func NewReplica(cfg paxos.Config) (*Replica, error) {
	return newReplica(cfg, plants{})
}

func newReplica(cfg paxos.Config, opts plants) (*Replica, error) {
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
		peerSeen: make([][]uint64, cfg.N), peerSeenExec: make([][]uint64, cfg.N),
		prunedUpTo: make([]uint64, cfg.N), floor: newIndexFloor(cfg.N),
		lastHeard: make([]uint64, cfg.N), answered: make([]uint64, cfg.N),
		index: newFactsIndex(), store: kv.NewExecutor(cfg),
		pendingExec: map[paxos.Instance]*instance{}, uncommitted: map[paxos.Instance]*instance{},
		waiters: map[*instance][]*instance{}, open: make([][]uint64, cfg.N), nops: make([][]uint64, cfg.N), openDead: make([]int, cfg.N),
	}
	switch {
	case cfg.SnapshotEvery == 0:
		r.snapEvery = DefaultSnapshotEvery
	case cfg.SnapshotEvery < 0:
		r.snapEvery = 0
	default:
		r.snapEvery = cfg.SnapshotEvery
	}
	r.snapDelay = cfg.SnapshotDelay(r.snapEvery)
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
	s.InFlight, s.Waiting, s.IndexKeys = r.inflight, len(r.batch), r.index.len()
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
// "recovery-nops" (those decided as a Nop), paxos.CoverageRefused
// (messages Step refused as malformed), and when not zero
// "reserved-leads" (Stats.Reserved) and "index-pruned" (Stats.Pruned).
// See recovery.go for the rules.
func (r *Replica) Coverage() paxos.Coverage {
	s := r.stats
	c := paxos.Coverage{
		"recoveries":          s.Recoveries,
		"trypreaccepts":       s.TryPreAccepts,
		"deferrals":           s.Deferred,
		"rule3a":              s.Rule3a,
		"rule4a":              s.Rule4a,
		"recovery-commits":    s.RecoveryCommits,
		"recovery-nops":       s.RecoveryNops,
		paxos.CoverageRefused: s.Refused,
	}
	if s.Reserved > 0 {
		c["reserved-leads"] = s.Reserved // after a rebuild only (rebuild.go)
	}
	if s.Pruned > 0 {
		c["index-pruned"] = s.Pruned // keys dropped from the per-key index (gc.go)
	}
	return c
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
	if err := r.store.Check(&cmd); err != nil {
		r.rd.Executed = append(r.rd.Executed, paxos.Refused(&cmd, err))
		return
	}
	if cmd.Client != 0 && !cmd.IsNop() {
		if r.store.Done(&cmd) { // a retry of an executed command
			ex, _ := r.store.Executed(&cmd)
			r.rd.Executed = append(r.rd.Executed, ex)
			return
		}
	}
	if len(r.batch) == 0 {
		r.batchChecked = true
	}
	r.batch = append(r.batch, cmd)
	if len(r.batch) >= r.cfg.Batch {
		r.flush(false)
	}
	r.execute()
}

// Ready implements paxos.Replica.
//
// A routine snapshot (every SnapshotEvery executed instances) keeps the
// records of its Ready, which storage writes after it, so that a storage
// may write the snapshot on a goroutine of its own
// (SnapshotRecord.BackgroundSnapshot): a crash before it is on disk leaves
// the previous snapshot and every record since, these included, which is
// the state just before it was taken. Replaying those records after the
// snapshot changes nothing, because restore folds records in this way:
//
//   - a record of an instance the snapshot has collected (at or below its
//     GCUpTo) is skipped;
//   - its commands (for a record with InstanceRecord.Same, those the
//     snapshot holds for the instance, the ones the record kept) go into
//     the index by raising each key's highest slot
//     and seq (indexCmds takes maxima), so facts the snapshot's index
//     already holds, as it holds every record made before it but pruned
//     facts (see "Pruning the index" in recovery.go), leave it as it was;
//     a fact pruned before the snapshot that a record puts back is a true
//     fact about an instance executed everywhere, which adds nothing but
//     dependencies on executed instances;
//   - it overwrites the instance's status, ballots, commands and
//     attributes unless the instance is executed or committed (then it is
//     skipped, or is the committed record itself). An instance's durable
//     fields change only together with a record of them (persist), so the
//     last of its records in the Ready is its state in the snapshot, and
//     it is applied after any earlier one: each instance ends as the
//     snapshot holds it. Its slot is in the snapshot too, so maxSlot and
//     nextSlot do not move.
//
// What restore derives from the instances afterwards (open slots, what
// awaits execution or recovery) is then the same. A snapshot taken in a
// Ready that already carries one (installed from a peer, or ending a
// rebuild), or while rebuilding, is written in place and replaces the
// records as before: what those hold was learned from peers, in no record.
func (r *Replica) Ready() paxos.Ready {
	r.flush(false)
	r.execute()
	if r.snapEvery > 0 && r.sinceSnap >= r.snapEvery+r.snapDelay && r.sinceSnapCmds >= r.snapKeys {
		// Paced by the store's keys too: a pruned index no longer grows
		// with the store, which a snapshot copies all of.
		r.sinceSnap, r.sinceSnapCmds, r.snapKeys, r.snapDelay = 0, 0, max(r.index.len(), r.store.Len()), 0
		snap := r.plantedSnapshot(r.snapshot())
		if r.rd.Snapshot == nil && r.rb == nil {
			snap.background = true // keeps r.rd.Persist (see above)
		} else {
			r.rd.Persist = nil // the snapshot covers them
		}
		r.rd.Snapshot = snap
	}
	rd := r.rd
	if rd.Empty() {
		return paxos.Ready{} // r.rd keeps its empty lists for the next one
	}
	r.rd = paxos.Ready{}
	r.hint.note(&rd)
	r.spares.Fill(&r.rd)
	return rd
}

// RecycleReady takes back the lists of a Ready its caller has carried out
// and will not touch again, for later Readies to reuse (node.Node calls
// it; see internal/readypool). What the replica decides does not depend on
// whether it is called.
func (r *Replica) RecycleReady(rd *paxos.Ready) { r.spares.Put(rd) }

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
		r.sentExec = append(r.sentExec[:0], r.execUpTo...)
		var wm any = Watermark{Executed: slices.Clone(r.execUpTo), Seen: r.seen()} // boxed once for every peer
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
		if len(m.Cmds) == 0 {
			err = r.checkInst(m.Inst, m.Deps, true) // a short Commit
		} else {
			err = r.checkValue(m.Inst, m.Cmds, m.Deps)
		}
		if err == nil {
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
		if len(m.Executed) != r.n || len(m.Seen) != 0 && len(m.Seen) != r.n {
			err = fmt.Errorf("epaxos: watermark with %d and %d entries for %d replicas: %w", len(m.Executed), len(m.Seen), r.n, paxos.ErrMalformed)
		} else {
			r.onWatermark(msg.From, m)
		}
	default:
		err = fmt.Errorf("epaxos: replica %d got unexpected message %T: %w", r.id, msg.Body, paxos.ErrMalformed)
	}
	r.execute()
	return err
}
