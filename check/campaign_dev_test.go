package check

import (
	"os"
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
