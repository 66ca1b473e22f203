package sim

import (
	"fmt"

	"github.com/paxos-lab/paxos"
)

// Advance makes running replica id's clock jump ahead by ticks ticks now:
// the replica is ticked that many times in a row, its outputs leaving after
// each tick as they would on schedule, and its regular ticks go on as
// before. Timeouts that were close to firing (an election, a retry, a
// recovery) fire at once, as on a replica whose clock runs fast or that woke
// from a pause and caught up. A paused replica is left alone (its clock is
// frozen), and ticks must be positive.
func (s *Sim) Advance(id paxos.NodeID, ticks int) error {
	if err := s.checkID(id); err != nil {
		return err
	}
	nd := &s.nodes[id]
	switch {
	case !nd.alive:
		return fmt.Errorf("%w: replica %d is crashed; Restart it first", ErrReplica, id)
	case ticks < 1:
		return fmt.Errorf("%w: Advance by %d ticks, want at least 1", ErrReplica, ticks)
	case s.now < nd.paused:
		return nil
	}
	if s.cfg.Trace != nil {
		s.tracef("%d advance %d by %d ticks\n", s.now, id, ticks)
	}
	for i := 0; i < ticks && nd.alive; i++ {
		nd.rep.Tick()
		s.drain(nd)
	}
	return nil
}
