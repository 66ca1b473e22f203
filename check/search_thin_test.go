package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// thinSeeds returns the first count seeds from 1 whose runs at N = n with
// every fault (with leases when lease > 0) use the injector want alone
// through thinAlone.
func thinSeeds(n, lease, count int, want func(e *faultEnv)) []uint64 {
	var out []uint64
	for seed := uint64(1); len(out) < count; seed++ {
		has := map[string]bool{}
		for _, f := range varyFaults(AllFaults, seed) {
			has[f] = true
		}
		on := thinAlone(nil, has, seed, n, lease)
		if len(on) == 1 && on[0].is(want) {
			out = append(out, seed)
		}
	}
	return out
}

// The minority leaders keep correct protocols correct: Multi-Paxos and
// Flexible Paxos with leases (local reads) and Raft (ReadIndex reads) pass
// the runs in which they act, at N = 3, 5 and 7.
func TestMinorityLeadersKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, n := range []int{3, 5, 7} {
		for _, c := range []struct {
			proto string
			lease int
		}{{"multi", 6}, {"flexible", 6}, {"raft", 4}} {
			opts := Options{Protocol: c.proto, Replicas: n, Faults: AllFaults,
				Replica: paxos.Config{InitialLeader: -1, LeaseTicks: c.lease}}
			acted := 0
			for _, seed := range thinSeeds(n, c.lease, 3, injectMinorityLeaders) {
				opts.Seed = seed
				res, err := Run(opts)
				require.NoError(t, err)
				assert.Empty(t, res.Failures, "%s lease=%d n=%d seed=%d", c.proto, c.lease, n, seed)
				acted += res.Partitions
			}
			assert.Positive(t, acted, "%s n=%d: the fault never acted", c.proto, n)
		}
	}
}

// At five replicas the minority leaders catch a lease that runs from the
// freshest acknowledgement of the quorum instead of the oldest it needs
// (3 failing seeds of 500 before them): the leader keeps one follower,
// whose acknowledgements renew the lease, while the other three elect a
// leader and commit.
func TestMinorityLeadersCatchLeaseFromFreshestAck(t *testing.T) {
	first := firstLeaseKill(t, "multi/lease-from-freshest-ack", 5, thinSeeds(5, 6, 3, injectMinorityLeaders))
	require.Positive(t, first, "multi/lease-from-freshest-ack at N = 5 survived 3 minority-leader seeds")
	t.Logf("caught at seed %d", first)
}

// The low torn rounds, alone, keep the correct protocols correct (and live
// once they heal) at N = 3 and 5.
func TestLowTornRoundsKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, proto := range []string{"basic", "multi", "flexible", "epaxos", "fastpaxos", "raft"} {
		for _, n := range []int{3, 5} {
			for _, seed := range thinSeeds(n, 0, 2, injectLowTornRounds) {
				res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: AllFaults,
					Replica: paxos.Config{InitialLeader: -1}})
				require.NoError(t, err)
				assert.True(t, res.OK(), "%s n=%d seed %d: %v", proto, n, seed, res.Failures)
			}
		}
	}
}

// The low torn rounds catch a Basic Paxos proposer that compares the
// accepted ballots its promises report by round only (2 and 4 failing
// seeds of 500 at N = 3 and 5 before them): the filler that took over the
// torn proposer's slot has a higher id, so its ballot shares the torn
// one's round.
func TestLowTornRoundsCatchAdoptRoundOnly(t *testing.T) {
	m, err := paxos.LookupMutant("basic/adopt-round-only")
	require.NoError(t, err)
	for _, n := range []int{3, 5} {
		first := uint64(0)
		for _, seed := range thinSeeds(n, 0, 20, injectLowTornRounds) {
			res, err := Run(Options{New: m.New, Replicas: n, Seed: seed, Faults: AllFaults})
			require.NoError(t, err)
			if !res.OK() {
				first = seed
				assert.Contains(t, res.Failures[0], "decided twice", "n=%d seed %d", n, seed)
				break
			}
		}
		require.Positive(t, first, "basic/adopt-round-only at N = %d survived 20 low-torn seeds", n)
		t.Logf("n=%d: caught at seed %d", n, first)
	}
}
