package check

import (
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The catch-up echoes, alone, catch a replica that installs a snapshot
// older than its execution point (Multi-Paxos, N = 3), which the search
// caught in 1 seed of 500 before them.
func TestCatchUpEchoesCatchStaleSnapshot(t *testing.T) {
	ins := []injector{{FaultPartition, injectCatchUpEchoes}}
	first := firstKillWith(t, ins, []string{FaultPartition, FaultDup}, "multi/stale-snapshot-install", 3, 60)
	assert.Positive(t, first, "multi/stale-snapshot-install survived 60 seeds")
	t.Logf("caught at seed %d", first)
}

// The catch-up echoes keep a correct Multi-Paxos and Raft correct, and
// make their followers install snapshots.
func TestCatchUpEchoesKeepCorrectProtocolsCorrect(t *testing.T) {
	withInjectors(t, []injector{{FaultPartition, injectCatchUpEchoes}}, func() {
		for _, proto := range []string{"multi", "raft"} {
			cov := paxos.Coverage{}
			for seed := uint64(1); seed <= 6; seed++ {
				res, err := Run(Options{Protocol: proto, Replicas: 3, Seed: seed, Faults: []string{FaultPartition, FaultDup},
					Replica: paxos.Config{InitialLeader: -1, SnapshotEvery: 10}})
				require.NoError(t, err)
				assert.Empty(t, res.Failures, "%s seed=%d", proto, seed)
				cov.Add(res.Coverage)
			}
			assert.Positive(t, cov["snapshot-installs"], "%s: %v", proto, cov)
		}
	})
}
