package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The drift the lease faults inject stays strictly inside what multi's
// leases tolerate: rates within 1 ± leaseDrift(k) differ by less than a
// factor (k-1)/(k-2) (see multi's package doc), for every lease length
// multi accepts under the default election timeout; none without leases.
// The lease edges' drift is at the bound itself, less a thousandth.
func TestLeaseDriftWithinBound(t *testing.T) {
	assert.Zero(t, leaseDrift(0))
	assert.Zero(t, leaseDrift(2))
	for k := 3; k < paxos.DefaultElectionTicks; k++ {
		d := leaseDrift(k)
		assert.Positive(t, d)
		assert.Less(t, (1+d)/(1-d), float64(k-1)/float64(k-2), "LeaseTicks=%d", k)
		// The lease edges (search_lease_edge.go) go to the bound itself,
		// less a thousandth of it.
		edge := (1 + edgeDrift(k)) / (1 - edgeDrift(k))
		assert.Less(t, edge, float64(k-1)/float64(k-2), "LeaseTicks=%d", k)
		assert.Greater(t, edge, 0.999*float64(k-1)/float64(k-2), "LeaseTicks=%d", k)
	}
	assert.Zero(t, edgeDrift(2))
}

// The lease faults keep correct protocols correct: multi with leases (local
// reads) and raft (ReadIndex reads) pass with every fault under the lease
// lengths CI uses, and every operation completes once the faults heal.
func TestLeaseFaultsKeepCorrectProtocolsCorrect(t *testing.T) {
	leaseRunsPass(t, []uint64{1, 2, 3, 4, 5})
}

// leaseRunsPass checks that multi with 6-tick leases and raft with 4-tick
// ones pass the lease runs of seeds at N = 3 and 5, every fault on.
func leaseRunsPass(t *testing.T, seeds []uint64) {
	t.Helper()
	for _, c := range []struct {
		proto string
		lease int
	}{{"multi", 6}, {"raft", 4}} {
		for _, n := range []int{3, 5} {
			opts := Options{Protocol: c.proto, Replicas: n, Faults: AllFaults,
				Replica: paxos.Config{InitialLeader: -1, LeaseTicks: c.lease}}
			for _, seed := range seeds {
				opts.Seed = seed
				res, err := Run(opts)
				require.NoError(t, err)
				assert.Empty(t, res.Failures, "%s n=%d lease=%d seed=%d", c.proto, n, c.lease, seed)
			}
		}
	}
}

// The default search with leases catches planted lease bugs that survived
// 500 seeds before the lease faults: a new Multi-Paxos leader that reads
// under its lease before executing the slots it took over, and a raft
// leader that answers reads without a ReadIndex round, at N = 3 within 30
// seeds (at seeds 6 and 28; `paxos mutants` reports the first seed of each,
// at both sizes).
func TestLeaseSearchCatchesLeaseBugs(t *testing.T) {
	for _, c := range []struct {
		mutant string
		n      int
	}{{"multi/lease-read-before-recovered", 3}, {"raft/read-unconfirmed", 3}} {
		m, err := paxos.LookupMutant(c.mutant)
		require.NoError(t, err)
		opts := Options{New: m.New, Replicas: c.n, Faults: AllFaults,
			Replica: paxos.Config{InitialLeader: -1, LeaseTicks: 6}}
		first := uint64(0)
		for seed := uint64(1); seed <= 30 && first == 0; seed++ {
			opts.Seed = seed
			res, err := Run(opts)
			require.NoError(t, err)
			if !res.OK() {
				first = seed
			}
		}
		assert.Positive(t, first, "%s at N = %d survived 30 seeds", c.mutant, c.n)
		t.Logf("%s n=%d caught at seed %d", c.mutant, c.n, first)
	}
}
