package check

import (
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

func TestFpkProbe(t *testing.T) {
	name := os.Getenv("FPK_MUTANT")
	if name == "" {
		t.Skip()
	}
	n, _ := strconv.Atoi(os.Getenv("FPK_N"))
	seeds, _ := strconv.Atoi(os.Getenv("FPK_SEEDS"))
	m, err := paxos.LookupMutant(name)
	require.NoError(t, err)
	withInjectors(t, []injector{{FaultRecovery, injectStalledReplies}}, func() {
		fails := 0
		for seed := 1; seed <= seeds; seed++ {
			res, err := Run(Options{New: m.New, Replicas: n, Seed: uint64(seed), Faults: []string{FaultRecovery},
				Replica: paxos.Config{InitialLeader: -1}})
			require.NoError(t, err)
			if !res.OK() {
				fails++
				t.Logf("seed %d: %s", seed, res.Failures[0])
			}
		}
		t.Logf("%s n=%d: %d of %d %v", name, n, fails, seeds, stalledDebug)
	})
}

func TestFpkTrace(t *testing.T) {
	name := os.Getenv("FPK_TRACE")
	if name == "" {
		t.Skip()
	}
	n, _ := strconv.Atoi(os.Getenv("FPK_N"))
	seed, _ := strconv.Atoi(os.Getenv("FPK_SEED"))
	m, err := paxos.LookupMutant(name)
	require.NoError(t, err)
	f, _ := os.Create("/tmp/fpk-trace.txt")
	defer f.Close()
	stalledLog = f
	withInjectors(t, []injector{{FaultRecovery, injectStalledReplies}}, func() {
		res, err := Run(Options{New: m.New, Replicas: n, Seed: uint64(seed), Faults: []string{FaultRecovery},
			Replica: paxos.Config{InitialLeader: -1}, Trace: f})
		require.NoError(t, err)
		t.Log(res.Failures)
	})
}
