package check

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// lagSeeds returns the first count seeds from 1 whose lease runs with
// every fault use the lagging followers alone (varyFaults, lagAlone, which
// returns what it is given, here nothing, in the other runs).
func lagSeeds(count int) []uint64 {
	var out []uint64
	for seed := uint64(1); len(out) < count; seed++ {
		has := map[string]bool{}
		for _, f := range varyFaults(AllFaults, seed) {
			has[f] = true
		}
		if len(lagAlone(nil, has, seed, 6)) > 0 {
			out = append(out, seed)
		}
	}
	return out
}

// The lagging followers keep correct protocols correct: multi with leases
// (local reads) and raft (ReadIndex reads) pass the runs in which they
// act alone, and every operation completes once the faults heal.
func TestLaggingFollowersKeepCorrectProtocolsCorrect(t *testing.T) {
	leaseRunsPass(t, lagSeeds(10))
}

// The lagging followers catch, within their first ten runs at five
// replicas, two planted bugs that failed one and three seeds of 500
// before them: a raft replica that answers a confirmed read one entry
// short of its read index, and a Multi-Paxos follower that promises a
// candidate while it grants the leader a lease.
func TestLaggingFollowersCatchThinLeaseBugs(t *testing.T) {
	for _, name := range []string{"raft/read-index-minus-one", "multi/follower-ignores-lease"} {
		first := firstLeaseKill(t, name, 5, lagSeeds(10))
		require.Positive(t, first, "%s at N = 5 survived 10 lagging-follower seeds", name)
		t.Logf("%s caught at seed %d", name, first)
	}
}
