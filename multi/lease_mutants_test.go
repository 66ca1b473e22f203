package multi

import (
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// cutBoth cuts the link between a and b both ways.
func cutBoth(a, b paxos.NodeID) func(*sim.Sim) error {
	return func(s *sim.Sim) error {
		if err := s.Cut(a, b); err != nil {
			return err
		}
		return s.Cut(b, a)
	}
}

// TestFollowerIgnoringLeaseServesStaleReads is the scripted scenario of
// the planted bug multi/follower-ignores-lease, which the random search
// rarely reaches: leader 0 holds a read lease, the link between 0 and 1
// fails both ways while 2 still hears both. Replica 1 times out and asks
// 2 for a promise; a correct 2 refuses while it grants 0 the lease, the
// broken one promises, so 1 leads and commits writes while 0 still
// believes its lease and answers reads from its stale state.
func TestFollowerIgnoringLeaseServesStaleReads(t *testing.T) {
	leaseScenario{seed: 7, rtt: sim.Uniform(3, 4), writerSites: []paxos.NodeID{1}, readRate: 500,
		steps: []leaseStep{{fault: cutBoth(0, 1), run: 1200 * time.Millisecond}},
	}.check(t, "multi/follower-ignores-lease")
}

// TestLeaseFromAckArrivalServesStaleReads is the scripted scenario of the
// planted bug multi/lease-from-ack-arrival: the link between leader 0 and
// replica 2 is slow (160 ms round trips, longer than the 60 ms lease), the
// one between 0 and 1 fails. A correct leader never holds a lease, since
// no acknowledged heartbeat is recent enough; the broken one counts from a
// reply's arrival, 80 ms after 2 promised, and believes its lease for 40 ms
// more. When 0's heartbeats stop reaching 2, 2's promise expires about 60
// ms before 0's belief does: 1 is elected with 2 in that window, commits
// writes, and 0 answers reads from its stale state.
func TestLeaseFromAckArrivalServesStaleReads(t *testing.T) {
	rtt := sim.Uniform(3, 4)
	rtt[0][2], rtt[2][0] = 160, 160
	leaseScenario{seed: 7, rtt: rtt, writerSites: []paxos.NodeID{1}, readRate: 500,
		steps: []leaseStep{
			{fault: cutBoth(0, 1), run: 500 * time.Millisecond},
			{fault: func(s *sim.Sim) error { return s.Cut(0, 2) }, run: 1200 * time.Millisecond},
		},
	}.check(t, "multi/lease-from-ack-arrival")
}

// TestRestartForgettingLeaseServesStaleReads is the scripted scenario of
// the planted bug multi/restart-forgets-lease (the random search reaches
// it with the amnesiac lease grantors of check/search_lease_amnesia.go):
// leader 0 holds a read lease, the link between 0 and 1
// fails both ways, and 1 campaigns while 2, which grants 0 the lease,
// refuses it. Then 2 loses its link to 0 and restarts at once, and 1's
// next Prepare comes right away (its clock jumps to its retry). A correct
// 2 still refuses, since it may have granted a lease before the crash; the
// broken one promises, so 1 leads and commits a write while 0 still
// believes its lease and answers reads from its stale state.
func TestRestartForgettingLeaseServesStaleReads(t *testing.T) {
	leaseScenario{seed: 7, rtt: sim.Uniform(3, 4), writerSites: []paxos.NodeID{1}, readRate: 500,
		steps: []leaseStep{
			{fault: cutBoth(0, 1), run: 600 * time.Millisecond},
			{fault: func(s *sim.Sim) error {
				if err := cutBoth(0, 2)(s); err != nil {
					return err
				}
				if err := s.Crash(2); err != nil {
					return err
				}
				if err := s.Restart(2); err != nil {
					return err
				}
				return s.Advance(1, 5)
			}, run: 1800 * time.Millisecond},
		},
	}.check(t, "multi/restart-forgets-lease")
}
