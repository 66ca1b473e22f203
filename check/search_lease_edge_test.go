package check

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// edgeSeeds returns the first count seeds from 1 whose lease runs use the
// lease edges alone (leaseSwarm).
func edgeSeeds(count int) []uint64 {
	return seedsAlone(injectLeaseEdges, count, func(uint64) []string { return AllFaults })
}

// The lease edges alone keep correct protocols correct: multi with leases
// (local reads) and raft (ReadIndex reads) pass the runs in which they act
// alone, and every operation completes once the faults heal.
func TestLeaseEdgesKeepCorrectProtocolsCorrect(t *testing.T) {
	leaseRunsPass(t, edgeSeeds(6))
}

// The lease edges catch a planted bug that survived every seed of the
// search before them: a Multi-Paxos leader whose lease is as long as its
// followers' promise (no margin for the clocks' phase and drift), at
// N = 3, within the first 80 seeds in which they act alone.
func TestLeaseEdgesCatchLeaseWithoutMargin(t *testing.T) {
	first := firstLeaseKill(t, "multi/lease-no-margin", 3, edgeSeeds(80))
	require.Positive(t, first, "multi/lease-no-margin at N = 3 survived 80 lease-edge seeds")
	t.Logf("caught at seed %d", first)
}

// At N = 5 the lease edges also cut the leader off right after it sent a
// client's write out and read at the new leader once it leads, which
// catches a new leader that serves reads under its lease before it
// finished the writes it took over (seed 11 with every fault; the search
// before that took 406 seeds).
func TestLeaseEdgesCatchReadBeforeRecoveredAtFive(t *testing.T) {
	seeds := make([]uint64, 20)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	first := firstLeaseKill(t, "multi/lease-read-before-recovered", 5, seeds)
	require.Positive(t, first, "multi/lease-read-before-recovered at N = 5 survived 20 seeds")
	t.Logf("caught at seed %d", first)
}

// firstLeaseKill runs the planted bug name at n replicas with 6-tick
// leases and every fault over seeds, and returns the first seed whose run
// fails (0 if none does).
func firstLeaseKill(t *testing.T, name string, n int, seeds []uint64) uint64 {
	t.Helper()
	m, err := paxos.LookupMutant(name)
	require.NoError(t, err)
	opts := Options{New: m.New, Replicas: n, Faults: AllFaults,
		Replica: paxos.Config{InitialLeader: -1, LeaseTicks: 6}}
	for _, seed := range seeds {
		opts.Seed = seed
		res, err := Run(opts)
		require.NoError(t, err)
		if !res.OK() {
			return seed
		}
	}
	return 0
}
