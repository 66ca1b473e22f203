package check

import (
	"fmt"
	"time"

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
//
// It also watches election safety: a replica that implements
// paxos.ElectionReporter (Raft) and leads a term another replica led
// before ends the run at once, with the failure in election. A run that
// broke it used to go on until something was decided twice or the
// liveness bound, if ever: followers that took the other leader's entries
// keep refusing the leader's appends.
type decisionWatch struct {
	s         *sim.Sim
	seen      map[paxos.Instance]string // fingerprint of the first decision per instance
	next      int                       // decisions examined so far
	hit       bool
	elections *Elections
	election  string // the election-safety failure, if any
}

func newDecisionWatch(s *sim.Sim) *decisionWatch {
	return &decisionWatch{s: s, seen: map[paxos.Instance]string{}, elections: NewElections()}
}

// twoLeaders reports whether a running replica leads a term that another
// replica led before, and records the failure.
func (w *decisionWatch) twoLeaders() bool {
	for i := 0; i < w.s.N(); i++ {
		id := paxos.NodeID(i)
		if !w.s.Alive(id) {
			continue
		}
		failure, reports := w.elections.Observe(id, w.s.Replica(id))
		if !reports {
			return false // one protocol per cluster: none of them reports
		}
		if failure != "" {
			w.election = fmt.Sprintf("%s (at %s virtual)", failure, w.s.Now())
			return true
		}
	}
	return false
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
	if w.twoLeaders() {
		w.hit = true
		return true
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

// stallBound is how long, in virtual time after the faults healed, a run
// may go without any client operation completing while some are still
// outstanding before it is failed for liveness at once, without waiting
// for livenessBound. Correct protocols complete an operation within a few
// client retries once the network heals (with the bound at 5 s, 300 seeds
// of every protocol at N = 3, 5 and 7 and every check line of CI passed);
// a planted bug that
// stalls the cluster can otherwise keep a run going for livenessBound with
// ever more work per event (a raft leader resending its growing log to
// followers that refuse it took minutes of wall time for one seed).
const stallBound = 10 * time.Second

// progressWatch tells when no client operation has completed for
// stallBound of virtual time.
type progressWatch struct {
	s    *sim.Sim
	last time.Duration // when the completed count last changed
	done int           // the completed count then
	hit  bool
}

func (p *progressWatch) stalled() bool {
	if c := p.s.Completed(); c != p.done {
		p.done, p.last = c, p.s.Now()
	}
	if p.s.Now()-p.last > stallBound {
		p.hit = true
	}
	return p.hit
}
