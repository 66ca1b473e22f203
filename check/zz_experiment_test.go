package check

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/paxos-lab/paxos"
)

func TestZZExperiment(t *testing.T) {
	name := os.Getenv("XMUT")
	if name == "" {
		t.Skip()
	}
	n, _ := strconv.Atoi(os.Getenv("XN"))
	seeds, _ := strconv.Atoi(os.Getenv("XSEEDS"))
	m, err := paxos.LookupMutant(name)
	if err != nil {
		t.Fatal(err)
	}
	save := injectors
	defer func() { injectors = save }()
	byName := map[string]injector{
		"stalled": {FaultRecovery, injectStalledBridges}, "races": {FaultCrash, injectRaces},
		"early": {FaultRecovery, injectEarlyTimeouts}, "echo": {FaultRecovery, injectTimeoutEchoes},
		"bridgeb": {FaultCrash, injectBridgeBounces}, "answer": {FaultCrash, injectAnswerBounces},
		"recovery": {FaultRecovery, injectRecovery}, "gray": {FaultPartition, injectGraySplits},
		"duels": {FaultPartition, injectBridgeDuels}, "crash": {FaultCrash, injectCrashes},
	}
	injectors = nil
	kinds := map[string]bool{}
	for _, nm := range strings.Split(os.Getenv("XINJ"), ",") {
		injectors = append(injectors, byName[nm])
		kinds[byName[nm].kind] = true
	}
	var faults []string
	for k := range kinds {
		faults = append(faults, k)
	}
	sort.Strings(faults)
	kills := 0
	for s := 1; s <= seeds; s++ {
		o := Options{New: m.New, Replicas: n, Seed: uint64(s), Faults: faults}
		if os.Getenv("XTRACE") == strconv.Itoa(s) {
			f, _ := os.Create("/tmp/xtrace.txt")
			defer f.Close()
			o.Trace = f
		}
		res, err := Run(o)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() {
			kills++
			t.Logf("seed %d: %s", s, res.Failures[0])
		}
	}
	t.Logf("%s n=%d: %d of %d", name, n, kills, seeds)
}
