package check

import (
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
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

// echoAlone takes about one run in echoShare of those that take snapshots,
// inject partitions and duplicates or reordering and run replicas that say
// whether they lead, and leaves every other run as it was: without a
// snapshot interval of their own, with leases, with neither duplicates nor
// reordering, or of a protocol without a leader (EPaxos).
func TestEchoAloneTakesAShareOfSnapshotRuns(t *testing.T) {
	on := []injector{{FaultCrash, injectCrashes}, {FaultPartition, injectPartitions}}
	has := map[string]bool{FaultPartition: true, FaultDup: true}
	env := func(protocol string, seed uint64, leaseTicks int) *faultEnv {
		s, err := sim.New(sim.Config{Protocol: protocol, N: 5, Seed: seed, Tick: 5 * time.Millisecond,
			Replica: paxos.Config{InitialLeader: -1}})
		require.NoError(t, err)
		return &faultEnv{s: s, seed: seed, n: 5, leaseTicks: leaseTicks}
	}
	multi, epaxos, leased := env("multi", 1, 0), env("epaxos", 1, 0), env("multi", 1, 6)
	taken := 0
	for seed := uint64(1); seed <= 1200; seed++ {
		multi.seed, epaxos.seed, leased.seed = seed, seed, seed
		switch out := echoAlone(on, has, multi, 10); {
		case len(out) == 1 && out[0].is(injectCatchUpEchoes):
			taken++
		default:
			assert.Equal(t, len(on), len(out))
		}
		assert.Equal(t, len(on), len(echoAlone(on, has, multi, 0)), "no snapshot interval")
		assert.Equal(t, len(on), len(echoAlone(on, has, leased, 10)), "leases")
		assert.Equal(t, len(on), len(echoAlone(on, has, epaxos, 10)), "no leader")
		assert.Equal(t, len(on), len(echoAlone(on, map[string]bool{FaultPartition: true, FaultDrop: true}, multi, 10)), "no dup or reorder")
	}
	assert.InDelta(t, 1200/echoShare, taken, 50)
}
