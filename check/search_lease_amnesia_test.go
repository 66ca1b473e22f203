package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// amnesiaSeeds returns the first count seeds from 1 whose lease runs at
// N = 3 with every fault use the amnesiac lease grantors alone.
func amnesiaSeeds(count int) []uint64 { return amnesiaSeedsAt(3, count) }

// amnesiaSeedsAt returns the first count seeds from 1 whose lease runs at
// N = n with every fault use the amnesiac lease grantors alone.
func amnesiaSeedsAt(n, count int) []uint64 {
	var out []uint64
	for seed := uint64(1); len(out) < count; seed++ {
		has := map[string]bool{}
		for _, f := range varyFaults(AllFaults, seed) {
			has[f] = true
		}
		on := amnesiaAlone(nil, has, seed, n, 6)
		if len(on) == 1 && on[0].is(injectLeaseAmnesia) {
			out = append(out, seed)
		}
	}
	return out
}

// The amnesiac lease grantors keep correct protocols correct: multi with
// leases (local reads, the rival's clock run ahead after the restarts) and
// raft (ReadIndex reads) pass the runs in which they act at N = 3.
func TestLeaseAmnesiaKeepsCorrectProtocolsCorrect(t *testing.T) {
	for _, c := range []struct {
		proto string
		lease int
	}{{"multi", 6}, {"flexible", 6}, {"raft", 4}} {
		opts := Options{Protocol: c.proto, Replicas: 3, Faults: AllFaults,
			Replica: paxos.Config{InitialLeader: -1, LeaseTicks: c.lease}}
		for _, seed := range amnesiaSeeds(10) {
			opts.Seed = seed
			res, err := Run(opts)
			require.NoError(t, err)
			assert.Empty(t, res.Failures, "%s lease=%d seed=%d", c.proto, c.lease, seed)
		}
	}
}

// The amnesiac lease grantors catch, at three replicas, a planted bug that
// survived 500 seeds of every fault before them: a follower that restarts
// and promises a rival at once, forgetting the lease it may have granted.
func TestLeaseAmnesiaCatchesForgottenGrant(t *testing.T) {
	first := firstLeaseKill(t, "multi/restart-forgets-lease", 3, amnesiaSeeds(30))
	require.Positive(t, first, "multi/restart-forgets-lease at N = 3 survived 30 amnesia seeds")
	t.Logf("caught at seed %d", first)
}

// At five and seven replicas the amnesiac lease grantors (on a LAN, with
// the reads at the old leader from its cut on) keep correct protocols
// correct.
func TestLeaseAmnesiaKeepsCorrectProtocolsCorrectAtFiveAndSeven(t *testing.T) {
	for _, n := range []int{5, 7} {
		for _, c := range []struct {
			proto string
			lease int
		}{{"multi", 6}, {"flexible", 4}, {"raft", 4}} {
			opts := Options{Protocol: c.proto, Replicas: n, Faults: AllFaults,
				Replica: paxos.Config{InitialLeader: -1, LeaseTicks: c.lease}}
			for _, seed := range amnesiaSeedsAt(n, 5) {
				opts.Seed = seed
				res, err := Run(opts)
				require.NoError(t, err)
				assert.Empty(t, res.Failures, "%s lease=%d n=%d seed=%d", c.proto, c.lease, n, seed)
			}
		}
	}
}

// The amnesiac lease grantors also catch the forgotten grant at five
// replicas, where it survived 500 seeds before they acted there.
func TestLeaseAmnesiaCatchesForgottenGrantAtFive(t *testing.T) {
	first := firstLeaseKill(t, "multi/restart-forgets-lease", 5, amnesiaSeedsAt(5, 5))
	require.Positive(t, first, "multi/restart-forgets-lease at N = 5 survived 5 amnesia seeds")
	t.Logf("caught at seed %d", first)
}
