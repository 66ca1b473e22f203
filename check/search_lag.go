package check

import (
	"math/rand/v2"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// lagAlone returns, in an eighth of the runs with leader leases whose
// faults include partitions, the lagging followers alone
// (injectLaggingFollowers), in an otherwise quiet run, and on in the
// others. Their timing (a put issued while one link is down and reads at
// the moment it heals; a leader deaf at the moment a rival campaigns)
// holds only in a cluster that nothing else disturbs: joined to the swarm
// of the other faults, they caught the planted bugs named below in about
// one run of a hundred; alone, in one run of ten to three of five.
func lagAlone(on []injector, has map[string]bool, seed uint64, leaseTicks int) []injector {
	rng := rand.New(rand.NewPCG(seed, 0x6c6167616c6f6e65))
	if leaseTicks <= 0 || !has[FaultPartition] || rng.IntN(8) != 0 {
		return on
	}
	return []injector{{FaultPartition, injectLaggingFollowers}}
}

// injectLaggingFollowers makes a follower miss the leader for a moment
// while clients read at one side what the other side just wrote. Every
// 150 to 600 ms of the fault window, L is the replica that says it leads
// and F another replica, and the link from L to F loses every message.
// Then, drawn per event:
//   - short (a third of them): the loss is one way only (F's own messages
//     still reach L) and lasts 5 to 40 ms, one put on a key the workload
//     wrote before is issued at L's site 0 to 5 ms into it, and readers at
//     F's site read that key for 20 to 150 ms from the moment the link
//     heals, so that F, one entry behind, has its read confirmed before
//     the leader's resent appends reach it. A replica that answers a
//     confirmed read before it has applied everything up to the index it
//     was given returns a value older than that put.
//   - long (two thirds): the loss lasts 60 to 400 ms both ways, long
//     enough for F to time out and campaign while the others still hear
//     L. The moment F starts a round of its own (see startsRound), L
//     hears nobody for 10 to 60 ms (it keeps the lease it holds and does
//     not learn of F's ballot), a writer at F's site puts the key and
//     readers at L's site read it; in half of these events L's clock runs
//     at the slow end of the drift bound and the others' at the fast end
//     (leaseDrift). A follower that promises F while it grants L a lease
//     lets F commit writes that L's lease reads then miss.
//
// It draws from its own random stream.
func injectLaggingFollowers(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x6c616767696e67))
	if n < 3 {
		return
	}
	ms := time.Millisecond
	var campaign *lagCampaign
	for t := dur(rng, 100*ms, 500*ms); t < window; t += dur(rng, 150*ms, 600*ms) {
		long, drift := rng.IntN(3) != 0, rng.IntN(2) == 0
		loss, putAt, reads := dur(rng, 5*ms, 40*ms), dur(rng, 0, 5*ms), dur(rng, 20*ms, 150*ms)
		if long {
			loss = dur(rng, 60*ms, 400*ms)
		}
		rate, deaf := 200+800*rng.Float64(), dur(rng, 10*ms, 60*ms)
		pick := rng.Uint64()
		s.At(t, func() {
			l := leaderNow(e)
			if l < 0 {
				return
			}
			r := rand.New(rand.NewPCG(pick, 0x6c616767696e67))
			others := othersThan(n, l)
			f := others[r.IntN(len(others))]
			key, ok := writtenKey(s, r)
			cut := []link{{l, f}}
			if long {
				cut = append(cut, link{f, l})
			}
			held := e.cut(cut)
			heal := min(s.Now()+loss, window)
			s.At(heal, func() { e.heal(held) })
			if !ok {
				return
			}
			cl := e.leaseClients()
			if !long {
				s.At(s.Now()+putAt, func() { cl.stream(l, key, true, 1000, time.Millisecond, 1, r) })
				s.At(heal, func() { cl.stream(f, key, false, rate, reads, 20, r) })
				return
			}
			if d := leaseDrift(e.leaseTicks); drift && d > 0 {
				for id := 0; id < n; id++ {
					s.SetClockRate(paxos.NodeID(id), 1+d-2*d*b2f(id == l))
				}
			}
			campaign = &lagCampaign{l: l, f: f, until: heal, deaf: deaf, start: func() {
				cl.stream(f, key, true, rate/2, deaf+reads, 5+r.IntN(20), r)
				cl.stream(l, key, false, rate, deaf+reads, 40, r)
			}}
		})
	}
	e.observers = append(e.observers, func(o sim.Output) {
		c := campaign
		if c == nil || int(o.Replica) != c.f || s.Now() > c.until || !startsRound(o) || leads(s, c.f) {
			return
		}
		campaign = nil // once per event
		var into []link
		for _, q := range othersThan(n, c.l) {
			into = append(into, link{q, c.l})
		}
		held := e.cut(into)
		s.At(min(s.Now()+c.deaf, window), func() { e.heal(held) })
		s.At(s.Now(), c.start)
	})
}

// lagCampaign is a long loss of injectLaggingFollowers waiting for F to
// start a round: L then hears nobody for deaf.
type lagCampaign struct {
	l, f  int
	until time.Duration
	deaf  time.Duration
	start func() // the writer at F's site and the readers at L's
}
