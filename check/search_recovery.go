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
