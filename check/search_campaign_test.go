package check

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The recovery campaigns, alone, keep correct protocols correct, and drive
// EPaxos into recovery, Nops included (the coverage counters show it).
func TestCampaignsKeepCorrectProtocolsCorrect(t *testing.T) {
	withInjectors(t, []injector{{FaultRecovery, injectCampaigns}}, func() {
		for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
			for _, n := range []int{3, 5} {
				cov := paxos.Coverage{}
				for seed := uint64(1); seed <= 2; seed++ {
					res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultRecovery},
						Replica: paxos.Config{InitialLeader: -1}})
					require.NoError(t, err)
					assert.Empty(t, res.Failures, "%s n=%d seed=%d", proto, n, seed)
					assert.Positive(t, res.Crashes, "%s n=%d seed=%d", proto, n, seed)
					cov.Add(res.Coverage)
				}
				if proto == "epaxos" && n == 5 {
					assert.Positive(t, cov["recovery-nops"], "%v", cov)
				}
			}
		}
		// With the lock service's commands the campaign cannot propose; it
		// runs the recovery faults instead.
		res, err := Run(Options{Protocol: "multi", Replicas: 5, Seed: 1, Faults: []string{FaultRecovery}, App: AppLockService,
			Replica: paxos.Config{InitialLeader: -1}})
		require.NoError(t, err)
		assert.Empty(t, res.Failures)
	})
}

// The campaigns alone catch the planted bug of issue 10's schedule (a
// restart shrinks the per-key index recovery rule 4a relies on, so an
// instance is decided twice) at N = 5 at the first seed; 24 of the first
// 200 seeds fail.
func TestCampaignsCatchRule4aAfterRestart(t *testing.T) {
	first := firstKillWith(t, []injector{{FaultRecovery, injectCampaigns}}, []string{FaultRecovery},
		"epaxos/rule4a-after-restart", 5, 20)
	require.Positive(t, first, "survived 20 seeds")
	t.Logf("caught at seed %d", first)
}

// campaignsAlone takes over only runs at N = 5 without leases whose
// faults include the recovery faults, never a quiet injector's run alone,
// and in about three quarters of the others.
func TestCampaignsAloneKeepsOtherRuns(t *testing.T) {
	isCampaign := func(on []injector) bool {
		return len(on) == 1 && on[0].is(injectCampaigns)
	}
	taken, eligible := 0, 0
	for seed := uint64(1); seed <= 400; seed++ {
		has := map[string]bool{}
		for _, f := range varyFaults(AllFaults, seed) {
			has[f] = true
		}
		on := quietFor(swarm(append(slices.Clone(injectors), persistInjectors...), has, seed), seed, quietInjectors(5, 0))
		on = bridgesAlone(on, seed)
		assert.False(t, isCampaign(campaignsAlone(on, has, seed, 3, 0)), "seed %d at N = 3", seed)
		assert.False(t, isCampaign(campaignsAlone(on, has, seed, 7, 0)), "seed %d at N = 7", seed)
		assert.False(t, isCampaign(campaignsAlone(on, has, seed, 5, 6)), "seed %d with leases", seed)
		got := campaignsAlone(on, has, seed, 5, 0)
		quietAlone := len(on) == 1 && slices.ContainsFunc(quietInjectors(5, 0), func(q injector) bool {
			return q.is(on[0].inject)
		})
		if !has[FaultRecovery] || quietAlone {
			assert.Equal(t, len(on), len(got), "seed %d", seed)
			assert.False(t, isCampaign(got) && !isCampaign(on), "seed %d", seed)
			continue
		}
		eligible++
		if isCampaign(got) {
			taken++
		} else {
			assert.Equal(t, len(on), len(got), "seed %d", seed)
		}
	}
	assert.InDelta(t, 0.75, float64(taken)/float64(eligible), 0.12, "%d of %d", taken, eligible)
}
