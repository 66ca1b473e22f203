package check

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Faults for runs with leader leases (Config.LeaseTicks > 0), where a
// leader answers reads from its own state on the strength of its clock and
// of its followers' promises not to elect anyone else for a while. What
// breaks a lease shows only when reads reach a replica just as leadership
// moves away from it or to it, and when clocks run at slightly different
// rates; the other faults are timed without regard to either, and the
// races' clock jumps are off in such runs (a correct lease cannot survive
// a jump). These faults act only in lease runs (leaseInjectors in
// faults.go), so runs without leases stay what they were. They draw from
// random streams of their own.

// leaseDrift is the largest relative clock drift these faults inject in
// runs with leases of leaseTicks ticks: every replica's clock runs at a
// rate within 1 ± leaseDrift of the simulator's. Leases as multi implements
// them (see its package doc) hold while the leader's leaseTicks-2 ticks
// last no longer than a follower's leaseTicks-1, that is while two clock
// rates differ by at most a factor (leaseTicks-1)/(leaseTicks-2); rates in
// 1 ± 1/(2·leaseTicks-3) reach that factor exactly, and this stays below:
// 1 ± 1/(2·leaseTicks-2) (±10% for 6-tick leases, a ratio of 1.22 against
// the 1.25 allowed). A lease with a smaller margin than that argument needs
// fails under it; a correct one must not.
func leaseDrift(leaseTicks int) float64 {
	if leaseTicks < 3 {
		return 0
	}
	return 1 / float64(2*leaseTicks-2)
}

// injectClockDrift makes, in half the lease runs, every replica's clock
// run at its own constant rate within the drift bound (leaseDrift): each
// replica at one end of the range or the other, or anywhere in it.
func injectClockDrift(e *faultEnv) {
	rng := rand.New(rand.NewPCG(e.seed, 0x6472696674))
	d := leaseDrift(e.leaseTicks)
	if d == 0 || rng.IntN(2) == 0 {
		return
	}
	extremes := rng.IntN(2) == 0
	for id := 0; id < e.n; id++ {
		rate := 1 - d + 2*d*rng.Float64()
		if extremes {
			rate = 1 - d + 2*d*float64(rng.IntN(2))
		}
		e.s.SetClockRate(paxos.NodeID(id), rate)
	}
}

// injectLeaseHandovers moves leadership away from a leader while clients
// read at it, in three quarters of the lease runs, every 250 to 900 ms of
// the fault window. At each, L is the replica that says it leads and C
// another replica; a writer at C's site puts a key the workload wrote
// before (as fast as one outstanding put allows, up to 10 to 40 puts), and
// readers read it at L's site (100 to 1,000 reads a second, see
// leaseClients) and, in half of them, at every other site (a quarter of
// that). Then, each part drawn separately:
//   - in three quarters, the link between L and C fails both ways, so
//     that C times out and campaigns while the others still hear L (they
//     must refuse C while they grant L a lease);
//   - in a third, links between L and some of the others turn slow (every
//     message delayed by up to 10 to 200 ms), so that acknowledgements
//     arrive long after they were sent;
//   - in three quarters, L's clock runs at the slow end of the drift
//     bound and the others' at the fast end (leaseDrift), so that L's view
//     of its lease and its followers' promise differ by as much as a
//     correct lease tolerates;
//   - in three quarters, 100 to 350 ms later, L is cut off from every
//     other replica both ways (its clients still reach it) for 40 to
//     300 ms, so that the others elect a new leader, which commits the
//     writes, while L's readers keep asking L.
//
// A lease that outlives the followers' promise, a follower that promises
// despite a lease, or a deposed leader that answers reads without
// confirming it still leads, then answers a read with a value older than
// a write that completed before it.
func injectLeaseHandovers(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x68616e646f766572))
	if n < 3 || rng.IntN(4) == 0 {
		return
	}
	ms := time.Millisecond
	for t := dur(rng, 100*ms, 500*ms); t < window; t += dur(rng, 250*ms, 900*ms) {
		cutC, slow, drift, isolate := rng.IntN(4) != 0, rng.IntN(3) == 0, rng.IntN(4) != 0, rng.IntN(4) != 0
		delay := dur(rng, 10*ms, 200*ms)
		before, isolated := dur(rng, 100*ms, 350*ms), dur(rng, 40*ms, 300*ms)
		end := min(t+before+isolated, window)
		readAll, rate := rng.IntN(2) == 0, 100+900*rng.Float64()
		pick := rng.Uint64()
		s.At(t, func() {
			l := leaderNow(e)
			if l < 0 {
				return
			}
			r := rand.New(rand.NewPCG(pick, 0x68616e646f766572))
			others := othersThan(n, l)
			c := others[r.IntN(len(others))]
			var held []link
			if cutC {
				held = e.cut(between([]int{l}, []int{c}))
			}
			var slowed []link
			if slow {
				for _, q := range r.Perm(n) {
					if q != l && q != c && (len(slowed) == 0 || r.IntN(2) == 0) {
						slowed = append(slowed, link{l, q}, link{q, l})
					}
				}
				setLinks(s, slowed, sim.Faults{Reorder: 1, ReorderDelay: delay})
			}
			if drift {
				if d := leaseDrift(e.leaseTicks); d > 0 {
					for id := 0; id < n; id++ {
						s.SetClockRate(paxos.NodeID(id), 1+d-2*d*b2f(id == l))
					}
				}
			}
			span := end - s.Now()
			if key, ok := writtenKey(s, r); ok {
				cl := e.leaseClients()
				cl.stream(c, key, true, rate, span, 10+r.IntN(30), r)
				cl.stream(l, key, false, rate, span, 40, r)
				if readAll {
					for _, q := range others {
						cl.stream(q, key, false, rate/4, span, 10, r)
					}
				}
			}
			if isolate && t+before < end { // end is at most the end of the fault window, when every cut heals
				s.At(t+before, func() { held = append(held, e.cut(between([]int{l}, others))...) })
			}
			s.At(end, func() {
				e.heal(held)
				setLinks(s, slowed, sim.Faults{})
			})
		})
	}
}

// injectLeaderDeaths kills a leader right after it decides, in three
// quarters of the lease runs, one to four times in the fault window, while
// clients read at every other replica: at each, a writer at the leader L's
// site puts a key the workload wrote before, and readers read it at every
// other site (100 to 1,000 reads a second, see leaseClients); 20 to 300 ms
// later, the first time L learns a decision, the messages of that step to
// other replicas are lost (its answers to its own clients are not) and L
// crashes (restarting 100 to 600 ms later), and, in half of them, every link loses 10 to 40% of its
// messages for 100 to 400 ms. The write L answered is then known to L's
// voters as accepted only: a new leader must re-propose it, while its
// heartbeats (repeated every tick, where the lost re-proposal waits for a
// retry) may already give it a lease. A leader that reads before it has
// executed what it took over, or answers reads without confirming its
// commit index, returns a value older than that write.
func injectLeaderDeaths(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x6465617468))
	if n < 3 || rng.IntN(4) == 0 {
		return
	}
	ms := time.Millisecond
	var armed []func(sim.Output)
	for t := dur(rng, 100*ms, 700*ms); t < window; t += dur(rng, 500*ms, 1500*ms) {
		wait, down := dur(rng, 20*ms, 300*ms), dur(rng, 100*ms, 600*ms)
		lossy, loss, lossFor := rng.IntN(2) == 0, 0.1+0.3*rng.Float64(), dur(rng, 100*ms, 400*ms)
		rate := 100 + 900*rng.Float64()
		pick := rng.Uint64()
		s.At(t, func() {
			l := leaderNow(e)
			if l < 0 {
				return
			}
			r := rand.New(rand.NewPCG(pick, 0x6465617468))
			others := othersThan(n, l)
			if key, ok := writtenKey(s, r); ok {
				cl := e.leaseClients()
				cl.stream(l, key, true, rate, wait+down, 10+r.IntN(30), r)
				for _, q := range others {
					cl.stream(q, key, false, rate, wait+down, 40, r)
				}
			}
			deadline := min(t+wait+down, window)
			s.At(t+wait, func() {
				armed = append(armed, func(o sim.Output) {
					if int(o.Replica) != l || e.down[l] || s.Now() > deadline || len(o.Ready.Decided) == 0 {
						return
					}
					lost := e.cut(between([]int{l}, others))
					s.At(s.Now(), func() {
						e.heal(lost)
						if !e.crash(l) {
							return
						}
						s.At(s.Now()+down, func() { e.restart(l) })
						if lossy {
							var all []link
							for _, a := range others {
								for _, b := range others {
									if a != b {
										all = append(all, link{a, b})
									}
								}
							}
							setLinks(s, all, sim.Faults{Drop: loss})
							s.At(min(s.Now()+lossFor, window), func() { setLinks(s, all, sim.Faults{}) })
						}
					})
					deadline = 0 // once per round
				})
			})
		})
	}
	e.observers = append(e.observers, func(o sim.Output) {
		for _, fn := range armed {
			fn(o)
		}
	})
}

// leaderNow returns a running replica that says it leads, or -1.
func leaderNow(e *faultEnv) int {
	for i := 0; i < e.n; i++ {
		if l, ok := e.s.Replica(paxos.NodeID(i)).(interface{ IsLeader() bool }); ok && !e.down[i] && e.s.Alive(paxos.NodeID(i)) && l.IsLeader() {
			return i
		}
	}
	return -1
}

// othersThan lists the replicas of 0..n-1 other than id.
func othersThan(n, id int) []int {
	out := make([]int, 0, n-1)
	for q := 0; q < n; q++ {
		if q != id {
			out = append(out, q)
		}
	}
	return out
}

// setLinks sets the message faults of links.
func setLinks(s *sim.Sim, links []link, f sim.Faults) {
	for _, l := range links {
		s.SetLinkFaults(paxos.NodeID(l.from), paxos.NodeID(l.to), f)
	}
}

// writtenKey returns the key of a put of the history so far, if any (none
// in runs of applications without puts, which these clients then leave
// alone).
func writtenKey(s *sim.Sim, rng *rand.Rand) (string, bool) {
	var keys []string
	for _, o := range s.History() {
		if o.Op == paxos.OpPut {
			keys = append(keys, o.Key)
		}
	}
	if len(keys) == 0 {
		return "", false
	}
	return keys[rng.IntN(len(keys))], true
}

// leaseClients are the clients the lease faults add to a run: at each
// site, at most one of their puts and two of their gets are outstanding at
// a time, whichever fault added them, and nine over all sites, so that operations stuck at a replica that cannot serve
// them (and every pending operation overlaps everything after it, which
// the linearizability search pays for) do not pile up.
type leaseClients struct {
	s    *sim.Sim
	out  map[leaseSlot][]int // history indexes of the operations outstanding
	puts int
}

// leaseSlot is a site and an operation kind (puts or gets).
type leaseSlot struct {
	site int
	put  bool
}

// leaseOutstanding is how many of the lease clients' puts and gets may be
// outstanding at once at a site.
var leaseOutstanding = map[bool]int{true: 1, false: 2}

// leaseOutstandingAll caps the lease clients' outstanding operations over
// all sites (the per-site caps alone reach it at N = 3): at N = 7 the
// per-site caps allow 21, which, with the workload's own clients, can
// overlap beyond what the linearizability search decides in time.
const leaseOutstandingAll = 9

// leaseClients returns the run's lease clients.
func (e *faultEnv) leaseClients() *leaseClients {
	if e.lease == nil {
		e.lease = &leaseClients{s: e.s, out: map[leaseSlot][]int{}}
	}
	return e.lease
}

// stream issues operations on key at site for about span, at Poisson
// times rate a second (at least one, at most max), each by a client of its
// own (a closed-loop client issues its next operation at once, with no
// pause): puts of values unique in the run, or gets. An operation is
// skipped while the site has as many outstanding as leaseOutstanding allows.
func (c *leaseClients) stream(site int, key string, put bool, rate float64, span time.Duration, max int, rng *rand.Rand) {
	s, left, end := c.s, max, c.s.Now()+span
	var next func()
	next = func() {
		if left == 0 {
			return
		}
		slot := leaseSlot{site, put}
		all := 0
		for k := range c.out {
			c.out[k] = slices.DeleteFunc(c.out[k], s.Returned)
			all += len(c.out[k])
		}
		if len(c.out[slot]) < leaseOutstanding[put] && all < leaseOutstandingAll {
			cmd := paxos.Command{Op: paxos.OpGet, Key: key}
			if put {
				c.puts++
				cmd = paxos.Command{Op: paxos.OpPut, Key: key, Value: fmt.Sprintf("lease%d", c.puts)}
			}
			c.out[slot] = append(c.out[slot], s.Operations())
			left--
			s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Ops: 1,
				Workload: sim.WorkloadFunc(func(*rand.Rand) paxos.Command { return cmd })})
		}
		if at := s.Now() + time.Duration(rng.ExpFloat64()/rate*float64(time.Second)); at < end {
			s.At(at, next)
		}
	}
	next()
}

// leaseSwarm returns the injectors of a run with leases: in a quarter of
// the runs the lease faults of the chosen kinds alone, in an otherwise
// quiet run (a handover interrupted by nothing else); in another quarter
// the lease edges alone (injectLeaseEdges, when partitions are among the
// faults: their timing holds only in a cluster nothing else disturbs); in
// a quarter all of the lease faults with the swarm of the other injectors;
// in the rest, when partitions are among the faults, the staggered lease
// edges alone in half of them (staggerAlone, search_lease_stagger.go) and
// otherwise one swarm over both (the staggered edges, which need a quiet
// cluster as the lease edges do, never join a swarm). Left to the swarm
// alone, the lease faults would act in about a third of the lease runs and
// almost never alone.
func leaseSwarm(has map[string]bool, seed uint64) []injector {
	var lease []injector
	for _, in := range withoutStagger(leaseInjectors) {
		if has[in.kind] {
			lease = append(lease, in)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c65617365737761))
	switch rng.IntN(8) {
	case 0, 1:
		if len(lease) > 0 {
			return lease
		}
		return swarm(injectors, has, seed)
	case 2, 3:
		if has[FaultPartition] {
			return []injector{{FaultPartition, injectLeaseEdges}}
		}
	case 4, 5:
		return append(swarm(injectors, has, seed), lease...)
	}
	if has[FaultPartition] && staggerAlone(seed) { // search_lease_stagger.go
		return []injector{{FaultPartition, injectLeaseStagger}}
	}
	return swarm(append(slices.Clone(injectors), withoutStagger(leaseInjectors)...), has, seed)
}
