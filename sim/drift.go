package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/paxos-lab/paxos"
)

// SetClockRate makes replica id's clock run rate times as fast as the
// simulator's: from its next tick on, it ticks every Config.Tick / rate of
// virtual time instead of every Config.Tick, across crashes and restarts,
// until changed again (rate 1 restores the nominal interval). It models
// bounded clock drift: a crystal that runs a little fast or slow, not a
// jump (see Advance). Rates must lie in [0.5, 2]; a protocol whose safety
// rests on clocks (leader leases) states the drift it tolerates, and a
// caller must stay within it.
func (s *Sim) SetClockRate(id paxos.NodeID, rate float64) error {
	if err := s.checkID(id); err != nil {
		return err
	}
	if !(rate >= 0.5 && rate <= 2) || math.IsNaN(rate) {
		return fmt.Errorf("%w: clock rate %v of replica %d, want 0.5 to 2", ErrReplica, rate, id)
	}
	s.nodes[id].tick = time.Duration(float64(s.cfg.Tick) / rate)
	if s.cfg.Trace != nil {
		s.tracef("%d clock-rate %d %.4f\n", s.now, id, rate)
	}
	return nil
}

// tickOf is replica id's tick interval (SetClockRate).
func (s *Sim) tickOf(id int) time.Duration {
	if t := s.nodes[id].tick; t > 0 {
		return t
	}
	return s.cfg.Tick
}
