package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/lockservice"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/sim"
)

// Progress reports one finished run: done of total runs so far, and which.
type Progress struct {
	Done, Total int
	Label       string
	Protocol    string
	ConflictPct float64
	Run         int
	// Ops is the number of operations the run completed; Wall its host time.
	Ops  int
	Wall time.Duration
}

// Options are how Run executes, as opposed to what it measures (Spec): they
// never change a result.
type Options struct {
	// Parallel runs this many simulations at once (default 1). Results do
	// not depend on it.
	Parallel int
	// Progress, if set, is called after every run, from one goroutine at a
	// time.
	Progress func(Progress)
}

// takesQuorums reports whether Spec.Q1/Q2 apply to the protocol: those
// registered with paxos.ProtocolInfo.Quorums.
func takesQuorums(proto string) bool {
	info, err := paxos.LookupProtocol(proto)
	return err == nil && info.Quorums
}

// Run executes the spec: every protocol at every conflict rate, Runs times
// each with seeds Seed, Seed+1, ..., and summarises the measurements.
// In sim mode everything is virtual and deterministic; in live mode (see
// ModeLive) times are wall clock and runs execute one at a time. Run stops
// early with ctx's error when ctx ends.
func Run(ctx context.Context, spec Spec, opt Options) (*Result, error) {
	if spec.Tick == 0 {
		spec.Tick = 10 * time.Millisecond
	}
	if spec.Resamples == 0 {
		spec.Resamples = DefaultResamples
	}
	if spec.Mode == "" {
		spec.Mode = ModeSim
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	type job struct {
		proto    string
		conflict float64
		run      int
	}
	var jobs []job
	for _, p := range spec.Protocols {
		for _, c := range spec.Conflicts {
			for r := 0; r < spec.Runs; r++ {
				jobs = append(jobs, job{p, c, r})
			}
		}
	}
	recs := make([]runRec, len(jobs))
	events := make([]uint64, len(jobs))
	errs := make([]error, len(jobs))
	par := max(1, opt.Parallel)
	if spec.Mode == ModeLive {
		par = 1 // live runs measure the machine: never two at once
	}
	var mu sync.Mutex
	done := 0
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := jobs[i]
				start := time.Now()
				if spec.Mode == ModeLive {
					recs[i], events[i], errs[i] = runLive(ctx, &spec, j.proto, j.conflict, spec.Seed+uint64(j.run))
				} else {
					recs[i], events[i], errs[i] = runOne(ctx, &spec, j.proto, j.conflict, spec.Seed+uint64(j.run))
				}
				if opt.Progress != nil {
					mu.Lock()
					done++
					opt.Progress(Progress{Done: done, Total: len(jobs), Label: spec.Label, Protocol: j.proto,
						ConflictPct: j.conflict, Run: j.run, Ops: len(recs[i].ops), Wall: time.Since(start)})
					mu.Unlock()
				}
			}
		}()
	}
	for i := range jobs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bench: interrupted: %w", err)
	}
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("bench: %s at %v%% conflicts, run %d: %w", jobs[i].proto, jobs[i].conflict, jobs[i].run, err)
		}
	}
	res := &Result{Spec: spec}
	for i := 0; i < len(jobs); i += spec.Runs {
		j := jobs[i]
		res.summarize(j.proto, j.conflict, recs[i:i+spec.Runs], i/spec.Runs)
		for k := i; k < i+spec.Runs; k++ {
			res.Events += events[k]
		}
	}
	return res, nil
}

// Timeouts returns the heartbeat, election and retry timeouts (in ticks)
// Run gives replicas: elections well above the largest round trip (at
// least 4 RTTs, so a heartbeat delayed by a WAN round trip never triggers
// one and leaders stay stable), and retries after two RTTs.
func (s *Spec) Timeouts() (heartbeat, election, retry int) {
	tickMS := float64(s.Tick) / float64(time.Millisecond)
	rtt := s.MaxRTT()
	election = s.ElectionTicks
	if election == 0 {
		election = max(10, int(math.Ceil(4*rtt/tickMS)))
	}
	retry = max(5, int(math.Ceil(2*rtt/tickMS))+1)
	return 1, election, retry
}

// replicaRTT returns the RTT matrix of the first Replicas sites.
func (s *Spec) replicaRTT() [][]float64 {
	if s.RTT == nil {
		return nil
	}
	m := make([][]float64, s.Replicas)
	for i := range m {
		m[i] = append([]float64(nil), s.RTT[i][:s.Replicas]...)
	}
	return m
}

// workload builds client c of site's workload.
func (s *Spec) workload(conflict float64, site, c int) (Workload, error) {
	if s.App == AppLockService {
		return s.newLocks(conflict, site, c)
	}
	if s.Keys.Kind == "zipf" {
		return NewZipf(s.Keys.Theta, s.Keys.Keys, s.ReadPct, s.Payload)
	}
	return NewConflict(conflict, s.ReadPct, s.Payload, fmt.Sprintf("s%dc%d/", site, c))
}

// rivalClientBase is added to the client ids of rival commands (Spec.Rivals).
const rivalClientBase = 1 << 40

// rivalWorkload wraps a client's workload: with probability pct/100 each
// command also gets a rival, handed to fire as issued (same key, Client
// and Seq still unset).
type rivalWorkload struct {
	inner Workload
	pct   float64
	fire  func(paxos.Command)
}

// Next implements Workload.
func (w *rivalWorkload) Next(rng *rand.Rand) paxos.Command {
	cmd := w.inner.Next(rng)
	if w.pct >= 100 || (w.pct > 0 && rng.Float64()*100 < w.pct) {
		w.fire(cmd)
	}
	return cmd
}

// nearestSite returns the replica nearest to site by RTT, other than site
// itself (the lowest id among equals).
func (s *Spec) nearestSite(site int) int {
	best := -1
	for j := 0; j < s.Replicas; j++ {
		if j == site {
			continue
		}
		if best < 0 || (s.RTT != nil && s.RTT[site][j] < s.RTT[site][best]) {
			best = j
		}
	}
	return best
}

// maxEventsPerSlice bounds the simulator events of 100 ms of virtual time;
// a saturated 5-replica LAN cluster needs well under a million.
const maxEventsPerSlice = 10_000_000

// maxEventsAtOneInstant bounds the events at one instant of virtual time.
const maxEventsAtOneInstant = 200_000

// runOne simulates one (protocol, conflict, seed).
func runOne(ctx context.Context, s *Spec, proto string, conflict float64, seed uint64) (runRec, uint64, error) {
	hb, el, rt := s.Timeouts()
	rc := paxos.Config{
		HeartbeatTicks: hb,
		ElectionTicks:  el,
		RetryTicks:     rt,
		Batch:          s.Batch,
		Thrifty:        s.Thrifty,
		InitialLeader:  paxos.NodeID(s.Leader),
	}
	if takesQuorums(proto) && (s.Q1 > 0 || s.Q2 > 0) {
		q, err := quorum.NewCounting(s.Replicas, s.quorumQ1(), s.quorumQ2())
		if err != nil {
			return runRec{}, 0, fmt.Errorf("--q1/--q2: %w", err)
		}
		rc.Quorums = q
	}
	var stamp func(paxos.Command, time.Duration) paxos.Command
	if s.App == AppLockService {
		rc.StateMachine, stamp = lockservice.New, lockservice.StampSim
	}
	sm, err := sim.New(sim.Config{
		Protocol: proto,
		N:        s.Replicas,
		Replica:  rc,
		RTT:      s.replicaRTT(),
		Jitter:   s.Jitter,
		CPU:      s.CPU,
		Tick:     s.Tick,
		Seed:     seed,
		Stamp:    stamp,
	})
	if err != nil {
		return runRec{}, 0, err
	}
	sites := s.clientSites()
	var rivalID uint64
	for _, site := range sites {
		for c := 0; c < s.Clients; c++ {
			var w Workload
			var err error
			if s.Rivals {
				w, err = s.workload(0, site, c)
				w = &rivalWorkload{inner: w, pct: conflict, fire: func(cmd paxos.Command) {
					// A client id of its own per rival, above every
					// simulated client's, so no dedup session is shared.
					rivalID++
					cmd.Client, cmd.Seq = rivalClientBase+rivalID, 1
					to := paxos.NodeID(s.nearestSite(site))
					sm.At(sm.Now(), func() { _ = sm.Propose(to, cmd) }) // a crashed rival site drops it
				}}
			} else {
				w, err = s.workload(conflict, site, c)
			}
			if err != nil {
				return runRec{}, 0, err
			}
			if _, err := sm.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: w, Rate: s.Rate / float64(s.Clients)}); err != nil {
				return runRec{}, 0, err
			}
		}
	}
	var faultErr error
	for _, f := range s.Faults {
		f := f
		id := f.Replica
		if id == LeaderReplica {
			id = max(0, s.Leader)
		}
		sm.At(f.At, func() {
			var err error
			if f.Kind == "crash" {
				err = sm.Crash(paxos.NodeID(id))
			} else {
				err = sm.Restart(paxos.NodeID(id))
			}
			if err != nil && faultErr == nil {
				faultErr = fmt.Errorf("fault %s replica %d at %v: %w", f.Kind, id, f.At, err)
			}
		})
	}
	end := s.Warmup + s.Duration
	// Run in slices of virtual time. Within a slice, check for interruption
	// every few thousand events, and give up on a slice that takes an absurd
	// number of events: a protocol that keeps sending without virtual time
	// advancing (a livelock) would otherwise hang the benchmark.
	const slice = 100 * time.Millisecond
	var stall error
	for t := slice; ; t += slice {
		if t > end {
			t = end
		}
		first := sm.Events()
		lastNow, sameFrom := sm.Now(), first
		stopped := sm.RunUntil(func() bool {
			ev := sm.Events()
			n := ev - first
			if n%4096 != 0 || n == 0 {
				return false
			}
			if ctx.Err() != nil {
				return true
			}
			if now := sm.Now(); now != lastNow {
				lastNow, sameFrom = now, ev
			} else if ev-sameFrom >= maxEventsAtOneInstant {
				stall = fmt.Errorf("%s made %d simulator events at the single instant t=%v: operations complete in zero virtual time "+
					"(e.g. a quorum of the leader alone, --q2 1, with clients at the leader and no --cpu-us) or the protocol livelocks; "+
					"add a CPU cost or move the clients", proto, ev-sameFrom, now)
				return true
			}
			if n >= maxEventsPerSlice {
				stall = fmt.Errorf("%s made %d simulator events within 100 ms of virtual time at t=%v (a livelock in the protocol?); "+
					"rerun with a smaller setup to debug, or report it", proto, n, sm.Now())
				return true
			}
			return false
		}, t)
		if err := ctx.Err(); err != nil {
			return runRec{}, 0, err
		}
		if stall != nil {
			return runRec{}, 0, stall
		}
		if !stopped {
			sm.Run(t)
		}
		if t == end {
			break
		}
	}
	if faultErr != nil {
		return runRec{}, 0, faultErr
	}
	hist := sm.History()
	rec := runRec{end: end, ops: make([]opRec, len(hist))}
	for i, op := range hist {
		rec.ops[i] = opRec{Site: int(op.Site), Call: op.Call, Return: op.Return, Done: op.Done,
			Commit: op.Commit, Committed: op.Committed, Path: op.Path}
	}
	return rec, sm.Events(), nil
}
