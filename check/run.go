package check

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/lockservice"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/sim"
)

// Options configures one randomized checking run.
type Options struct {
	// Protocol is a registered protocol name; New, if set, overrides it
	// (for test-only variants).
	Protocol string
	New      paxos.Constructor
	// Replicas is the cluster size.
	Replicas int
	// Codec passes every message, record and snapshot through the codec
	// (sim.Config.Codec); a value that does not round-trip is a failure.
	Codec bool
	// Seed decides the network, the faults and the workload.
	Seed uint64
	// Ops is the total number of client operations (default 200).
	Ops int
	// Clients is the number of closed-loop clients, placed at random
	// sites; 0 draws 3 to 8 per seed (see varyClients).
	Clients int
	// Keys is how many distinct keys the workload touches (default 3): few
	// keys make operations contend.
	Keys int
	// Conflict, in 0..1, is the share of operations on one shared hot key;
	// the rest pick among Keys at random. Zero means uniform over Keys.
	Conflict float64
	// Faults lists fault kinds (see AllFaults). They are injected during the
	// first FaultWindow of virtual time and then healed.
	Faults []string
	// FaultWindow is how long faults are injected (default 3s virtual).
	FaultWindow time.Duration
	// Replica is the template configuration (thrifty, batch, leases, ...).
	Replica paxos.Config
	// Quorums, if set, builds the quorum system for the cluster size.
	Quorums func(n int) (quorum.System, error)
	// Linearizability timeout (default 30s wall clock).
	LinTimeout time.Duration
	// Trace, if set, receives the simulator's event log of the run (one
	// line per delivery, crash, restart, tick, ...; see sim.Config.Trace),
	// for studying how a failing seed fails. It does not change the run.
	Trace io.Writer
	// App is the replicated application: "" or AppKV for the key-value
	// store, AppLockService for the lock service (lockservice; checked by
	// LockInvariants and CheckLockLinearizable; Keys and Conflict unused).
	App string
	// Broken, with App AppLockService, runs a deliberately broken lock
	// service (lockservice.Broken) to show the checker catches it.
	Broken string
}

// Result is the outcome of one run.
type Result struct {
	Seed      uint64
	Failures  []string // empty when the run was correct
	Ops       int      // operations issued
	Completed int      // operations that returned
	Events    uint64   // simulator events processed
	Virtual   time.Duration
	// Injected counts the faults that took effect: crashes, partitions
	// (including one-way cuts) and messages lost (to drops, cuts and
	// crashed receivers).
	Crashes, Partitions int
	Dropped             uint64
	// Coverage sums the protocol's coverage counters (see
	// paxos.CoverageReporter) over every replica and incarnation: whether
	// the run exercised recovery, elections, catch-up, ...; empty when the
	// protocol does not count.
	Coverage paxos.Coverage
	History  []Op
}

// OK reports whether the run found no violation.
func (r Result) OK() bool { return len(r.Failures) == 0 }

// ErrOptions is wrapped by errors about invalid Options.
var ErrOptions = errors.New("invalid check options")

func (o Options) withDefaults() Options {
	if o.Ops == 0 {
		o.Ops = 200
	}
	if o.Clients == 0 {
		o.Clients = 3
	}
	if o.Keys == 0 {
		o.Keys = 3
	}
	if o.FaultWindow == 0 {
		o.FaultWindow = 3 * time.Second
	}
	if o.LinTimeout == 0 {
		o.LinTimeout = 30 * time.Second
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.Replicas < 1:
		return fmt.Errorf("%w: replicas=%d, want at least 1", ErrOptions, o.Replicas)
	case o.Ops < 1:
		return fmt.Errorf("%w: ops=%d, want at least 1", ErrOptions, o.Ops)
	case o.Clients < 1:
		return fmt.Errorf("%w: clients=%d, want at least 1", ErrOptions, o.Clients)
	case o.Conflict < 0 || o.Conflict > 1:
		return fmt.Errorf("%w: conflict=%v, want 0..1", ErrOptions, o.Conflict)
	case o.Protocol == "" && o.New == nil:
		return fmt.Errorf("%w: no protocol named", ErrOptions)
	case o.App != "" && o.App != AppKV && o.App != AppLockService:
		return fmt.Errorf("%w: app %q, want %q or %q", ErrOptions, o.App, AppKV, AppLockService)
	case o.Broken != "" && o.App != AppLockService:
		return fmt.Errorf("%w: a broken variant needs --app %s", ErrOptions, AppLockService)
	}
	return nil
}

// workload issues gets and puts over a few keys; every put writes a value
// unique in the run, so a read names the write it saw.
type workload struct {
	keys     int
	conflict float64
	n        uint64
}

func (w *workload) Next(rng *rand.Rand) paxos.Command {
	w.n++
	key := fmt.Sprintf("k%d", rng.IntN(w.keys))
	if w.conflict > 0 && rng.Float64() < w.conflict {
		key = "hot"
	}
	if rng.IntN(2) == 0 {
		return paxos.Command{Op: paxos.OpGet, Key: key}
	}
	return paxos.Command{Op: paxos.OpPut, Key: key, Value: fmt.Sprintf("v%d", w.n)}
}

// Run performs one randomized simulation and checks it: linearizability of
// the client history and the protocol invariants (one value per instance,
// agreeing execution order, EPaxos dependencies between conflicts), and
// liveness: once the faults heal, every operation completes. The run stops
// as soon as two replicas learned different values for one instance: that
// violation is reported as it would be at the end of a full run (first
// among the failures; the replay line is unchanged), the history is
// checked as far as it got, and liveness is not judged. A returned
// error means the run could not be set up; violations are in
// Result.Failures.
//
// A replica that panics is a bug found, not a crash of the checker: the
// run ends there and reports the panic as its failure (a planted bug can
// drive even etcd's raft into one of its own panics).
func Run(opts Options) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = Result{Seed: opts.Seed, Failures: []string{fmt.Sprintf("a replica panicked: %v", p)}}, nil
		}
	}()
	res, _, err = run(opts)
	return res, err
}

// run is Run, also returning the finished simulation.
func run(opts Options) (Result, *sim.Sim, error) {
	aux := searchRand(opts.Seed) // search variations (search.go)
	opts.Clients = varyClients(opts.Clients, aux)
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return Result{}, nil, err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x636865636b))
	n := opts.Replicas

	// A random, symmetric LAN-to-regional network: 2..20 ms round trips.
	rtt := make([][]float64, n)
	for i := range rtt {
		rtt[i] = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			v := 2 + 18*rng.Float64()
			rtt[i][j], rtt[j][i] = v, v
		}
	}
	rcfg := opts.Replica
	rcfg.SnapshotEvery = varySnapshots(rcfg.SnapshotEvery, aux)
	rcfg.Thrifty = varyThrifty(rcfg.Thrifty, aux) // search_config.go
	rcfg.StaggerSnapshots = varyStagger(rcfg.StaggerSnapshots, rcfg.SnapshotEvery, opts.Seed)
	faults := varyFaults(opts.Faults, opts.Seed)
	rcfg.Batch = tieBatch(rcfg.Batch, faultSet(faults), opts.Seed, n, rcfg.LeaseTicks) // search_tie_cycle.go
	var stamp func(paxos.Command, time.Duration) paxos.Command
	if opts.App == AppLockService {
		rcfg.StateMachine, stamp = lockservice.New, lockservice.StampSim
		if opts.Broken != "" {
			v, err := lockservice.LookupBroken(opts.Broken)
			if err != nil {
				return Result{}, nil, fmt.Errorf("%w: %w", ErrOptions, err)
			}
			rcfg.StateMachine = v.New
		}
	}
	if opts.Quorums != nil {
		q, err := opts.Quorums(n)
		if err != nil {
			return Result{}, nil, fmt.Errorf("%w: %w", ErrOptions, err)
		}
		rcfg.Quorums = q
	}
	s, err := sim.New(sim.Config{
		Protocol: opts.Protocol,
		New:      opts.New,
		N:        n,
		Replica:  rcfg,
		RTT:      rtt,
		// A small per-message CPU cost: queueing varies the interleavings,
		// and even a one-replica cluster takes time per operation, so
		// operations are not all concurrent.
		CPU:    time.Duration(20+rng.IntN(200)) * time.Microsecond,
		Tick:   5 * time.Millisecond,
		Seed:   rng.Uint64(),
		Record: true,
		Codec:  opts.Codec,
		Trace:  opts.Trace,
		Stamp:  stamp,
	})
	if err != nil {
		return Result{}, nil, err
	}
	wl := &workload{keys: opts.Keys, conflict: varyConflict(opts.Conflict, opts.Seed)} // search_conflict.go
	perClient := opts.Ops / opts.Clients
	for c := 0; c < opts.Clients; c++ {
		ops := perClient
		if c < opts.Ops%opts.Clients {
			ops++
		}
		if ops == 0 {
			continue
		}
		var cw sim.Workload = wl
		if opts.App == AppLockService {
			cw = &lockWorkload{s: s, last: -1}
		}
		if _, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(rng.IntN(n)), Workload: cw, Ops: ops}); err != nil {
			return Result{}, nil, err
		}
	}
	injected := injectFaults(s, rng, opts.Seed, faults, opts.FaultWindow, opts.Trace,
		rcfg.LeaseTicks, rcfg.SnapshotEvery)

	// Run past the fault window, then until every client finished, bounded
	// in virtual time; stop at once when an instance is decided twice (the
	// run is failed already, and what follows would not change its first
	// violation; see decisionWatch).
	watch := newDecisionWatch(s)
	s.RunUntil(watch.violated, opts.FaultWindow)
	stall := progressWatch{s: s, last: s.Now(), done: s.Completed()}
	s.RunUntil(func() bool {
		return watch.violated() || stall.stalled() || s.Operations() >= opts.Ops && s.Completed() == s.Operations()
	}, opts.FaultWindow+livenessBound)
	// Convergence (converge.go): with the faults healed and every client
	// answered, the cluster runs quiet until the replicas that promise it
	// executed the same log prefix; before the invariants, so they also
	// judge what the catch-up delivered.
	var lagging []string
	if !watch.violated() && s.Operations() >= opts.Ops && s.Completed() == s.Operations() {
		lagging = checkConvergence(s, watch.violated)
	}

	res := Result{Seed: opts.Seed, Events: s.Events(), Virtual: s.Now(),
		Crashes: injected.crashes, Partitions: injected.partitions, Dropped: s.Dropped(),
		Coverage: s.Coverage()}
	res.History = FromSim(s.History())
	res.Ops = len(res.History)
	for _, o := range res.History {
		if o.Completed() {
			res.Completed++
		}
	}
	if opts.App == AppLockService {
		res.Ops, res.Completed = s.Operations(), s.Completed()
		res.Failures = append(res.Failures, verifyLocks(s, opts.LinTimeout)...)
	} else {
		res.Failures = append(res.Failures, Verify(res.History, learnedFromSim(s), appliedFromSim(s), opts.LinTimeout)...)
	}
	if watch.election != "" {
		res.Failures = append(res.Failures, watch.election)
	}
	for _, e := range s.CodecErrors() {
		res.Failures = append(res.Failures, "codec round trip: "+e)
	}
	// Liveness: every fault heals at the end of the window (crashed
	// replicas restart), so every client must get through its operations;
	// a run stopped at a double decision had no time to.
	switch {
	case res.Completed >= opts.Ops || watch.violated():
	case stall.hit:
		res.Failures = append(res.Failures, fmt.Sprintf("liveness: no operation completed for %s (virtual) after the faults healed, at %s; %d of %d completed",
			stallBound, s.Now(), res.Completed, opts.Ops))
	default:
		res.Failures = append(res.Failures, fmt.Sprintf("liveness: %d of %d operations completed within %s (virtual) after the faults healed",
			res.Completed, opts.Ops, livenessBound))
	}
	res.Failures = append(res.Failures, lagging...)
	return res, s, nil
}

// livenessBound is how long, in virtual time after the faults healed, the
// clients get to finish their operations.
const livenessBound = 120 * time.Second

// Verify checks a history and what the replicas learned and applied, and
// returns every violation found. The invariants run first; when one already
// failed, the linearizability search gets at most a second, since an
// exhaustive search of a wrong history can take long and adds little.
func Verify(history []Op, learned []Learned, applied []Applied, linTimeout time.Duration) []string {
	var out []string
	out = append(out, OneValuePerInstance(learned)...)
	out = append(out, DependenciesBetweenConflicts(learned)...)
	out = append(out, ExecutionAgrees(applied)...)
	if len(out) > 0 && (linTimeout == 0 || linTimeout > time.Second) {
		linTimeout = time.Second
	}
	verdict, err := CheckLinearizable(history, linTimeout)
	switch {
	case err != nil:
		out = append(out, "linearizability: "+err.Error())
	case verdict == NotLinearizable:
		out = append(out, "history is not linearizable")
	case verdict == Undecided && len(out) == 0:
		out = append(out, "linearizability undecided: checker timed out")
	}
	return out
}

// FromSim converts a simulator history to check's history format.
func FromSim(h []sim.Operation) []Op {
	out := make([]Op, 0, len(h))
	for _, o := range h {
		op := Op{Client: o.Client, Op: o.Op.String(), Key: o.Key, Value: o.Value, Output: o.Output, Call: int64(o.Call)}
		if o.Op != paxos.OpGet && o.Op != paxos.OpPut {
			continue
		}
		if o.Op == paxos.OpGet {
			op.Value = ""
		}
		if o.Done {
			r := int64(o.Return)
			op.Return = &r
		} else {
			op.Output = ""
		}
		out = append(out, op)
	}
	sortByCall(out)
	return out
}

// VerifySim is Verify on a finished simulation that recorded its outputs
// (sim.Config.Record): its history, what its replicas learned and what
// they applied.
func VerifySim(s *sim.Sim, linTimeout time.Duration) []string {
	return Verify(FromSim(s.History()), learnedFromSim(s), appliedFromSim(s), linTimeout)
}

func learnedFromSim(s *sim.Sim) []Learned {
	recs := s.Decisions()
	out := make([]Learned, len(recs))
	for i, r := range recs {
		out[i] = Learned{Replica: r.Replica, Incarnation: r.Incarnation, Decision: r.Decision}
	}
	return out
}

func appliedFromSim(s *sim.Sim) []Applied {
	recs := s.Executions()
	out := make([]Applied, len(recs))
	for i, r := range recs {
		out[i] = Applied{Replica: r.Replica, Incarnation: r.Incarnation, Exec: r.Execution}
	}
	return out
}
