package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// runBursts runs the rival bursts alone, with two commands per instance
// as in their runs of the search (tieBatch).
func runBursts(t *testing.T, proto string, m *paxos.Mutant, n int, seed uint64) Result {
	t.Helper()
	o := Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultReorder},
		Replica: paxos.Config{InitialLeader: -1, Batch: 2}}
	if m != nil {
		o.Protocol, o.New = "", m.New
	}
	var res Result
	withInjectors(t, []injector{{FaultReorder, injectRivalBursts}}, func() {
		var err error
		res, err = Run(o)
		require.NoError(t, err)
	})
	return res
}

// The rival bursts, alone, keep correct protocols correct. Raft at N = 5
// seed 2 and fastpaxos at N = 5 seed 3 stalled while a rival's primer,
// proposed at a replica that knew no leader, was given one partner after
// another for as long as the replica kept them (tens of thousands of
// commands, which then flooded the cluster past the liveness bound).
func TestRivalBurstsKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, proto := range []string{"basic", "multi", "epaxos", "raft", "fastpaxos"} {
		for _, n := range []int{3, 5} {
			for seed := uint64(1); seed <= 3; seed++ {
				assert.Empty(t, runBursts(t, proto, nil, n, seed).Failures, "%s n=%d seed=%d", proto, n, seed)
			}
		}
	}
}

// Seeds 84 and 148 at N = 7, every fault on, are rival-burst runs in which
// correct Fast Paxos made no progress for 10 s after the faults healed while
// its resends, at a fixed pace, outran the replicas' CPU (docs/planted-bugs.md);
// with resends that back off they pass, and the bursts run at N = 7.
func TestRivalBurstsFastPaxosSevenReplicas(t *testing.T) {
	for _, seed := range []uint64{84, 148} {
		require.True(t, tieRun(faultSet(varyFaults(AllFaults, seed)), seed, 7, 0), "seed %d is no longer a rival-burst run", seed)
		res, err := Run(Options{Protocol: "fastpaxos", Replicas: 7, Seed: seed, Faults: AllFaults,
			Replica: paxos.Config{InitialLeader: -1}}) // as paxos check runs it
		require.NoError(t, err)
		assert.True(t, res.OK(), "seed %d: %v (completed %d/%d)", seed, res.Failures, res.Completed, res.Ops)
	}
}

// The rival bursts alone catch, within a few dozen seeds at N = 3, the two
// planted bugs of the execution walk that order a cycle of dependencies by
// where a replica's walk entered it; the search without them caught
// neither in 500 seeds at N = 3 (README, "Planted bugs").
func TestRivalBurstsCatchWalkOrderBugs(t *testing.T) {
	for _, name := range []string{"epaxos/exec-tie-slot-only", "epaxos/tarjan-low-not-propagated"} {
		m, err := paxos.LookupMutant(name)
		require.NoError(t, err)
		caught := false
		for seed := uint64(1); seed <= 40 && !caught; seed++ {
			if res := runBursts(t, "", &m, 3, seed); !res.OK() {
				assert.Contains(t, res.Failures[0], "applied writes in different orders", "%s seed %d", name, seed)
				t.Logf("%s caught at seed %d", name, seed)
				caught = true
			}
		}
		assert.True(t, caught, "%s survived 40 seeds", name)
	}
}

// tieRun takes about 11 runs in 72 among runs without leases that
// inject reordering, at N = 3 and more, and gives those runs two commands
// per instance; every other run keeps its injectors and batch.
func TestTieRunTakesAShareOfReorderRuns(t *testing.T) {
	on := []injector{{FaultCrash, injectCrashes}, {FaultRecovery, injectRecovery}}
	reorder := map[string]bool{FaultReorder: true}
	taken := 0
	for seed := uint64(1); seed <= 800; seed++ {
		switch out := tieAlone(on, reorder, seed, 5, 0); {
		case len(out) == 1 && out[0].is(injectRivalBursts):
			taken++
			assert.Equal(t, 2, tieBatch(1, reorder, seed, 5, 0))
			assert.Equal(t, 4, tieBatch(4, reorder, seed, 5, 0))
		default:
			assert.Equal(t, len(on), len(out))
			assert.Equal(t, 1, tieBatch(1, reorder, seed, 5, 0))
		}
		assert.Equal(t, len(on), len(tieAlone(on, reorder, seed, 5, 6)))
		assert.Equal(t, len(on), len(tieAlone(on, reorder, seed, 2, 0)))
		assert.Equal(t, len(on), len(tieAlone(on, map[string]bool{FaultDrop: true, FaultCrash: true}, seed, 5, 0)))
	}
	assert.InDelta(t, 800*(tieSpare-1)/(tieShare*tieSpare), taken, 40)
}
