package check

import (
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

func TestDevCampaign(t *testing.T) {
	name := os.Getenv("DEV_MUTANT")
	if name == "" {
		t.Skip()
	}
	var newFn paxos.Constructor
	proto := ""
	if m, err := paxos.LookupMutant(name); err == nil {
		newFn = m.New
	} else {
		proto = name
	}
	seeds, _ := strconv.Atoi(os.Getenv("DEV_SEEDS"))
	snapEvery, _ := strconv.Atoi(os.Getenv("DEV_SNAP"))
	n, _ := strconv.Atoi(os.Getenv("DEV_N"))
	withInjectors(t, []injector{{FaultRecovery, injectCampaigns}}, func() {
		fails := 0
		cov := paxos.Coverage{}
		if os.Getenv("DEV_LOG") != "" {
			devLog = func(f string, a ...any) { t.Logf(f, a...) }
			defer func() { devLog = nil }()
		}
		first, _ := strconv.Atoi(os.Getenv("DEV_FIRST"))
		first = max(first, 1)
		for seed := first; seed < first+seeds; seed++ {
			res, err := Run(Options{New: newFn, Protocol: proto, Replicas: n, Seed: uint64(seed), Faults: []string{FaultRecovery},
				Replica: paxos.Config{InitialLeader: -1, SnapshotEvery: snapEvery}})
			require.NoError(t, err)
			cov.Add(res.Coverage)
			if !res.OK() {
				fails++
				t.Logf("seed %d: %s", seed, res.Failures[0])
			}
		}
		t.Logf("fails %d of %d; stages %v; cov %v", fails, seeds, devStages, cov)
	})
}

func TestDevCampaignShare(t *testing.T) {
	if os.Getenv("DEV_SHARE") == "" {
		t.Skip()
	}
	cnt, multi, rec, hasRec, single, nonQuiet := 0, 0, 0, 0, 0, 0
	for seed := uint64(1); seed <= 500; seed++ {
		f := varyFaults(AllFaults, seed)
		has := map[string]bool{}
		for _, x := range f {
			has[x] = true
		}
		all := append(slices.Clone(injectors), persistInjectors...)
		on := swarm(all, has, seed)
		on = quietFor(on, seed, quietInjectors(5, 0))
		on = bridgesAlone(on, seed)
		if has[FaultRecovery] {
			hasRec++
			if len(on) == 1 {
				single++
				q := false
				for _, x := range quietInjectors(5, 0) {
					q = q || reflect.ValueOf(x.inject).Pointer() == reflect.ValueOf(on[0].inject).Pointer()
				}
				if !q {
					nonQuiet++
				}
			}
		}
		if len(on) >= 2 {
			multi++
			if has[FaultRecovery] {
				rec++
			}
		}
		on = campaignsAlone(on, has, seed, 5, 0)
		if len(on) == 1 && on[0].kind == FaultRecovery && reflect.ValueOf(on[0].inject).Pointer() == reflect.ValueOf(injectCampaigns).Pointer() {
			cnt++
		}
	}
	t.Logf("campaign runs %d of 500; multi %d; multi with recovery %d; has recovery %d, single %d nonquiet %d", cnt, multi, rec, hasRec, single, nonQuiet)
}
