// Package explore is a bounded explorer of schedules, a small model checker
// over the pure replicas of this library: it builds N replicas of one
// protocol, drives them through many short schedules of message deliveries,
// losses, duplications, ticks, crashes, restarts and proposals, and checks
// the protocol invariants after every step. Where the randomized checker
// (package check) runs clients over a simulated network with timing, the
// explorer has no time and no network model at all: any message in flight
// may be delivered next, each replica's clock moves only when a step ticks
// it, and so schedules that timing makes unlikely are as likely as any.
//
// # The model
//
// The state is: the N replicas (running, or crashed with what they
// persisted), the messages in flight (a set: identical copies are merged,
// which a lossy network allows), the decisions and executions every
// replica reported, and a few counters. A step is one Action:
//
//   - deliver, drop or duplicate an in-flight message (drops are bounded
//     by MaxDrops; a message never delivered is simply late for ever, so a
//     schedule rarely needs a drop);
//   - tick one replica TickStep times (timeouts drive elections, retries
//     and recovery; clocks are independent, so one replica may time out
//     while the others stand still);
//   - crash a running replica (its volatile state and the messages in
//     flight to it are lost, and optionally those it sent that are still
//     in flight; what it persisted is kept), at most MaxDown at once and
//     MaxCrashes in all; or restart a crashed one from what it persisted
//     (Config.Restore), as the simulator does; a replica not restarted has
//     stopped for good;
//   - propose one of Commands puts on one key at a running replica (each
//     at most MaxProposals times: a retry goes to another replica with the
//     same (client, seq)).
//
// After each step that reported a decision or an execution, the invariants
// of package check run over everything reported so far (check.Invariants:
// one value per instance, EPaxos dependencies between interfering commits,
// one write order per key). The commands are few and all interfere, so the
// bound explored is: N replicas, Commands commands on one key, Depth steps,
// MaxCrashes crashes, MaxDrops drops.
//
// # The search
//
// Replicas are opaque, so a state cannot be copied; a schedule is replayed
// from scratch instead, which the contract makes exact (replicas are
// deterministic, and each one's random source is seeded from a seed, its
// id and its incarnation). Exhaustive enumeration is out of reach beyond
// toy scopes (a 5-replica state offers tens of actions at every step), so
// the search is randomized. Walks draw their steps in one of two modes
// (Config.Mode), and both compose with an archive of cells guided by coverage.
//
// Episodes (the default). A walk is a sequence of up to 16 coarse
// episodes, each drawn at random and carried out as the step actions it
// performs (the walk records those, so shrinking, replay and schedule
// files see step actions only):
//
//   - run a group: pick a random group of running replicas and run it on
//     its own for a while, delivering the messages between members in
//     random order (or newest first) and ticking members (one of them,
//     often, with its clock ahead: its timeouts fire first), until quiet
//     or for up to 32 tick actions; one run in five is cut short after a
//     few actions (an exchange caught half way). Messages between
//     members and other replicas stay in flight, late, and those the
//     members sent out may be lost when the run ends; a run may also hold back one message type, the
//     messages about one instance, or both (they stay in flight);
//   - deliver part of a broadcast: some of one sender's messages in
//     flight (perhaps of one type only) to a random subset of their
//     receivers, without delivering what they send back;
//   - crash a replica (perhaps losing what it sent), restart one, reboot
//     one (crash it and restart it at once), or propose a command at one.
//
// The episode kinds' weights and the chances above are drawn per walk
// (a swarm over episodes; proposals after the first are switched off in
// some walks, leaving commands for later stages). Some walks also have a
// scope (a majority of the replicas, or more but not all, that alone run,
// receive partial deliveries and take proposals, the rest cut off for the
// walk), and some hold back one known instance's messages for the whole
// walk. Half of the walks also draw macro moves (macro.go: tear a
// broadcast, isolate a replica, crash or reboot a replica the moment it
// decides, reboot the last restarted replica again, hurry a replica's
// timeout), and at N >= 5 half of the walks from scratch begin with a
// campaign (campaign.go), the checker's recovery-campaign shape composed
// of those moves with random targets. Depth still bounds the actions of a
// walk.
// Episodes spend a walk's depth on what makes fault scenarios differ
// (which replicas talk to which, what is late, who times out first)
// rather than on the order of deliveries inside an exchange.
//
// Steps. Swarm walks draw one action at a time. Each walk draws its own
// weights from its seed: per action
// kind (some kinds switched off: walks without restarts stop replicas for
// good), per message type, per replica (sleepy replicas rarely tick), how
// often a delivery takes the newest message (completing one exchange after
// another while the rest of each broadcast waits), and, for each phase of
// 5 to 40 steps, which links and which instances are cut. A message sent over a cut link, or about a cut instance (a body
// with a paxos.Instance field names one), is late: picked a hundred times
// less often than the rest, so it usually never arrives. Varied weights
// reach corners one fixed distribution visits almost never, and cuts give
// the correlated losses that recovery bugs need (one command's messages
// lost while another's, on the same link, get through).
//
// An archive of cells, guided by coverage (go-explore, the way AFL uses
// branch coverage). After every episode (every step in step mode) the
// walk's features are read: the protocol's own coverage counters
// (paxos.CoverageReporter: for EPaxos, recoveries, TryPreAccepts,
// deferrals, rules 3a and 4a, Nops committed by recovery), and facts the
// driver reads from the replicas' persisted records, decisions and
// messages: a replica restarted while it held a vote for an undecided
// instance, or a Nop for its own command; an instance decided with one
// value while a replica still holds another (a stale copy); how many
// replicas coordinated one instance (competing recoveries); how many
// instances were decided, as Nops, or without dependencies; how many
// commands were proposed and replicas are down (features.go). A cell is
// the set of features reached together with the walk's shape, an abstract
// state merged across renamings of the replicas (what each replica's
// latest record of each instance holds, who runs, what was decided). The archive keeps, for every cell, the
// cheapest schedule that reached it (fewest crashes, then fewest
// actions), and most walks start by replaying the schedule of an archived
// cell and go on at random for up to 80 steps or 8 episodes. The cell is
// drawn by rarity: each pair of features carries the same weight, shared
// by the cells that have it; cells with more features weigh more (they
// went further; each feature a cell lacks of the richest cell halves its
// weight), and a cell's weight falls with the walks already started
// from it. A walk that reaches a new combination of
// features (a stage of a long scenario) makes a cell that many of the
// next walks extend, so a search goes deep in stages instead of having to
// reach every stage again by chance.
//
// A hash of the observable state (every replica's durable records and
// whether it runs, the messages in flight, the decisions) counts the
// distinct states seen, in a fixed-size bitmap; a walk that has only
// revisited known states for Stale steps in a row stops early (in episode
// mode, at the end of the episode). Neither
// the hash nor the abstraction sees volatile state, so the counts are
// approximate and nothing here proves a bound safe: this is a bug finder.
//
// # Violations
//
// A walk that breaks an invariant is shrunk: actions are removed, in
// chunks and then one at a time, as long as the shorter schedule, replayed
// from scratch, still breaks an invariant. The result holds the replicas'
// seed and the shrunk schedule, which Replay replays, Format prints, and
// WriteFile saves (`paxos explore --replay FILE` replays a saved one).
//
// # What it finds
//
// A replica that forgets its vote across a restart is found in
// milliseconds in either mode and shrunk to 8 to 10 actions (see the tests). The
// EPaxos rule-4a bug of issue 10 (a restart shrinks the per-key index
// that rule 4a relies on) needs a schedule through five stages; the model
// expresses it (TestModelExpressesRule4aSchedule plays it by hand as 42
// step actions; TestEpisodesExpressRule4a as 16 episodes of the episode
// mode), every stage is a cell of its own (TestFeaturesMarkRule4aStages),
// and the search finds it on its own (TestSearchFindsRule4a, with the
// long tests) within seconds to minutes: campaign walks (campaign.go)
// reach its late stages, and the archive extends them.
package explore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paxos-lab/paxos"
)

// Config bounds one exploration.
type Config struct {
	// Protocol is a registered protocol name; New, if set, builds the
	// replicas instead (a mutant, or a test-only variant).
	Protocol string
	New      paxos.Constructor
	// Replicas is N (default 3).
	Replicas int
	// Commands is how many puts on one key the walks propose (default 2).
	Commands int
	// Depth is the most actions per walk (default 200).
	Depth int
	// Walks is how many walks to run; 0 means until Budget runs out.
	Walks int
	// Budget bounds the wall-clock time; 0 means until Walks are done.
	Budget time.Duration
	// Seed is the first walk's seed; walk k uses Seed+k.
	Seed uint64
	// MaxCrashes bounds crashes per walk (default 6; negative: none).
	MaxCrashes int
	// MaxDown bounds replicas down at once (default (N-1)/2).
	MaxDown int
	// MaxDrops bounds messages dropped per walk (default 40; negative:
	// none).
	MaxDrops int
	// MaxProposals is how often each command may be proposed (default 1;
	// 2 lets a client retry a command at another replica).
	MaxProposals int
	// TickStep is how many ticks one tick action gives (default 5).
	TickStep int
	// Stale ends a walk after this many steps in a row reached states seen
	// before (default 60; negative: never).
	Stale int
	// Workers run walks in parallel (default GOMAXPROCS).
	Workers int
	// Replica is the template replica configuration; ID, N, Seed and
	// Restore are set per replica. Zero RetryTicks becomes 1 here, so that
	// recovery needs few tick actions.
	Replica paxos.Config
	// NoShrink reports a violation's schedule as the walk took it.
	NoShrink bool
	// Mode is how walks draw their steps: Episodes (the default) or
	// Steps.
	Mode Mode
	// Progress, if set, is called about once a second while the
	// exploration runs, from a goroutine of its own.
	Progress func(Progress)
}

// Progress is a snapshot of a running exploration.
type Progress struct {
	Walks   int
	Steps   uint64
	States  int
	Cells   int // cells in the archive (see the package doc)
	Elapsed time.Duration
}

// ErrConfig is wrapped by errors about an invalid Config.
var ErrConfig = errors.New("invalid explore configuration")

func (c Config) withDefaults() Config {
	if c.Replicas == 0 {
		c.Replicas = 3
	}
	if c.Commands == 0 {
		c.Commands = 2
	}
	if c.Depth == 0 {
		c.Depth = 200
		if c.Mode == Episodes {
			c.Depth = 1500
		}
	}
	if c.MaxCrashes == 0 {
		c.MaxCrashes = 6
	}
	if c.MaxDown == 0 {
		c.MaxDown = (c.Replicas - 1) / 2
	}
	if c.MaxDrops == 0 {
		c.MaxDrops = 40
		if c.Mode == Episodes {
			c.MaxDrops = 400
		}
	}
	if c.MaxProposals == 0 {
		c.MaxProposals = 1
	}
	if c.TickStep == 0 {
		c.TickStep = 5
		if c.Mode == Episodes {
			c.TickStep = 10
		}
	}
	if c.Stale == 0 {
		c.Stale = 60
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Replica.RetryTicks == 0 {
		c.Replica.RetryTicks = 1
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Protocol == "" && c.New == nil:
		return fmt.Errorf("%w: no protocol named; set Protocol or New", ErrConfig)
	case c.Replicas < 1:
		return fmt.Errorf("%w: Replicas=%d, want at least 1", ErrConfig, c.Replicas)
	case c.Commands < 1:
		return fmt.Errorf("%w: Commands=%d, want at least 1", ErrConfig, c.Commands)
	case c.Depth < 1:
		return fmt.Errorf("%w: Depth=%d, want at least 1", ErrConfig, c.Depth)
	case c.Walks < 0 || c.Budget < 0:
		return fmt.Errorf("%w: negative Walks or Budget", ErrConfig)
	case c.Walks == 0 && c.Budget == 0:
		return fmt.Errorf("%w: unbounded; set Walks, Budget or both", ErrConfig)
	case c.MaxDown < 0:
		return fmt.Errorf("%w: MaxDown=%d, want 0 (the default) or more", ErrConfig, c.MaxDown)
	case c.MaxDown > c.Replicas:
		return fmt.Errorf("%w: MaxDown=%d exceeds Replicas=%d", ErrConfig, c.MaxDown, c.Replicas)
	case c.Mode != Episodes && c.Mode != Steps:
		return fmt.Errorf("%w: Mode=%d, want Episodes or Steps", ErrConfig, c.Mode)
	case c.MaxProposals < 1 || c.TickStep < 1 || c.Workers < 1:
		return fmt.Errorf("%w: MaxProposals, TickStep and Workers must be at least 1", ErrConfig)
	}
	return nil
}

// commands returns the explored commands: puts on key "k" from clients
// 1..Commands, each with its own value.
func (c *Config) commands() []paxos.Command {
	out := make([]paxos.Command, c.Commands)
	for i := range out {
		out[i] = paxos.Command{Client: uint64(i + 1), Seq: 1, Op: paxos.OpPut, Key: "k", Value: fmt.Sprintf("v%d", i)}
	}
	return out
}

// Result is the outcome of an exploration.
type Result struct {
	// Walks and Steps count the walks finished and the actions taken.
	Walks int
	Steps uint64
	// States counts the distinct observable states seen (see the package
	// doc for what the hash leaves out).
	States int
	// Elapsed is the wall-clock time spent, shrinking included.
	Elapsed time.Duration
	// Violation is the first violation found, or nil.
	Violation *Violation
}

// Violation is a schedule that breaks an invariant.
type Violation struct {
	// Seed seeds the replicas' random sources: Replay(cfg, Seed,
	// Schedule) replays the violation. (A walk from the archive extends
	// another walk's schedule, so Seed alone does not name the walk.)
	Seed uint64
	// Failures are the invariant violations the (shrunk) schedule shows.
	Failures []string
	// Walked is the schedule as the walk took it, up to the violation.
	Walked []Action
	// Schedule is the shrunk schedule (Walked when not shrunk).
	Schedule []Action
	// FoundAfter is the wall-clock time until the walk found it.
	FoundAfter time.Duration
}

// Format renders a schedule, one numbered action a line.
func Format(schedule []Action) string { return format(schedule) }

// visited is an approximate set of state hashes: a bitmap of 2^28 bits
// (32 MiB) indexed by the hash, so memory stays bounded however long the
// exploration runs. Two states may share a bit; the count of distinct
// states is then a slight undercount.
type visited struct {
	bits []atomic.Uint64
	n    atomic.Int64
}

const visitedBits = 28

func newVisited() *visited {
	return &visited{bits: make([]atomic.Uint64, 1<<(visitedBits-6))}
}

// add reports whether h is new.
func (v *visited) add(h uint64) bool {
	i := h >> (64 - visitedBits)
	word, bit := &v.bits[i>>6], uint64(1)<<(i&63)
	for {
		old := word.Load()
		if old&bit != 0 {
			return false
		}
		if word.CompareAndSwap(old, old|bit) {
			v.n.Add(1)
			return true
		}
	}
}

// Explore runs random walks within the bounds of cfg and returns the first
// violation found, if any. An error means the exploration could not run
// (an invalid Config, a replica that could not be built).
func Explore(ctx context.Context, cfg Config) (Result, error) {
	res, _, err := explore(ctx, cfg, maphash.MakeSeed())
	return res, err
}

func explore(ctx context.Context, cfg Config, hs maphash.Seed) (Result, *archive, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Result{}, nil, err
	}
	start := time.Now()
	if cfg.Budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Budget)
		defer cancel()
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	seen := newVisited()
	cp := newArchive()
	var (
		next      atomic.Int64
		walks     atomic.Int64
		steps     atomic.Uint64
		mu        sync.Mutex
		found     *Violation
		firstErr  error
		wg        sync.WaitGroup
		foundWalk = int64(-1)
	)
	done := make(chan struct{})
	var pwg sync.WaitGroup
	if cfg.Progress != nil {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					cfg.Progress(Progress{Walks: int(walks.Load()), Steps: steps.Load(), States: int(seen.n.Load()),
						Cells: cp.size(), Elapsed: time.Since(start)})
				}
			}
		}()
	}
	for wk := 0; wk < cfg.Workers; wk++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				k := next.Add(1) - 1
				if cfg.Walks > 0 && k >= int64(cfg.Walks) {
					return
				}
				seed := cfg.Seed + uint64(k)
				base, prefix, depth := cp.parent(seed)
				trace, cells, w := walk(ctx, &cfg, base, prefix, seed, hs, seen)
				if len(w.failures) == 0 && w.err == nil {
					cp.learn(base, trace, depth, cells)
				}
				walks.Add(1)
				steps.Add(uint64(len(trace)))
				mu.Lock()
				switch {
				case w.err != nil && firstErr == nil:
					firstErr = w.err
					stop()
				case len(w.failures) > 0 && (foundWalk < 0 || k < foundWalk):
					foundWalk = k
					found = &Violation{Seed: base, Failures: w.failures, Walked: trace, Schedule: trace, FoundAfter: time.Since(start)}
					stop()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(done)
	pwg.Wait()
	res := Result{Walks: int(walks.Load()), Steps: steps.Load(), States: int(seen.n.Load())}
	if firstErr != nil {
		return res, cp, firstErr
	}
	if found != nil {
		if !cfg.NoShrink {
			found.Schedule, found.Failures = shrink(&cfg, found.Seed, found.Walked, hs)
		}
		res.Violation = found
	}
	res.Elapsed = time.Since(start)
	return res, cp, nil
}

// walk replays prefix on replicas seeded from base, then goes on at random
// by the walk of seed (steps or episodes, per cfg.Mode): up to Depth
// actions in all, and at most horizon steps (or epHorizon episodes) after
// a non-empty prefix. It returns the actions that applied, the cells
// reached after each step (each episode in episode mode), and the final
// world. It stops at the first violation, at the bound, or when stale.
func walk(ctx context.Context, cfg *Config, base uint64, prefix []Action, seed uint64, hs maphash.Seed, seen *visited) ([]Action, []cellAt, *world) {
	w := newWorld(cfg, base, hs, true)
	trace := make([]Action, 0, cfg.Depth)
	var cells []cellAt
	at := func(end int) cellAt {
		f := w.features()
		return cellAt{cell: w.cellOf(f), feats: f, end: end, cost: w.crashes<<20 + end}
	}
	for i := range prefix {
		if w.err != nil || len(w.failures) > 0 {
			return trace, cells, w
		}
		if w.apply(&prefix[i]) {
			trace = append(trace, prefix[i])
		}
	}
	if cfg.Mode == Episodes {
		return walkEpisodes(ctx, cfg, w, trace, len(prefix) > 0, seed, seen, at)
	}
	limit := cfg.Depth
	if len(prefix) > 0 {
		limit = min(limit, len(trace)+horizon)
	}
	sw := newSwarm(seed, cfg.Replicas)
	w.sw = sw
	stale := 0
	for len(trace) < limit && w.err == nil && len(w.failures) == 0 {
		if len(trace)%64 == 0 && ctx.Err() != nil {
			break
		}
		a, ok := choose(w, sw)
		if !ok {
			break
		}
		sw.step()
		if !w.apply(&a) {
			continue // cannot happen: choose only offers actions that apply
		}
		trace = append(trace, a)
		cells = append(cells, at(len(trace)))
		if seen.add(w.hash()) {
			stale = 0
		} else if stale++; cfg.Stale > 0 && stale >= cfg.Stale {
			break
		}
	}
	return trace, cells, w
}

// walkEpisodes goes on from trace by random episodes (see episode.go),
// recording the step actions they perform, and the cell after each
// episode.
func walkEpisodes(ctx context.Context, cfg *Config, w *world, trace []Action, fromArchive bool, seed uint64, seen *visited, at func(int) cellAt) ([]Action, []cellAt, *world) {
	var cells []cellAt
	ep := newEpisodes(seed, cfg.Replicas)
	maxEp := maxEpisodes
	if fromArchive {
		maxEp = epHorizon
	} else if cfg.Replicas >= 5 && rand.New(rand.NewPCG(seed, 0x63616d71)).Float64() < campaignP {
		ep.camp = newCampaign(seed)
		ep.scope, ep.holdWalk = nil, false // the campaign picks whom it cuts off
	}
	stale := 0
	do := func(a Action) bool {
		if len(trace) >= cfg.Depth || w.err != nil || len(w.failures) > 0 {
			return false
		}
		if !w.apply(&a) {
			return true // a planned delivery whose message is gone: skip it
		}
		trace = append(trace, a)
		if seen.add(w.hash()) {
			stale = 0
		} else {
			stale++
		}
		return len(trace) < cfg.Depth && w.err == nil && len(w.failures) == 0
	}
	for k := 0; k < maxEp && ctx.Err() == nil; k++ {
		ok := ep.next(w, do)
		if w.err != nil || len(w.failures) > 0 {
			break
		}
		cells = append(cells, at(len(trace)))
		if !ok || cfg.Stale > 0 && stale >= cfg.Stale && ep.camp == nil {
			break
		}
	}
	return trace, cells, w
}

// maxEpisodes bounds the episodes of a walk from scratch; epHorizon those
// of a walk that starts from an archived schedule; staleEpisodes ends a
// walk after that many episodes in a row that reached no new state.
const (
	maxEpisodes   = 16
	epHorizon     = 8
	staleEpisodes = 4
)

// horizon is how far a walk goes beyond the archived schedule it starts
// from.
const horizon = 80

// archive keeps, for every cell (a set of features, see features.go) a
// walk reached, a few schedules that reached it (the first ones, then the
// cheapest: fewest crashes, then fewest actions, since a cheap prefix
// leaves more of the walk's budget to go on from it) and how often a walk
// started from it.
type archive struct {
	mu    sync.Mutex
	index map[uint64]int
	cells []cellEntry
	// count is how many cells have each pair of features (a feature alone
	// is the pair of it with itself).
	count map[uint64]int
	// weights are the cells' rarities, recomputed when the archive grew
	// by a twentieth since (new cells lower the others').
	weights []float64
	stale   int
	// fresh lists cells not yet started from, newest last.
	fresh []int
	// most is the most features a cell has.
	most int
}

func newArchive() *archive { return &archive{index: map[uint64]int{}, count: map[uint64]int{}} }

type cellEntry struct {
	alts   []cellPath
	chosen int
	pairs  []uint64
	feats  []string
	depth  int // the most of its paths' depths
}

// cellPath is one schedule that reaches a cell. depth counts the cells
// discovered along the way: a walk from a cell of depth d finds cells of
// depth d+1.
type cellPath struct {
	base  uint64
	sched []Action
	cost  int
	depth int
}

// maxAlts is how many schedules a cell keeps: coarse cells hold
// different concrete states, and the one a later stage needs may not be
// the first found.
const maxAlts = 3

// cellAt is the cell after one step (or episode) of a walk.
type cellAt struct {
	cell  uint64
	feats []string
	end   int // the length of the walk's schedule when it got there
	cost  int
}

// maxCells bounds the archive's memory; past it, no cell is added.
const maxCells = 1 << 17

// pairs lists the pairs of features of a cell, as hashes.
func pairs(feats []string) []uint64 {
	hs := make([]uint64, len(feats))
	for i, f := range feats {
		hs[i] = strhash(f)
	}
	out := make([]uint64, 0, len(hs)*(len(hs)+1)/2)
	for i := range hs {
		for j := i; j < len(hs); j++ {
			out = append(out, mix(hs[i]^mix(hs[j])))
		}
	}
	return out
}

// learn adds the cells a walk (started from a cell of depth depth, or
// from scratch: 0) reached, each with its prefix of the walk's schedule:
// a new cell, or one more schedule of a known cell, or a cheaper one in
// place of its dearest.
func (ar *archive) learn(base uint64, sched []Action, depth int, cells []cellAt) {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	mine := map[uint64]bool{}
	for _, c := range cells {
		if c.end == 0 || mine[c.cell] {
			continue // a walk gives a cell one schedule, its first
		}
		mine[c.cell] = true
		p := cellPath{base: base, sched: sched[:c.end], cost: c.cost, depth: depth + 1}
		if i, ok := ar.index[c.cell]; ok {
			e := &ar.cells[i]
			if len(e.alts) < maxAlts {
				e.alts = append(e.alts, p)
			} else {
				worst := 0
				for k := range e.alts {
					if e.alts[k].cost > e.alts[worst].cost {
						worst = k
					}
				}
				if c.cost < e.alts[worst].cost {
					e.alts[worst] = p
				}
			}
			e.depth = max(e.depth, p.depth)
			continue
		}
		if len(ar.cells) >= maxCells {
			continue
		}
		ps := pairs(c.feats)
		ar.index[c.cell] = len(ar.cells)
		ar.cells = append(ar.cells, cellEntry{alts: []cellPath{p}, pairs: ps, feats: c.feats, depth: p.depth})
		for _, p := range ps {
			ar.count[p]++
		}
		ar.weights = append(ar.weights, ar.rarity(len(ar.cells)-1))
		ar.most = max(ar.most, len(c.feats))
		ar.fresh = append(ar.fresh, len(ar.cells)-1)
		ar.stale++
	}
}

func (ar *archive) size() int {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	return len(ar.cells)
}

// rarity is cell i's rarity (see parent).
func (ar *archive) rarity(i int) float64 {
	r := 0.001
	for _, p := range ar.cells[i].pairs {
		r += 1 / float64(ar.count[p])
	}
	return r
}

// depthBoost favours cells found late in a chain of discoveries, as AFL
// gives more energy to deep queue entries.
func depthBoost(d int) float64 {
	switch {
	case d <= 3:
		return 1
	case d <= 7:
		return 2
	case d <= 13:
		return 3
	case d <= 25:
		return 4
	}
	return 5
}

// featBoost favours cells with more features: a walk that reached more
// kinds of events and states has gone further (AFL likewise gives more
// energy to inputs with more coverage). The weight grows with the cube of
// the count, so the few cells at the frontier of a long scenario get many
// walks while the many early cells share the rest.
func featBoost(n int) float64 {
	x := float64(n+1) / 8
	return x * x * x
}

// frontier weighs a cell by how many features it lacks of the most any
// cell has: each one less halves its weight, so that most walks go on
// from the few cells at the frontier of the search (the stages of a long
// scenario reached last) rather than from the many cells behind it.
func frontier(lack int) float64 { return math.Exp2(-float64(lack)) }

// parent picks what walk seed starts from: a fresh start (base = seed, no
// prefix, depth 0) for one walk in eight and while the archive is empty,
// else one of the schedules of a cell: for one walk in four the newest
// cell no walk started from yet (as AFL fuzzes new queue entries first:
// a chain of discoveries is followed at once), else a cell drawn with
// weight rarity*depthBoost/(1+chosen). A cell's rarity sums 1/(cells with p)
// over the pairs p of its features (each pair of features weighs 1 in
// all, shared by its cells), so a cell that reached a feature, or a
// combination of two, that few other cells have is likely; the weight
// fades as walks start from it. A new stage of a scenario is so extended
// at once, and often, but not for ever.
func (ar *archive) parent(seed uint64) (uint64, []Action, int) {
	rng := rand.New(rand.NewPCG(seed, 0x70617265))
	ar.mu.Lock()
	defer ar.mu.Unlock()
	if len(ar.cells) == 0 || rng.IntN(8) == 0 {
		return seed, nil, 0
	}
	if ar.stale > len(ar.cells)/20 {
		for i := range ar.cells {
			ar.weights[i] = ar.rarity(i)
		}
		ar.stale = 0
	}
	pick := -1
	if rng.IntN(4) == 0 {
		for len(ar.fresh) > 0 && pick < 0 {
			i := ar.fresh[len(ar.fresh)-1]
			ar.fresh = ar.fresh[:len(ar.fresh)-1]
			if ar.cells[i].chosen == 0 {
				pick = i
			}
		}
	}
	if pick < 0 {
		ws := make([]float64, len(ar.cells))
		for i := range ar.cells {
			e := &ar.cells[i]
			ws[i] = ar.weights[i] * depthBoost(e.depth) * featBoost(len(e.feats)) * frontier(ar.most-len(e.feats)) / float64(1+e.chosen)
		}
		pick = pickWeighted(rng, ws)
	}
	e := &ar.cells[pick]
	e.chosen++
	p := e.alts[rng.IntN(len(e.alts))]
	return p.base, p.sched, p.depth
}

// Replay runs a schedule from scratch, skipping actions that do not apply,
// and returns the invariant violations it shows (nil when none). seed is
// the walk's seed, which seeds the replicas' random sources.
func Replay(cfg Config, seed uint64, schedule []Action) ([]string, error) {
	cfg = cfg.withDefaults()
	cfg.Walks = 1
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := replay(&cfg, seed, schedule, maphash.MakeSeed())
	return w.failures, w.err
}

func replay(cfg *Config, seed uint64, schedule []Action, hs maphash.Seed) *world {
	w := newWorld(cfg, seed, hs, false)
	for i := range schedule {
		if w.err != nil || len(w.failures) > 0 {
			break
		}
		w.apply(&schedule[i])
	}
	return w
}

// shrink removes actions from a failing schedule while it still fails:
// first chunks (halving their size), then single actions, until no removal
// keeps the failure. Actions that no longer apply are dropped at the end.
func shrink(cfg *Config, seed uint64, trace []Action, hs maphash.Seed) ([]Action, []string) {
	fails := func(s []Action) []string {
		w := replay(cfg, seed, s, hs)
		if w.err != nil {
			return nil
		}
		return w.failures
	}
	cur := append([]Action(nil), trace...)
	last := fails(cur)
	if len(last) == 0 {
		return cur, nil // not reproducible by replay (should not happen)
	}
	deadline := time.Now().Add(30 * time.Second)
	// Going from the end backwards, a removal leaves the positions still
	// to try in place.
	pass := func(chunk int) bool {
		progress := false
		for i := len(cur) - chunk; i >= 0 && time.Now().Before(deadline); i -= chunk {
			cand := append(append([]Action(nil), cur[:i]...), cur[i+chunk:]...)
			if f := fails(cand); len(f) > 0 {
				cur, last, progress = cand, f, true
			}
		}
		return progress
	}
	for chunk := len(cur) / 2; chunk > 1; chunk /= 2 {
		pass(chunk)
	}
	for pass(1) {
	}
	// Keep only the actions that applied, and stop at the violation.
	w := newWorld(cfg, seed, hs, false)
	var kept []Action
	for i := range cur {
		if len(w.failures) > 0 || w.err != nil {
			break
		}
		if w.apply(&cur[i]) {
			kept = append(kept, cur[i])
		}
	}
	return kept, last
}
