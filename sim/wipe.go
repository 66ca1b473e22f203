package sim

import (
	"fmt"

	"github.com/paxos-lab/paxos"
)

// Wipe simulates a replica that loses its disk: replica id crashes (if it is
// running), its durable storage is erased, and a new incarnation starts at
// once from nothing with Config.Rebuild set, so that it rebuilds from its
// peers before it votes (see each protocol's package doc). What it persists
// from then on is kept as usual: a later Crash and Restart restores exactly
// that, with the template's Config.Rebuild (the replica's own records say
// whether the rebuild was still under way). The trace line's kind is wipe.
func (s *Sim) Wipe(id paxos.NodeID) error {
	if err := s.checkID(id); err != nil {
		return err
	}
	nd := &s.nodes[id]
	if nd.alive {
		if err := s.Crash(id); err != nil {
			return err
		}
	}
	nd.snap = nil
	clear(nd.records)
	nd.records = nd.records[:0]
	saved := s.cfg.Replica.Rebuild
	s.cfg.Replica.Rebuild = true
	rep, err := s.build(int(id), int(nd.inc)+1, nil)
	s.cfg.Replica.Rebuild = saved
	if err != nil {
		return fmt.Errorf("sim: wipe replica %d: %w", id, err)
	}
	nd.inc++
	nd.rep, nd.alive, nd.busy = rep, true, s.now
	if s.cfg.Trace != nil {
		s.tracef("%d wipe %d inc=%d\n", s.now, id, nd.inc)
	}
	// Its first records (the rebuild marker) are durable before anything
	// else happens, so a crash right after still restarts it rebuilding.
	s.drain(nd)
	s.scheduleTick(int(id), s.now+s.tickPhase())
	return nil
}
