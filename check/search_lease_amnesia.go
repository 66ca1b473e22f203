package check

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Amnesiac lease grantors (runs with leases only, see leaseInjectors). A
// follower that granted a leader a read lease keeps that promise in
// memory only: a replica that restarts cannot know whether it granted one
// before the crash, so it must refuse other leaders until any lease it
// may have granted has run out. The other lease faults crash followers at
// random times, and a rival asks for their promise on its own schedule,
// so a restart rarely comes just before a rival asks while the old leader
// still reads under its lease. This brings the three together, from what
// the simulator shows of the replicas (when one starts a round on its
// own), never from message types.

// amnesiaMaxJump bounds the ticks a campaigning rival's clock runs ahead.
const amnesiaMaxJump = 40

// injectLeaseAmnesia, in three quarters of the lease runs, every 100 to
// 400 ms of the fault window: with L the replica that says it leads and C
// another replica (in half the rounds the one nearest to the rest), cuts
// the link between L and C both ways, so that C times out and campaigns
// while the others, which still hear L, refuse it; a writer at C's site
// puts a key the workload wrote before and readers read it at L's site
// (1,000 to 4,000 a second; at N = 5 and more from L's cut below on, so
// that the reads, at most 60 a round, are not spent before it). At N = 5
// and more every link's delay is drawn anew each round, 1 to 2.5 ms one
// way (a LAN): C's two round trips to a quorum of restarted replicas then
// fit in L's lease. In three quarters of the rounds L's clock
// runs at the slow end of the drift the leases tolerate and the others'
// at the fast end (leaseDrift). 5 to 40 ms after C first starts a round
// on its own (a tick step that persists and sends to two peers or more:
// its campaign), L is cut off from everyone both ways, the others crash
// one after the other, each restarting 10 to 80 µs later, and C's clock
// then runs ahead, tick by tick, until it starts a round again (at most
// amnesiaMaxJump ticks). C's grant to L ran out before it campaigned
// (a follower campaigns only once it grants no lease) and a leader's
// lease, and a follower's grant, are measured between two ticks of one
// clock after the jump, so the jump is safe with leases. Restarted
// replicas that forget the lease they may have granted L then promise C
// at once, C commits the write and L, which still believes its lease,
// answers a read with the value before it. The cuts heal 40 to 200 ms
// after the crashes; a round whose C has not campaigned 300 ms after it
// began heals then.
func injectLeaseAmnesia(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x616d6e65736961))
	if n < 3 || e.leaseTicks < 1 {
		return
	}
	ms := time.Millisecond
	var onCampaign func(id int) // the current round's reaction, nil between rounds
	jumping, fired := -1, false
	var onBeat func(o sim.Output) // the current round's watch on L's tick sends
	e.observers = append(e.observers, func(o sim.Output) {
		if onBeat != nil && o.Input == nil && o.Proposed == nil && toSeveral(o) {
			onBeat(o)
		}
		if !firesTimeout(o) {
			return
		}
		if int(o.Replica) == jumping {
			fired = true
		}
		if onCampaign != nil {
			onCampaign(int(o.Replica))
		}
	})
	lan := rand.New(rand.NewPCG(e.seed, 0x616d6e6c616e))
	for t := dur(rng, 50*ms, 300*ms); t < window; t += dur(rng, 100*ms, 400*ms) {
		pick, wait, hold := rng.Uint64(), dur(rng, 5*ms, 40*ms), dur(rng, 40*ms, 200*ms)
		near, drift, rate := rng.IntN(4) != 0, rng.IntN(4) != 0, 1000+3000*rng.Float64()
		s.At(t, func() {
			l := leaderNow(e)
			if onCampaign != nil || l < 0 {
				return
			}
			if n > 3 {
				// A LAN, drawn anew each round: the rival's two round
				// trips to its quorum must fit in the old leader's lease.
				for a := 0; a < n; a++ {
					for b := a + 1; b < n; b++ {
						oneWay := dur(lan, ms, 2500*time.Microsecond)
						s.SetDelay(paxos.NodeID(a), paxos.NodeID(b), oneWay)
						s.SetDelay(paxos.NodeID(b), paxos.NodeID(a), oneWay)
					}
				}
			}
			r := rand.New(rand.NewPCG(pick, 0x616d6e65736961))
			others := othersThan(n, l)
			c := others[r.IntN(len(others))]
			if near {
				c = nearest(s, others)
			}
			rest := slices.DeleteFunc(slices.Clone(others), func(q int) bool { return q == c })
			if d := leaseDrift(e.leaseTicks); drift && d > 0 {
				for id := 0; id < n; id++ {
					s.SetClockRate(paxos.NodeID(id), 1+d-2*d*b2f(id == l))
				}
			}
			held := e.cut(between([]int{l}, []int{c}))
			giveUp := min(s.Now()+300*ms, window)
			key, haveKey := writtenKey(s, r)
			if haveKey {
				cl := e.leaseClients()
				cl.stream(c, key, true, rate/4, giveUp+hold-s.Now(), 3, r)
				if n == 3 {
					cl.stream(l, key, false, rate, giveUp+hold-s.Now(), 60, r)
				}
			}
			done := false
			finish := func() {
				if !done {
					done, onCampaign, onBeat = true, nil, nil
					e.heal(held)
				}
			}
			fire := func() {
				if done || s.Now() >= window {
					finish()
					return
				}
				var out []link
				for _, q := range others {
					out = append(out, link{l, q})
				}
				held = append(held, e.cut(out)...)
				if haveKey && n > 3 {
					// Read at L from its cut on, while its lease lasts.
					e.leaseClients().stream(l, key, false, rate, hold, 60, r)
				}
				at := s.Now()
				for _, q := range rest {
					back := at + dur(r, 10*time.Microsecond, 80*time.Microsecond)
					s.At(at, func() {
						if e.crash(q) {
							s.At(back, func() { e.restart(q) })
						}
					})
					at = back + 10*time.Microsecond
				}
				s.At(at, func() {
					if !e.down[c] && s.Alive(paxos.NodeID(c)) {
						jumping, fired = c, false
						for k := 0; k < amnesiaMaxJump && !fired && s.Alive(paxos.NodeID(c)); k++ {
							_ = s.Advance(paxos.NodeID(c), 1)
						}
						jumping = -1
					}
					s.At(min(s.Now()+hold, window), finish)
				})
			}
			aimed := false
			onCampaign = func(id int) {
				if id == c && !aimed {
					aimed = true
					s.At(s.Now()+wait, func() {
						// Fire once L's next tick sends have reached the
						// others, so that L's lease is as fresh as it gets.
						onBeat = func(o sim.Output) {
							if int(o.Replica) != l {
								return
							}
							onBeat = nil
							reach := time.Duration(0)
							for _, q := range rest {
								reach = max(reach, s.Delay(paxos.NodeID(l), paxos.NodeID(q)))
							}
							s.At(s.Now()+reach+dur(r, 50*time.Microsecond, ms), fire)
						}
						s.At(s.Now()+20*ms, func() {
							if onBeat != nil {
								onBeat = nil
								fire()
							}
						})
					})
				}
			}
			s.At(giveUp, func() {
				if !aimed {
					finish()
				}
			})
		})
	}
}

// nearest returns the replica of ids with the smallest sum of message
// delays to and from the other replicas of ids (the quickest to win them
// over), the lowest id on a tie.
func nearest(s *sim.Sim, ids []int) int {
	best, bestSum := -1, time.Duration(0)
	for _, c := range ids {
		var sum time.Duration
		for _, q := range ids {
			if q != c {
				sum += s.Delay(paxos.NodeID(c), paxos.NodeID(q)) + s.Delay(paxos.NodeID(q), paxos.NodeID(c))
			}
		}
		if best < 0 || sum < bestSum {
			best, bestSum = c, sum
		}
	}
	return best
}

// toSeveral reports whether a Ready sends messages to two peers or more.
func toSeveral(o sim.Output) bool {
	for i := range o.Ready.Messages {
		if o.Ready.Messages[i].To != o.Ready.Messages[0].To {
			return true
		}
	}
	return false
}

// amnesiaAlone replaces, in a third of the runs with leases whose
// faults include crashes at N = 3, and in one in amnesiaOneIn of them at
// N = 5 and more (amnesiaShare), the injectors the run would use with
// injectLeaseAmnesia alone, in a cluster nothing else disturbs: its
// timing (a campaign, the old leader's fresh lease, the restarts and the
// rival's next round within a few milliseconds) holds only there. At
// N = 5 and 7 it catches a forgotten grant in nearly every run it takes,
// so a small share there leaves the other lease faults' runs (and a thin
// kill of theirs that a third of the runs moved from seed 28 to 473) as
// they were. It draws from its own random streams.
func amnesiaAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	rng := rand.New(rand.NewPCG(seed, 0x616d6e616c6f6e65))
	if n == 3 && leaseTicks > 0 && has[FaultCrash] && rng.IntN(3) == 0 {
		return []injector{{FaultCrash, injectLeaseAmnesia}}
	}
	if n > 3 && leaseTicks > 0 && has[FaultCrash] && amnesiaShare(seed) {
		return []injector{{FaultCrash, injectLeaseAmnesia}}
	}
	return on
}

// amnesiaShare reports whether a lease run with crashes at N = 5 or more
// has the amnesiac lease grantors alone (one in amnesiaOneIn), from a
// random stream of its own.
func amnesiaShare(seed uint64) bool {
	return rand.New(rand.NewPCG(seed, 0x616d6e7368617265)).IntN(amnesiaOneIn) == 0
}

// amnesiaOneIn is 1 over the share of the lease runs with crashes at N = 5
// or more that amnesiaShare gives the amnesiac lease grantors: alone they
// catch a forgotten grant in nearly every run there, and a small share
// leaves the other lease faults' runs (thin kills among them) as they were.
const amnesiaOneIn = 16
