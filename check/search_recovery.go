package check

import (
	"math/rand/v2"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// injectSlowLinks adds, with the recovery faults, slow links in half the
// runs: a few times during the fault window, every message into one
// replica (or out of it) is held back for a while by a delay uniform up to
// 50 to 800 ms (sim.Faults.Reorder = 1 on those links). Nothing is lost,
// but messages overtake each other and arrive long after they were sent:
// a refusal before the Prepare that caused it, an Accept of an old round
// after a newer round's Prepare, a reply after its sender restarted. The
// other faults lose messages or stop replicas; none of them delivers old
// messages late. It draws from its own random stream, so the other faults
// of a seed stay as they were.
func injectSlowLinks(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x736c6f77))
	if n < 2 || rng.IntN(2) == 0 {
		return
	}
	ms := time.Millisecond
	for t := dur(rng, 20*ms, 600*ms); t < window; t += dur(rng, 200*ms, 1200*ms) {
		id := rng.IntN(n)
		inbound := rng.IntN(2) == 0
		f := sim.Faults{Reorder: 1, ReorderDelay: dur(rng, 50*ms, 800*ms)}
		until := min(t+dur(rng, 100*ms, 1500*ms), window)
		var links []link
		for q := 0; q < n; q++ {
			switch {
			case q == id:
			case inbound:
				links = append(links, link{q, id})
			default:
				links = append(links, link{id, q})
			}
		}
		set := func(f sim.Faults) {
			for _, l := range links {
				s.SetLinkFaults(paxos.NodeID(l.from), paxos.NodeID(l.to), f)
			}
		}
		s.At(t, func() { set(f) })
		s.At(until, func() { set(sim.Faults{}) })
	}
}

// injectTornBroadcasts adds, with the recovery faults, torn broadcasts in
// half the runs: when a replica announces a decision (see announces), in a
// share of those steps its messages reach only part of the others, and
// sometimes it crashes right after (it died in the middle of the
// broadcast). The others must then learn the decision from those that
// heard it or recover the slot or instance themselves, while replicas that
// voted for the decided value and never heard of the decision still answer
// with their votes: recovery must pick the decided value out of competing
// accepted ones. dieOnCommit in the recovery faults cuts all of the
// decider's messages, so nobody but its voters knows anything; this fault
// leaves the cluster split between replicas that know and ones that don't.
// It draws from its own random stream, so the other faults of a seed stay
// as they were.
func injectTornBroadcasts(e *faultEnv) {
	s, n := e.s, e.n
	rng := rand.New(rand.NewPCG(e.seed, 0x746f726e))
	if n < 3 || rng.IntN(2) == 0 {
		return
	}
	share := 0.1 + 0.5*rng.Float64()
	die := rng.Float64() / 2
	ms := time.Millisecond
	down := [2]time.Duration{20 * ms, 50*ms + upTo(rng, 800*ms)}
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if e.down[id] || !announces(o.Ready) || rng.Float64() >= share {
			return
		}
		var lost []link
		for _, q := range rng.Perm(n) {
			if q != id && (len(lost) == 0 || rng.IntN(2) == 0) {
				lost = append(lost, link{id, q})
			}
		}
		if len(lost) == n-1 {
			lost = lost[1:] // someone hears it
		}
		e.cut(lost)
		crash := rng.Float64() < die
		back := dur(rng, down[0], down[1])
		s.At(s.Now(), func() {
			e.heal(lost)
			if crash && e.crash(id) {
				s.At(s.Now()+back, func() { e.restart(id) })
			}
		})
	})
}
