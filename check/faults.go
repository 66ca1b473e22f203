package check

import (
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Fault kinds that Run can inject.
const (
	FaultCrash     = "crash"     // crash a replica (volatile state lost), restart it later
	FaultPartition = "partition" // split the cluster in two, or cut one link one way
	FaultDrop      = "drop"      // lose messages
	FaultDup       = "dup"       // deliver messages twice
	FaultReorder   = "reorder"   // delay messages so later ones overtake them
	// FaultRecovery aims at recovery and leader change, triggered by what
	// replicas do rather than by the clock: isolate a replica right after
	// it was proposed a command (one or two peers keep a copy nobody else
	// has), restart proposed-to replicas repeatedly, crash a replica the
	// moment it reports a commit (before it tells anyone), restart a
	// replica right after it learned a Nop, and split the survivors of a
	// crash so that replicas on both sides recover the same instances.
	FaultRecovery = "recovery"
)

// AllFaults lists every fault kind.
var AllFaults = []string{FaultCrash, FaultPartition, FaultDrop, FaultDup, FaultReorder, FaultRecovery, FaultWipe}

// ParseFaults parses "none", "all" or a comma-separated list of fault kinds.
func ParseFaults(s string) ([]string, error) {
	switch s {
	case "", "none":
		return nil, nil
	case "all":
		return append([]string(nil), AllFaults...), nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(AllFaults, f) {
			return nil, fmt.Errorf("unknown fault %q: want none, all, or a list of %s", f, strings.Join(AllFaults, ","))
		}
		out = append(out, f)
	}
	return out, nil
}

// injectors schedule each fault kind, in this order, after the message
// faults (set together by injectMessageFaults); see swarm for which of
// them a run uses. Each draws from the run's random
// source in turn, except those that take their own stream from the seed
// (so that adding one does not change what the others do for a seed). A new
// fault kind is one more entry here and one more constant in AllFaults.
var injectors = []injector{
	{FaultCrash, injectCrashes},
	{FaultCrash, injectBounces},
	{FaultPartition, injectPartitions},
	{FaultPartition, injectLeaderPartitions},
	{FaultCrash, injectAnswerBounces},      // search_timing.go
	{FaultPartition, injectBridgeDuels},    // search_timing.go
	{FaultReorder, injectSlowLeaders},      // search_timing.go
	{FaultPartition, injectGraySplits},     // search_timing.go
	{FaultPartition, injectStaleProposers}, // search_timing.go
	{FaultRecovery, injectRecovery},
	{FaultRecovery, injectSlowLinks},      // search_recovery.go
	{FaultRecovery, injectTornBroadcasts}, // search_recovery.go
	{FaultWipe, injectWipes},
	{FaultCrash, injectBridgeBounces},     // search_bridge.go
	{FaultCrash, injectRaces},             // search_race.go
	{FaultRecovery, injectEarlyTimeouts},  // search_race.go
	{FaultRecovery, injectTimeoutEchoes},  // search_race.go
	{FaultRecovery, injectStalledBridges}, // search_race.go
	{FaultRecovery, injectRecoveryChains}, // search_epaxos_recovery.go
}

// persistInjectors join the injectors, after them, in runs without leader
// leases (whose faults are search_lease.go's) at N = 3 and 5, so that runs
// with leases stay what they were; at N = 7 and above only the rejoin
// echoes join (see echoesOnly in search_quiet.go), and the bridges act
// alone in moreQuiet's runs.
var persistInjectors = []injector{
	{FaultCrash, injectAmnesiacBridges}, // search_persist.go
	{FaultDup, injectRejoinEchoes},      // search_persist.go
}

// leaseInjectors join the injectors in runs with leader leases only, after
// them, so that runs without leases stay what they were.
var leaseInjectors = []injector{
	{FaultCrash, injectClockDrift},         // search_lease.go
	{FaultPartition, injectLeaseHandovers}, // search_lease.go
	{FaultCrash, injectLeaderDeaths},       // search_lease.go
	{FaultPartition, injectLeaseEdges},     // search_lease_edge.go
	{FaultPartition, injectLeaseStagger},   // search_lease_stagger.go (alone only, see leaseSwarm)
}

// swarm returns the injectors a run uses among those of the fault kinds
// it injects, the message faults (drops, duplicates, delays) counting as
// one: in half the runs all of them; in a quarter one of them alone, in
// a run that is otherwise quiet; in the rest each with probability one
// half (at least one). varyFaults leaves out whole kinds per seed; this
// leaves out single injectors, so that a fault that needs a quiet cluster
// to act (a bridge that bounces while two proposers race through it, a
// stalled proposer between two recoveries) also runs without the other
// crashes, cuts and losses, which interrupt it in most runs. Measured on
// the planted bugs, such a fault alone kills several times more often per
// run than in the storm of all faults (swarm testing). It draws from its
// own random stream.
func swarm(all []injector, has map[string]bool, seed uint64) []injector {
	var on []injector
	if has[FaultDrop] || has[FaultDup] || has[FaultReorder] {
		on = append(on, injector{"messages", func(e *faultEnv) { injectMessageFaults(e, has) }})
	}
	for _, in := range all {
		if has[in.kind] {
			on = append(on, in)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x696e6a6563746f72))
	switch {
	case len(on) < 2 || rng.IntN(2) == 0:
		return on
	case rng.IntN(2) == 0:
		return []injector{on[rng.IntN(len(on))]}
	}
	var out []injector
	for _, in := range on {
		if rng.IntN(2) == 0 {
			out = append(out, in)
		}
	}
	if len(out) == 0 {
		out = append(out, on[rng.IntN(len(on))])
	}
	return out
}

// injector schedules the faults of one kind that one function injects.
type injector struct {
	kind   string
	inject func(e *faultEnv)
}

// is reports whether the injector runs f: the one place where runs that
// treat an injector apart (alone, or left out) recognise it.
func (in injector) is(f func(e *faultEnv)) bool {
	return reflect.ValueOf(in.inject).Pointer() == reflect.ValueOf(f).Pointer()
}

// injectedFaults counts the faults that took effect during a run.
type injectedFaults struct{ crashes, partitions int }

// faultEnv is what the fault injectors share: the simulation, the random
// source, who is down (at most a minority at once, apart from the
// whole-cluster crash) and which links are cut, counted per fault holding
// them so that one fault healing does not heal another's cut.
type faultEnv struct {
	s         *sim.Sim
	rng       *rand.Rand
	seed      uint64
	n         int
	window    time.Duration
	counts    injectedFaults
	down      []bool
	crashed   int
	maxDown   int
	cuts      []int // from*n+to: faults holding the link cut
	observers []func(sim.Output)
	restarted func(id int)   // called after a fault restarts replica id
	onCrash   []func(id int) // called after a fault crashes replica id
	// clockJumps allows jumpClock: false when replicas rely on clocks
	// that stay in step (leader leases).
	clockJumps bool
	// leaseTicks is the replicas' Config.LeaseTicks (0: no leases).
	leaseTicks int
	lease      *leaseClients // clients the lease faults added (search_lease.go)
	// jumping is the replica whose clock jumpClock is running ahead (-1
	// for none); jumpFired tells it a timeout fired. See watchJumps.
	jumping                int
	jumpFired, jumpWatched bool
}

// injectFaults schedules random faults during [0, window) and heals all of
// them at window: crashed replicas restart, partitions heal, message faults
// stop. Apart from one whole-cluster crash in some runs, at most a minority
// is crashed at once so runs can make progress; safety must hold regardless.
// With trace set, every Ready a replica returns is also written there (see
// traceStep). Without leases (leaseTicks 0), faults may make a replica's
// clock jump ahead (see jumpClock); with them, whose safety rests on clocks
// that stay nearly in step, clocks only drift within the bound the leases
// tolerate (search_lease.go), and the lease faults act. snapshotEvery is
// the replicas' Config.SnapshotEvery (0: the protocol's default).
func injectFaults(s *sim.Sim, rng *rand.Rand, seed uint64, faults []string, window time.Duration, trace io.Writer, leaseTicks, snapshotEvery int) *injectedFaults {
	has := faultSet(faults)
	if trace != nil {
		s.Observe(func(o sim.Output) { traceStep(trace, s.Now(), o) })
	}
	if len(has) == 0 {
		return &injectedFaults{}
	}
	n := s.N()
	e := &faultEnv{s: s, rng: rng, seed: seed, n: n, window: window,
		down: make([]bool, n), maxDown: (n - 1) / 2, cuts: make([]int, n*n), clockJumps: leaseTicks == 0, leaseTicks: leaseTicks}
	var all []injector
	if n <= 5 {
		all = append(slices.Clone(injectors), persistInjectors...) // search_persist.go
	} else {
		all = append(slices.Clone(injectors), echoesOnly(persistInjectors)...) // search_quiet.go
	}
	on := swarm(all, has, seed)
	if leaseTicks > 0 {
		on = leaseSwarm(has, seed) // search_lease.go
	}
	on = quietFor(on, seed, quietInjectors(n, leaseTicks)) // search_epaxos_recovery.go
	on = bridgesAlone(on, seed)                            // search_persist.go
	on = campaignsAlone(on, has, seed, n, leaseTicks)      // search_campaign.go
	on = moreQuiet(on, has, seed, n, leaseTicks)           // search_quiet.go
	on = tornAlone(on, has, seed, n, leaseTicks)           // search_torn_round.go
	on = lostStepsAlone(on, has, seed, n, leaseTicks)      // search_lost_step.go
	on = slowBridgesAlone(on, has, seed, n, leaseTicks)    // search_slow_bridge.go
	on = splitsAlone(on, has, seed, n, leaseTicks)         // search_split_recovery.go
	on = lagAlone(on, has, seed, leaseTicks)               // search_lag.go
	on = amnesiaAlone(on, has, seed, n, leaseTicks)        // search_lease_amnesia.go
	on = lateAlone(on, has, seed, n, leaseTicks)           // search_late_round.go
	on = narrowAlone(on, has, seed, n, leaseTicks)         // search_narrow_round.go
	on = compactionAlone(on, has, seed, n, leaseTicks)     // search_compaction.go
	on = thinAlone(on, has, seed, n, leaseTicks)           // search_thin.go
	on = stalledAlone(on, has, seed, n, leaseTicks)        // search_stalled_replies.go
	on = followedAlone(on, has, seed, n, leaseTicks)       // search_narrow_round.go
	on = diskPairsAlone(on, has, seed, n, leaseTicks)      // search_disk_pairs.go
	on = heldAlone(on, has, seed, n, leaseTicks)           // search_held_message.go
	on = tieAlone(on, has, seed, n, leaseTicks)            // search_tie_cycle.go
	on = echoAlone(on, has, e, snapshotEvery)              // search_catchup_echo.go
	for _, in := range on {
		in.inject(e)
	}
	if len(e.observers) > 0 || trace != nil {
		s.Observe(func(o sim.Output) {
			if trace != nil {
				traceStep(trace, s.Now(), o)
			}
			if s.Now() >= window {
				return
			}
			for _, fn := range e.observers {
				fn(o)
			}
		})
	}
	s.At(window, func() {
		s.Observe(nil)
		if trace != nil {
			s.Observe(func(o sim.Output) { traceStep(trace, s.Now(), o) })
		}
		s.Heal()
		clear(e.cuts)
		s.SetFaults(sim.Faults{})
		for from := 0; from < n; from++ {
			for to := 0; to < n; to++ {
				s.SetLinkFaults(paxos.NodeID(from), paxos.NodeID(to), sim.Faults{})
			}
		}
		for id := range e.down {
			e.restart(id)
		}
	})
	return &e.counts
}

// dur draws a duration uniformly in [lo, hi) from rng.
func dur(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// crash crashes replica id unless it is down already or a minority is down.
func (e *faultEnv) crash(id int) bool {
	if e.down[id] || e.crashed+rebuilding(e.s) >= e.maxDown {
		return false
	}
	e.down[id] = true
	e.crashed++
	e.counts.crashes++
	e.s.Crash(paxos.NodeID(id))
	for _, fn := range e.onCrash {
		fn(id)
	}
	return true
}

// restart restarts replica id if it is down.
func (e *faultEnv) restart(id int) {
	if e.down[id] {
		e.down[id] = false
		e.crashed--
		e.s.Restart(paxos.NodeID(id))
		if e.restarted != nil {
			e.restarted(id)
		}
	}
}

// link is a one-way link from → to.
type link struct{ from, to int }

// cut cuts links (one more fault holds each) and returns them for heal.
func (e *faultEnv) cut(links []link) []link {
	for _, l := range links {
		if l.from == l.to {
			continue
		}
		if e.cuts[l.from*e.n+l.to]++; e.cuts[l.from*e.n+l.to] == 1 {
			e.s.Cut(paxos.NodeID(l.from), paxos.NodeID(l.to))
		}
	}
	return links
}

// heal releases cuts made by cut; a link heals when no fault holds it.
func (e *faultEnv) heal(links []link) {
	for _, l := range links {
		if l.from == l.to || e.cuts[l.from*e.n+l.to] == 0 {
			continue // healed at the end of the window already
		}
		if e.cuts[l.from*e.n+l.to]--; e.cuts[l.from*e.n+l.to] == 0 {
			e.s.HealLink(paxos.NodeID(l.from), paxos.NodeID(l.to))
		}
	}
}

// between lists the links both ways between every member of a and of b.
func between(a, b []int) []link {
	var out []link
	for _, i := range a {
		for _, j := range b {
			if i != j {
				out = append(out, link{i, j}, link{j, i})
			}
		}
	}
	return out
}

// injectMessageFaults sets random drop, duplicate and reorder rates.
func injectMessageFaults(e *faultEnv, has map[string]bool) {
	var mf sim.Faults
	if has[FaultDrop] {
		mf.Drop = 0.02 + 0.1*e.rng.Float64()
	}
	if has[FaultDup] {
		mf.Duplicate = 0.02 + 0.1*e.rng.Float64()
	}
	if has[FaultReorder] {
		mf.Reorder = 0.05 + 0.2*e.rng.Float64()
	}
	e.s.SetFaults(mf)
}

// injectCrashes crashes random replicas at random times and restarts them
// later; in a quarter of the runs the whole cluster also crashes at once.
func injectCrashes(e *faultEnv) {
	rng, s, window := e.rng, e.s, e.window
	for t := dur(rng, 50*time.Millisecond, 400*time.Millisecond); t < window; t += dur(rng, 50*time.Millisecond, 500*time.Millisecond) {
		id := rng.IntN(e.n)
		back := min(t+dur(rng, 20*time.Millisecond, 800*time.Millisecond), window)
		s.At(t, func() {
			if e.crash(id) {
				s.At(back, func() { e.restart(id) })
			}
		})
	}
	// In a quarter of the runs the whole cluster crashes at once and
	// restarts from durable storage alone: what was acknowledged must
	// survive, which catches replicas that reply before persisting.
	if rng.IntN(4) == 0 {
		t := dur(rng, window/4, window*3/4)
		back := t + dur(rng, 20*time.Millisecond, 300*time.Millisecond)
		s.At(t, func() {
			for id := range e.down {
				if !e.down[id] {
					e.down[id] = true
					e.crashed++
					e.counts.crashes++
					s.Crash(paxos.NodeID(id))
				}
			}
		})
		s.At(back, func() {
			for id := range e.down {
				e.restart(id)
			}
		})
	}
}

// injectPartitions splits the cluster in two, or cuts one link one way, at
// random times, each for a random while.
func injectPartitions(e *faultEnv) {
	rng, s, window, n := e.rng, e.s, e.window, e.n
	for t := dur(rng, 50*time.Millisecond, 500*time.Millisecond); t < window; t += dur(rng, 100*time.Millisecond, 700*time.Millisecond) {
		heal := min(t+dur(rng, 20*time.Millisecond, 600*time.Millisecond), window)
		var links []link
		if rng.IntN(3) == 0 {
			from, to := rng.IntN(n), rng.IntN(n)
			if from == to {
				to = (to + 1) % n
			}
			links = []link{{from, to}}
		} else {
			perm := rng.Perm(n)
			k := 1 + rng.IntN(max(1, n-1))
			links = between(perm[:k], perm[k:])
		}
		s.At(t, func() {
			e.counts.partitions++
			e.cut(links)
			s.At(heal, func() { e.heal(links) })
		})
	}
}

// recoveryFaults are the parameters of one run's recovery faults, drawn
// from the seed. A zero probability turns a trigger off.
type recoveryFaults struct {
	// siege (per proposal, at most sieges at once): right after replica L
	// is proposed a command, before its first messages for it leave, cut
	// L off from all but 1..keep peers (the keepers), then crash and
	// restart L up to cycles times, staying up for up and down for
	// siegeDown; the first crash comes within leaderDelay or, with
	// siegeAtCommit, the moment L reports a decision. With keepAlone, the
	// keepers are kept apart from the others until the siege's end
	// (keepFor, or the end of the fault window) so that their copy of L's
	// messages stays the only one: their links lose a share loss of the
	// messages, or are cut (both ways or inbound only) for closed and open
	// for open, each opening starting, when stalling, with the keepers
	// frozen (sim.Pause) for stall. With gray, the keepers are also gray
	// until then: what they send on ticks is lost, answers go through.
	siege, keepAlone, siegeAtCommit, gray float64
	sieges, keep, cycles                  int
	keepFor, closed, open, stall          [2]time.Duration
	loss                                  [2]float64
	up, siegeDown                         [2]time.Duration
	// leader: crash a replica within leaderDelay of being proposed a
	// command; the favourite replica more often.
	leader      float64
	favourite   int
	leaderDelay time.Duration
	// commit: crash a replica the moment it announces a decision (see
	// announces), cutting the messages of that step: it decided and died
	// before telling anyone.
	commit float64
	// nop: restart a replica right after it reports a decided Nop.
	nop float64
	// fresh: for freshFor after a replica restarts, its answers are
	// suspect: a replica it answered that announces a decision within
	// taint of the answer dies before telling anyone (restore bugs show in
	// the votes a restarted replica gives).
	fresh    float64
	freshFor [2]time.Duration
	taint    time.Duration
	// split: when a recovery fault crashes a replica, split the
	// survivors in two for splitFor, so both sides time out and recover.
	split    float64
	splitFor [2]time.Duration
	// down is how long a crashed replica stays down.
	down [2]time.Duration
}

// drawRecovery draws a run's recovery fault parameters. Each trigger is
// on in about half the runs, so runs differ in kind as well as in timing.
func drawRecovery(rng *rand.Rand, n int) recoveryFaults {
	on := func(lo, hi float64) float64 {
		if rng.IntN(2) == 0 {
			return 0
		}
		return lo + (hi-lo)*rng.Float64()
	}
	ms := time.Millisecond
	return recoveryFaults{
		siege:     on(0.05, 0.5),
		keepAlone: 0.5 + rng.Float64()/2,
		keep:      max(1, n-2),
		sieges:    1 + rng.IntN(2),
		closed:    [2]time.Duration{20 * ms, 100*ms + upTo(rng, 1500*ms)},
		loss:      [2]float64{0.5, 0.95},
		stall:     [2]time.Duration{10 * ms, 20*ms + upTo(rng, 250*ms)},
		open:      [2]time.Duration{2 * ms, 5*ms + upTo(rng, 60*ms)},

		siegeAtCommit: rng.Float64(),
		gray:          rng.Float64(),
		cycles:        1 + rng.IntN(5),
		keepFor:       [2]time.Duration{500 * ms, time.Second + upTo(rng, 3*time.Second)},
		up:            [2]time.Duration{10 * ms, 50*ms + upTo(rng, 600*ms)},
		siegeDown:     [2]time.Duration{50 * ms, 200*ms + upTo(rng, time.Second)},

		leader:      on(0.02, 0.3),
		favourite:   rng.IntN(n),
		leaderDelay: 1 + upTo(rng, 40*ms),

		commit: on(0.05, 0.6),
		nop:    on(0.3, 1),
		fresh:  on(0.3, 1),

		freshFor: [2]time.Duration{100 * ms, 200*ms + upTo(rng, 2*time.Second)},
		taint:    10*ms + upTo(rng, 50*ms),
		split:    on(0.3, 1),

		splitFor: [2]time.Duration{100 * ms, 400*ms + upTo(rng, 800*ms)},
		down:     [2]time.Duration{5 * ms, 50*ms + upTo(rng, 600*ms)},
	}
}

// injectRecovery drives replicas into recovery by reacting to what they
// report (see FaultRecovery). It draws from its own random stream, seeded
// by the run's seed, so the other fault kinds do the same with or without
// it.
func injectRecovery(e *faultEnv) {
	if e.n < 2 {
		return
	}
	rng := rand.New(rand.NewPCG(e.seed, 0x7265636f76657279))
	p := drawRecovery(rng, e.n)
	s := e.s
	now := s.Now

	// splitSurvivors cuts the live replicas into two random groups for a
	// while.
	splitSurvivors := func() {
		var live []int
		for i := range e.down {
			if !e.down[i] {
				live = append(live, i)
			}
		}
		if len(live) < 2 {
			return
		}
		rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
		k := 1 + rng.IntN(len(live)-1)
		links := e.cut(between(live[:k], live[k:]))
		e.counts.partitions++
		s.At(now()+dur(rng, p.splitFor[0], p.splitFor[1]), func() { e.heal(links) })
	}
	// crash crashes id now, then maybe splits the survivors; it reports
	// whether the crash happened.
	crash := func(id int) bool {
		if !e.crash(id) {
			return false
		}
		if p.split > 0 && rng.Float64() < p.split {
			splitSurvivors()
		}
		return true
	}
	// crashFor crashes id right after the current event and restarts it
	// after a while.
	crashFor := func(id int) {
		s.At(now(), func() {
			if crash(id) {
				s.At(now()+dur(rng, p.down[0], p.down[1]), func() { e.restart(id) })
			}
		})
	}
	// siege isolates leader l but for a few keepers, then crashes and
	// restarts it repeatedly (see recoveryFaults).
	sieges := 0
	besieged := make([]bool, e.n)
	grayUntil := make([]time.Duration, e.n)
	atCommit := make([]func(), e.n) // a siege's first crash, waiting for l's commit
	siege := func(l int) {
		besieged[l] = true
		sieges++
		e.counts.partitions++
		var keep, others []int
		nk := 1
		if rng.IntN(2) == 0 {
			nk += rng.IntN(p.keep)
		}
		for _, q := range rng.Perm(e.n) {
			switch {
			case q == l:
			case len(keep) < nk:
				keep = append(keep, q)
			default:
				others = append(others, q)
			}
		}
		iso := e.cut(between([]int{l}, others))
		until := now() + dur(rng, p.keepFor[0], p.keepFor[1])
		if rng.IntN(2) == 0 {
			until = e.window // as long as faults last
		}
		if rng.Float64() < p.gray {
			// Gray keepers: they answer what they are sent, but what they
			// send on their own (on ticks: timers, retries, heartbeats) is
			// lost until the siege's end.
			for _, k := range keep {
				grayUntil[k] = max(grayUntil[k], until)
			}
		}
		switch {
		case rng.Float64() >= p.keepAlone:
		case rng.IntN(3) == 0:
			// The keepers' copy stays theirs alone, mostly: their links to
			// the others lose most messages until the end of keepFor.
			loss := sim.Faults{Drop: p.loss[0] + (p.loss[1]-p.loss[0])*rng.Float64()}
			for _, k := range between(keep, others) {
				e.s.SetLinkFaults(paxos.NodeID(k.from), paxos.NodeID(k.to), loss)
			}
			s.At(min(until, e.window), func() {
				for _, k := range between(keep, others) {
					e.s.SetLinkFaults(paxos.NodeID(k.from), paxos.NodeID(k.to), sim.Faults{})
				}
			})
		default:
			// The keepers' copy stays theirs alone: cut them off from the
			// others (both ways, or only what the others send them), with
			// short openings, until the end of keepFor.
			cutOff := between(keep, others)
			if rng.IntN(2) == 0 {
				cutOff = nil
				for _, k := range keep {
					for _, o := range others {
						cutOff = append(cutOff, link{o, k})
					}
				}
			}
			// With stall, each opening starts with the keepers frozen for a
			// while (sim.Pause): what reaches them then waits, and they
			// answer it all at once when they resume.
			stall := rng.IntN(2) == 0
			var flicker func()
			flicker = func() {
				links := e.cut(cutOff)
				s.At(now()+dur(rng, p.closed[0], p.closed[1]), func() {
					e.heal(links)
					open := dur(rng, p.open[0], p.open[1])
					if stall {
						d := dur(rng, p.stall[0], p.stall[1])
						for _, k := range keep {
							if !e.down[k] {
								s.Pause(paxos.NodeID(k), d)
							}
						}
						open += d
					}
					if now()+open < until {
						s.At(now()+open, flicker)
					}
				})
			}
			flicker()
		}
		cycles := 1 + rng.IntN(p.cycles)
		var cycle func()
		cycle = func() {
			atCommit[l] = nil
			if e.down[l] {
				// Another fault crashed it: try again once it is back.
				s.At(now()+dur(rng, p.up[0], p.up[1]), cycle)
				return
			}
			crashed := crash(l)
			if iso != nil {
				e.heal(iso) // it comes back connected
				iso = nil
			}
			cycles--
			if !crashed || cycles == 0 {
				if crashed {
					s.At(now()+dur(rng, p.down[0], p.down[1]), func() { e.restart(l) })
				}
				besieged[l] = false
				sieges--
				return
			}
			// Down long enough, often, for the others to recover what it
			// left behind.
			down := dur(rng, p.siegeDown[0], p.siegeDown[1])
			s.At(now()+down, func() {
				e.restart(l)
				s.At(now()+dur(rng, p.up[0], p.up[1]), cycle)
			})
		}
		if rng.Float64() < p.siegeAtCommit {
			// Crash it the moment it reports a commit (its keepers may
			// make a quorum), or after a while if it never does.
			fired := false
			atCommit[l] = func() {
				if !fired {
					fired = true
					cycle()
				}
			}
			s.At(now()+10*p.leaderDelay, atCommit[l])
			return
		}
		s.At(now()+upTo(rng, p.leaderDelay), cycle)
	}

	// dieOnCommit crashes id right after this step, and with cutting its
	// messages of this step first: it decided and died before telling
	// anyone.
	dieOnCommit := func(id int, cutting bool) {
		var links []link
		if cutting {
			for q := 0; q < e.n; q++ {
				links = append(links, link{id, q})
			}
		}
		e.cut(links)
		s.At(now(), func() {
			e.heal(links)
			if fn := atCommit[id]; fn != nil {
				fn()
			} else if crash(id) {
				s.At(now()+dur(rng, p.down[0], p.down[1]), func() { e.restart(id) })
			}
		})
	}

	// learnedNop reports whether rd reports an instance decided as a Nop
	// that replica id had not reported before (a restarted replica
	// reports again what it restored).
	nops := map[nopKey]bool{}
	learnedNop := func(rd *paxos.Ready, id int) bool {
		found := false
		for i := range rd.Decided {
			for _, c := range rd.Decided[i].Commands {
				if k := (nopKey{id, rd.Decided[i].Instance}); c.IsNop() && !nops[k] {
					nops[k], found = true, true
				}
			}
		}
		return found
	}

	// A replica that restarted answers with what it restored: for a
	// while after its restart, a replica that sent it a message it
	// answered, and reports a commit soon after, dies before telling
	// anyone.
	restoredUntil := make([]time.Duration, e.n)
	tainted := make([]time.Duration, e.n)
	if p.fresh > 0 {
		e.restarted = func(id int) { restoredUntil[id] = now() + dur(rng, p.freshFor[0], p.freshFor[1]) }
	}

	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if e.down[id] {
			return
		}
		rd := o.Ready
		if now() < grayUntil[id] && o.Input == nil && o.Proposed == nil && len(rd.Messages) > 0 {
			var out []link
			for q := 0; q < e.n; q++ {
				out = append(out, link{id, q})
			}
			e.cut(out)
			s.At(now(), func() { e.heal(out) })
		}
		if now() < restoredUntil[id] && o.Input != nil {
			for i := range rd.Messages {
				if to := rd.Messages[i].To; to == o.Input.From && int(to) != id {
					tainted[to] = now() + p.taint
				}
			}
		}
		switch {
		case announces(rd) && now() < tainted[id] && rng.Float64() < p.fresh:
			tainted[id] = 0
			dieOnCommit(id, true)
		case announces(rd) && atCommit[id] != nil:
			dieOnCommit(id, rng.IntN(2) == 0)
		case o.Proposed != nil && !besieged[id] && sieges < p.sieges && p.siege > 0 && rng.Float64() < p.siege:
			siege(id)
		case o.Proposed != nil && p.leader > 0 && !besieged[id] && rng.Float64() < p.leader*(1+3*b2f(id == p.favourite)):
			s.At(now()+upTo(rng, p.leaderDelay), func() { crashFor(id) })
		case announces(rd) && p.commit > 0 && e.crashed < e.maxDown && !besieged[id] && rng.Float64() < p.commit:
			dieOnCommit(id, true)
		case p.nop > 0 && learnedNop(rd, id) && rng.Float64() < p.nop:
			crashFor(id)
		}
	})
}

// nopKey names an instance decided as a Nop, as learned by one replica.
type nopKey struct {
	replica int
	inst    paxos.Instance
}

// announces reports whether rd decides something and tells others: it
// reports a decision (a command leader's or a recoverer's commit) and sends
// messages to at least two peers (replicas that merely learn a decision
// seldom broadcast in the same step).
func announces(rd *paxos.Ready) bool {
	if len(rd.Decided) == 0 || len(rd.Messages) < 2 {
		return false
	}
	first := rd.Messages[0].To
	for i := range rd.Messages {
		if rd.Messages[i].To != first {
			return true
		}
	}
	return false
}

// upTo draws a duration uniformly in [0, d).
func upTo(rng *rand.Rand, d time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(d))) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// traceStep writes one replica step to a run's trace (Options.Trace), with
// what the simulator's own trace leaves out: the contents of the message
// handled and of the messages sent, and what was persisted and decided.
// Lines start with the virtual time, then "step".
func traceStep(w io.Writer, now time.Duration, o sim.Output) {
	fmt.Fprintf(w, "%d step %d inc=%d", int64(now), o.Replica, o.Incarnation)
	switch {
	case o.Input != nil:
		fmt.Fprintf(w, " on %d->%d %T %+v", o.Input.From, o.Input.To, o.Input.Body, o.Input.Body)
	case o.Proposed != nil:
		fmt.Fprintf(w, " on propose %+v", *o.Proposed)
	default:
		fmt.Fprint(w, " on tick")
	}
	fmt.Fprintln(w)
	for _, p := range o.Ready.Persist {
		fmt.Fprintf(w, "\tpersist %T %+v\n", p, p)
	}
	for _, m := range o.Ready.Messages {
		fmt.Fprintf(w, "\tsend %d->%d %T %+v\n", m.From, m.To, m.Body, m.Body)
	}
	for _, d := range o.Ready.Decided {
		fmt.Fprintf(w, "\tdecided %+v\n", d)
	}
}

// faultSet returns the set of the named faults.
func faultSet(faults []string) map[string]bool {
	has := map[string]bool{}
	for _, f := range faults {
		has[f] = true
	}
	return has
}
