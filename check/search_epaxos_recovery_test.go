package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// withInjectors runs fn with the fault table replaced by ins.
func withInjectors(t *testing.T, ins []injector, fn func()) {
	t.Helper()
	save, savePersist, saveMore := injectors, persistInjectors, moreQuietRuns
	injectors, persistInjectors, moreQuietRuns = ins, nil, false
	defer func() { injectors, persistInjectors, moreQuietRuns = save, savePersist, saveMore }()
	fn()
}

// The recovery chains, alone, keep correct protocols correct, and drive
// EPaxos into recovery (the coverage counters show it).
func TestRecoveryChainsKeepCorrectProtocolsCorrect(t *testing.T) {
	withInjectors(t, []injector{{FaultRecovery, injectRecoveryChains}}, func() {
		for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
			for _, n := range []int{3, 5} {
				cov := paxos.Coverage{}
				for seed := uint64(1); seed <= 4; seed++ {
					res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultRecovery},
						Replica: paxos.Config{InitialLeader: -1}})
					require.NoError(t, err)
					assert.Empty(t, res.Failures, "%s n=%d seed=%d", proto, n, seed)
					cov.Add(res.Coverage)
				}
				if proto == "epaxos" {
					assert.Positive(t, cov["recoveries"], "n=%d: %v", n, cov)
					assert.Positive(t, cov["recovery-commits"], "n=%d: %v", n, cov)
				}
			}
		}
	})
}

// The recovery chains alone catch a recovery that adopts the first accepted
// reply instead of the one of the highest ballot (it needs three rounds of
// one instance by three replicas), at N = 3 within a few dozen seeds (7
// and 16 of the first 100 seeds catch it at N = 3 and 5; the default
// search at N = 5 is TestDefaultSearchCatchesRecoveryFirstAcceptedAtFive).
func TestRecoveryChainsCatchFirstAccepted(t *testing.T) {
	m, err := paxos.LookupMutant("epaxos/recovery-first-accepted")
	require.NoError(t, err)
	withInjectors(t, []injector{{FaultRecovery, injectRecoveryChains}}, func() {
		for _, n := range []int{3} {
			first := 0
			for seed := 1; seed <= 60 && first == 0; seed++ {
				res, err := Run(Options{New: m.New, Replicas: n, Seed: uint64(seed), Faults: []string{FaultRecovery},
					Replica: paxos.Config{InitialLeader: -1}})
				require.NoError(t, err)
				if !res.OK() {
					first = seed
					assert.Contains(t, res.Failures[0], "decided twice", "seed %d", seed)
				}
			}
			assert.Positive(t, first, "n=%d: survived 60 seeds", n)
			t.Logf("n=%d: caught at seed %d", n, first)
		}
	})
}

// A run that drew the recovery chains keeps one quiet injector alone in
// half the runs and drops the chains in the others; without them (or with
// no quiet injector allowed) nothing runs alone and nothing else changes.
func TestQuietForKeepsQuietInjectorsAlone(t *testing.T) {
	other := injector{FaultCrash, injectCrashes}
	chains := injector{FaultRecovery, injectRecoveryChains}
	isOther := func(in injector) bool {
		return in.is(injectCrashes)
	}
	alone := 0
	for seed := uint64(1); seed <= 200; seed++ {
		got := quietFor([]injector{other, chains}, seed, quietInjectors(5, 0))
		require.Len(t, got, 1, "seed %d", seed)
		if !isOther(got[0]) {
			alone++
		}
		assert.Len(t, quietFor([]injector{other}, seed, quietInjectors(5, 0)), 1)
		for _, none := range [][]injector{quietInjectors(5, 10), nil} {
			got = quietFor([]injector{other, chains}, seed, none)
			require.Len(t, got, 1)
			assert.True(t, isOther(got[0]))
		}
	}
	assert.InDelta(t, 100, alone, 30)
	assert.Len(t, quietInjectors(3, 0), 8)
	assert.Len(t, quietInjectors(5, 0), 8)
	assert.Len(t, quietInjectors(7, 0), 4)
	assert.Empty(t, quietInjectors(3, 10))
	assert.Empty(t, quietInjectors(7, 10))
}
