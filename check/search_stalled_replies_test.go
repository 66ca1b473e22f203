package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The stalled replies, alone, keep correct protocols correct.
func TestStalledRepliesKeepCorrectProtocolsCorrect(t *testing.T) {
	withInjectors(t, []injector{{FaultRecovery, injectStalledReplies}}, func() {
		for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
			for _, n := range []int{3, 5} {
				for seed := uint64(1); seed <= 4; seed++ {
					res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultRecovery},
						Replica: paxos.Config{InitialLeader: -1}})
					require.NoError(t, err)
					assert.Empty(t, res.Failures, "%s n=%d seed=%d", proto, n, seed)
				}
			}
		}
	})
}

// The stalled replies alone catch an EPaxos command leader that keeps its
// PreAccept round running after granting a recovery's Prepare (and takes
// the fast path whatever it promised since) within a few dozen seeds at
// N = 3: about one run in seven catches it. The default search caught it
// in none of 500 seeds at N = 3 and one at N = 5 without them.
func TestStalledRepliesCatchPrepareKeepsRound(t *testing.T) {
	m, err := paxos.LookupMutant("epaxos/prepare-keeps-round")
	require.NoError(t, err)
	withInjectors(t, []injector{{FaultRecovery, injectStalledReplies}}, func() {
		first := 0
		for seed := 1; seed <= 40 && first == 0; seed++ {
			res, err := Run(Options{New: m.New, Replicas: 3, Seed: uint64(seed), Faults: []string{FaultRecovery},
				Replica: paxos.Config{InitialLeader: -1}})
			require.NoError(t, err)
			if !res.OK() {
				first = seed
				assert.Contains(t, res.Failures[0], "decided twice", "seed %d", seed)
			}
		}
		assert.Positive(t, first, "survived 40 seeds")
		t.Logf("caught at seed %d", first)
	})
}

// stalledAlone takes about one run in stalledShare among runs without
// leases that inject the recovery faults, and leaves every other run as it
// was.
func TestStalledAloneTakesAShareOfRecoveryRuns(t *testing.T) {
	on := []injector{{FaultCrash, injectCrashes}, {FaultRecovery, injectRecovery}}
	has := map[string]bool{FaultCrash: true, FaultRecovery: true}
	taken := 0
	for seed := uint64(1); seed <= 800; seed++ {
		out := stalledAlone(on, has, seed, 5, 0)
		if len(out) == 1 && out[0].is(injectStalledReplies) {
			taken++
		} else {
			assert.Len(t, out, 2)
		}
		assert.Len(t, stalledAlone(on, has, seed, 5, 6), 2, "runs with leases keep their faults")
		assert.Len(t, stalledAlone(on, map[string]bool{FaultCrash: true}, seed, 5, 0), 2, "runs without the recovery faults keep theirs")
	}
	assert.InDelta(t, 800/stalledShare, taken, 40)
}
