package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The compaction amnesia, alone, keeps correct protocols correct, with a
// snapshot every few slots so that it acts in every run.
func TestCompactionAmnesiaKeepsCorrectProtocolsCorrect(t *testing.T) {
	withInjectors(t, []injector{{FaultCrash, injectCompactionAmnesia}}, func() {
		for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
			for _, n := range []int{3, 5} {
				for seed := uint64(1); seed <= 4; seed++ {
					res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultCrash, FaultPartition},
						Replica: paxos.Config{SnapshotEvery: 5}})
					require.NoError(t, err)
					assert.Empty(t, res.Failures, "%s n=%d seed=%d", proto, n, seed)
				}
			}
		}
	})
}

// The compaction amnesia alone catches a Multi-Paxos snapshot record that
// leaves out the promise (multi/snapshot-drops-promise), which survived
// 500 seeds of every fault at N = 3, 5 and 7 before it, within a few dozen
// seeds at N = 5.
func TestCompactionAmnesiaCatchesSnapshotDroppingPromise(t *testing.T) {
	m, err := paxos.LookupMutant("multi/snapshot-drops-promise")
	require.NoError(t, err)
	withInjectors(t, []injector{{FaultCrash, injectCompactionAmnesia}}, func() {
		first := 0
		for seed := 1; seed <= 60 && first == 0; seed++ {
			res, err := Run(Options{New: m.New, Replicas: 5, Seed: uint64(seed), Faults: []string{FaultCrash, FaultPartition},
				Replica: paxos.Config{SnapshotEvery: 5}})
			require.NoError(t, err)
			if !res.OK() {
				first = seed
				assert.Contains(t, res.Failures[0], "decided twice", "seed %d", seed)
			}
		}
		assert.Positive(t, first, "survived 60 seeds")
		t.Logf("caught at seed %d", first)
	})
}

// compactionAlone takes about one run in compactionShare among runs
// without leases that inject crashes or partitions, and leaves every
// other run as it was.
func TestCompactionAloneTakesAShareOfRuns(t *testing.T) {
	on := []injector{{FaultCrash, injectCrashes}, {FaultPartition, injectPartitions}}
	has := map[string]bool{FaultCrash: true, FaultPartition: true}
	taken := 0
	for seed := uint64(1); seed <= 800; seed++ {
		out := compactionAlone(on, has, seed, 5, 0)
		if len(out) == 1 && out[0].is(injectCompactionAmnesia) {
			taken++
		} else {
			assert.Len(t, out, 2)
		}
		assert.Len(t, compactionAlone(on, has, seed, 5, 6), 2, "runs with leases keep their faults")
		assert.Len(t, compactionAlone(on, map[string]bool{FaultDrop: true, FaultWipe: true}, seed, 5, 0), 2, "runs without crashes or partitions keep theirs")
		assert.Len(t, compactionAlone(on, map[string]bool{FaultCrash: true}, seed, 7, 0), 2, "from N = 7, runs without partitions keep theirs")
	}
	assert.InDelta(t, 800/compactionShare, taken, 40)
}
