package multi

import (
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// driftApart sets leader 0's clock to run slow and the others' fast, each
// 1/(2k-2) off its nominal rate for k = 6-tick leases: rates that differ by
// a factor 1.22, inside the 1.25 that the lease margin tolerates (see the
// package doc).
func driftApart(s *sim.Sim) error {
	const d = 1.0 / 10
	if err := s.SetClockRate(0, 1-d); err != nil {
		return err
	}
	for id := paxos.NodeID(1); id < 3; id++ {
		if err := s.SetClockRate(id, 1+d); err != nil {
			return err
		}
	}
	return nil
}

// TestLeaseNoMarginUnderDrift is the scripted scenario of the planted bug
// multi/lease-no-margin: with clocks drifting within the bound the margin
// covers (leader 0 slow, the others fast), the link between 0 and 1 fails
// both ways, so 1 campaigns and 2 refuses it while it grants 0 the lease;
// then 0 is cut off from 2 as well. A correct leader's lease ends before
// 2's promise does; without the margin, 0 believes its lease for up to two
// ticks longer, during which 1 is elected with 2, commits writes, and 0
// answers reads from its stale state. Without the drift the same schedule
// does not catch the bug: the overlap is then under one tick, shorter than
// the election and commit the new leader needs.
func TestLeaseNoMarginUnderDrift(t *testing.T) {
	leaseScenario{seed: 5, rtt: sim.Uniform(3, 4), writerSites: []paxos.NodeID{1}, readRate: 1000,
		steps: []leaseStep{
			{fault: func(s *sim.Sim) error {
				if err := driftApart(s); err != nil {
					return err
				}
				return cutBoth(0, 1)(s)
			}, run: 500 * time.Millisecond},
			{fault: cutBoth(0, 2), run: 1200 * time.Millisecond},
		},
	}.check(t, "multi/lease-no-margin")
}
