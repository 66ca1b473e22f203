package multi

import (
	"github.com/paxos-lab/paxos/quorum"
)

// canReadLocally reports whether a Get proposed here may be answered from
// local state: this replica leads, has executed every slot it took over in
// phase 1, and a phase-2 quorum (itself included) acknowledged a heartbeat
// recently enough that none of them will promise another leader yet.
func (r *Replica) canReadLocally() bool {
	if r.bug.leaseNeverExpires && r.everLeased {
		return true
	}
	if r.cfg.LeaseTicks <= 0 || r.role != leader || r.executed < r.recovered && !r.bug.leaseBeforeRecovered {
		return false
	}
	set := quorum.Of(int(r.id))
	if r.q.IsPhase2(set) {
		return true
	}
	// Find the latest send tick x such that the replicas that acknowledged
	// a heartbeat sent at or after x form a phase-2 quorum with us.
	freshest := uint64(0)
	for {
		best := uint64(0)
		for _, id := range r.others {
			if a := r.leaseAck[id]; a > 0 && !set.Has(int(id)) && a > best {
				best = a
			}
		}
		if best == 0 {
			return false
		}
		for _, id := range r.others {
			if r.leaseAck[id] == best {
				set = set.Add(int(id))
			}
		}
		freshest = max(freshest, best)
		if r.q.IsPhase2(set) || r.bug.leasePhase1Quorum && r.q.IsPhase1(set) {
			if r.bug.leaseFreshestAck {
				best = freshest
			}
			sent := best - 1
			held := r.now-sent < uint64(r.cfg.LeaseTicks-r.leaseMargin())
			r.everLeased = r.everLeased || held
			return held || r.bug.leaseNeverExpires
		}
	}
}
