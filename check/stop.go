package check

import (
	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// decisionWatch follows a run's decisions as the replicas report them and
// tells when two of them disagree on one instance, so that Run can end the
// run there. A run that broke safety used to go on to the end of the
// liveness bound (a replica stuck behind a slot decided twice keeps its
// clients retrying for two minutes of virtual time), which made a planted
// bug's failing seed cost far more than a passing one. The violation itself
// is still reported by OneValuePerInstance over what was recorded, the same
// message the full run would give first: the run stops at the first
// disagreeing decision in the order reported, which is the first one
// OneValuePerInstance names.
type decisionWatch struct {
	s    *sim.Sim
	seen map[paxos.Instance]string // fingerprint of the first decision per instance
	next int                       // decisions examined so far
	hit  bool
}

func newDecisionWatch(s *sim.Sim) *decisionWatch {
	return &decisionWatch{s: s, seen: map[paxos.Instance]string{}}
}

// stopAtDoubleDecision turns the early stop on; tests turn it off to
// compare a stopped run with the full one.
var stopAtDoubleDecision = true

// violated examines the decisions reported since its last call and reports
// whether any instance has been decided with two different values so far.
func (w *decisionWatch) violated() bool {
	if w.hit {
		return true
	}
	if !stopAtDoubleDecision {
		return false
	}
	for _, d := range w.s.DecisionsSince(w.next) {
		w.next++
		fp := fingerprint(d.Decision)
		if first, ok := w.seen[d.Instance]; !ok {
			w.seen[d.Instance] = fp
		} else if first != fp {
			w.hit = true
			return true
		}
	}
	return false
}
