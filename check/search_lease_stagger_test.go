package check

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// staggerSeeds returns the first count seeds from 1 whose lease runs with
// every fault use the staggered lease edges alone (varyFaults, leaseSwarm).
func staggerSeeds(count int) []uint64 {
	return seedsAlone(injectLeaseStagger, count, func(seed uint64) []string { return varyFaults(AllFaults, seed) })
}

// seedsAlone returns the first count seeds from 1 whose lease runs use
// inject alone (leaseSwarm), given the fault kinds faults(seed) of each.
func seedsAlone(inject func(*faultEnv), count int, faults func(seed uint64) []string) []uint64 {
	var out []uint64
	for seed := uint64(1); len(out) < count; seed++ {
		has := map[string]bool{}
		for _, f := range faults(seed) {
			has[f] = true
		}
		on := leaseSwarm(has, seed)
		if len(on) == 1 && on[0].is(inject) {
			out = append(out, seed)
		}
	}
	return out
}

// The staggered lease edges keep correct protocols correct: multi with
// leases (local reads) and raft (ReadIndex reads) pass the runs in which
// they act, and every operation completes once the faults heal.
func TestLeaseStaggerKeepsCorrectProtocolsCorrect(t *testing.T) {
	leaseRunsPass(t, staggerSeeds(10))
}

// The staggered lease edges catch, at five replicas, a planted bug that
// survived 500 seeds of every fault there before them: a Multi-Paxos
// leader whose lease is as long as its followers' promise (no margin for
// the clocks' phase and drift).
func TestLeaseStaggerCatchesLeaseWithoutMarginAtFive(t *testing.T) {
	first := firstLeaseKill(t, "multi/lease-no-margin", 5, staggerSeeds(30))
	require.Positive(t, first, "multi/lease-no-margin at N = 5 survived 30 staggered-edge seeds")
	t.Logf("caught at seed %d", first)
}
