package sim

import (
	"fmt"
	"time"

	"github.com/paxos-lab/paxos"
)

// Delay returns the one-way delay of the link from → to before faults and
// jitter (half the link's Config.RTT), or 0 for an unknown replica or a
// replica to itself. Fault injectors use it to pick replicas by how near
// they are to each other.
func (s *Sim) Delay(from, to paxos.NodeID) time.Duration {
	if s.checkID(from) != nil || s.checkID(to) != nil || from == to {
		return 0
	}
	return s.oneWay[int(from)*s.n+int(to)]
}

// NextTick returns when replica id ticks next and its tick interval
// (Config.Tick, or as SetClockRate made it), or ok false for an unknown or
// crashed replica. After that tick it ticks every interval until its rate
// changes, it is paused or it crashes. Fault injectors use it to time
// faults against a replica's clock.
func (s *Sim) NextTick(id paxos.NodeID) (at, interval time.Duration, ok bool) {
	if s.checkID(id) != nil || !s.nodes[id].alive {
		return 0, 0, false
	}
	return s.nodes[id].nextTick, s.tickOf(int(id)), true
}

// SetDelay sets the one-way delay of the link from → to (what Delay
// returns, before faults and jitter), as a route change would: messages
// sent from then on take d, those in flight keep the delay they were sent
// with (so later ones may overtake them). Fault injectors use it to make
// some links faster or slower for a while. d must be positive and from and
// to different replicas.
func (s *Sim) SetDelay(from, to paxos.NodeID, d time.Duration) error {
	if err := s.checkID(from); err != nil {
		return err
	}
	if err := s.checkID(to); err != nil {
		return err
	}
	if from == to || d <= 0 {
		return fmt.Errorf("%w: delay %v of link %d->%d, want a positive delay between two replicas", ErrReplica, d, from, to)
	}
	s.oneWay[int(from)*s.n+int(to)] = d
	s.maxRTT = max(s.maxRTT, 2*d)
	if s.cfg.Trace != nil {
		s.tracef("%d link-delay %d->%d %v\n", s.now, from, to, d)
	}
	return nil
}
