package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The late rounds, alone, keep correct protocols correct.
func TestLateRoundsKeepCorrectProtocolsCorrect(t *testing.T) {
	withInjectors(t, []injector{{FaultRecovery, injectLateRounds}}, func() {
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

// The late rounds alone catch an EPaxos replica that checks an Accept
// against the ballot of its last vote instead of its promise, at N = 5
// within a few dozen seeds (about one run in ten catches it; the default
// search at N = 5 caught it in 2 of 500 seeds without them).
func TestLateRoundsCatchAcceptChecksVoteBallot(t *testing.T) {
	m, err := paxos.LookupMutant("epaxos/accept-checks-vote-ballot")
	require.NoError(t, err)
	withInjectors(t, []injector{{FaultRecovery, injectLateRounds}}, func() {
		first := 0
		for seed := 1; seed <= 40 && first == 0; seed++ {
			res, err := Run(Options{New: m.New, Replicas: 5, Seed: uint64(seed), Faults: []string{FaultRecovery},
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

// lateAlone takes about one run in lateShare among runs without leases
// that inject the recovery faults, and leaves every other run as it was.
func TestLateAloneTakesAShareOfRecoveryRuns(t *testing.T) {
	on := []injector{{FaultCrash, injectCrashes}, {FaultRecovery, injectRecovery}}
	has := map[string]bool{FaultCrash: true, FaultRecovery: true}
	taken := 0
	for seed := uint64(1); seed <= 800; seed++ {
		out := lateAlone(on, has, seed, 5, 0)
		if len(out) == 1 && out[0].is(injectLateRounds) {
			taken++
		} else {
			assert.Len(t, out, 2)
		}
		assert.Len(t, lateAlone(on, has, seed, 5, 6), 2, "runs with leases keep their faults")
		assert.Len(t, lateAlone(on, map[string]bool{FaultCrash: true}, seed, 5, 0), 2, "runs without the recovery faults keep theirs")
	}
	assert.InDelta(t, 800/lateShare, taken, 40)
}
