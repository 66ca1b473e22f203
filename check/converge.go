package check

import (
	"fmt"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Convergence: at the end of a run whose faults healed and whose clients
// got every answer, the cluster runs on without client traffic, and every
// running replica of a protocol that promises followers catch up when
// quiet (paxos.Converger) must reach the same executed log prefix. A
// follower that never executes a decided slot goes unnoticed otherwise:
// its client retries elsewhere and gets its answer, and the run ends.

// quietMin is how long the cluster runs quiet before convergence is judged
// (many heartbeat rounds and election timeouts at the checker's 5 ms tick);
// quietBound is how long lagging replicas get to catch up in all.
const (
	quietMin   = time.Second
	quietBound = 10 * time.Second
)

// convergers returns the running replicas of s that implement
// paxos.Converger; a rebuilding replica counts as down, as everywhere in
// the checker.
func convergers(s *sim.Sim) map[paxos.NodeID]paxos.Converger {
	out := map[paxos.NodeID]paxos.Converger{}
	for i := 0; i < s.N(); i++ {
		id := paxos.NodeID(i)
		if !s.Alive(id) {
			continue
		}
		r := s.Replica(id)
		if rb, ok := r.(paxos.Rebuilder); ok && rb.Rebuilding() {
			continue
		}
		if c, ok := r.(paxos.Converger); ok {
			out[id] = c
		}
	}
	return out
}

// converged reports whether every running Converger replica of s has the
// same executed prefix.
func converged(s *sim.Sim) bool {
	first, seen := uint64(0), false
	for _, c := range convergers(s) {
		p := c.ExecutedPrefix()
		if seen && p != first {
			return false
		}
		first, seen = p, true
	}
	return true
}

// checkConvergence runs s quiet for at least quietMin and at most
// quietBound of virtual time until every running replica that implements
// paxos.Converger executed the same log prefix, and returns one failure
// per replica that still lags (none for protocols without the promise).
// It stops early, reporting nothing, when stop returns true (a safety
// violation, reported by the invariants).
func checkConvergence(s *sim.Sim, stop func() bool) []string {
	if len(convergers(s)) == 0 {
		return nil
	}
	start := s.Now()
	if s.RunUntil(func() bool { return stop() || s.Now() >= start+quietMin && converged(s) }, start+quietBound) {
		return nil
	}
	cs := convergers(s)
	var top uint64
	lead := paxos.NodeID(-1)
	for i := 0; i < s.N(); i++ {
		if c, ok := cs[paxos.NodeID(i)]; ok && (lead < 0 || c.ExecutedPrefix() > top) {
			top, lead = c.ExecutedPrefix(), paxos.NodeID(i)
		}
	}
	var out []string
	for i := 0; i < s.N(); i++ {
		c, ok := cs[paxos.NodeID(i)]
		if !ok || c.ExecutedPrefix() == top {
			continue
		}
		out = append(out, fmt.Sprintf("convergence: replica %d executed up to log position %d but replica %d up to %d, after %s (virtual) quiet with the faults healed and every client answered: replica %d lacks positions %d..%d",
			i, c.ExecutedPrefix(), lead, top, s.Now()-start, i, c.ExecutedPrefix()+1, top))
	}
	return out
}
