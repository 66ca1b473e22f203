package flexible_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/quorum"
)

func TestTmpManyFlex(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TMPN"))
	if n == 0 {
		t.Skip()
	}
	seeds, _ := strconv.Atoi(os.Getenv("TMPSEEDS"))
	start, _ := strconv.Atoi(os.Getenv("TMPSTART"))
	q2, _ := strconv.Atoi(os.Getenv("TMPQ2"))
	lease, _ := strconv.Atoi(os.Getenv("TMPLEASE"))
	fails := 0
	for seed := start + 1; seed <= start+seeds; seed++ {
		res, err := check.Run(check.Options{Protocol: "flexible", Replicas: n, Seed: uint64(seed), Faults: check.AllFaults,
			Quorums: func(n int) (quorum.System, error) {
				if os.Getenv("TMPGRID") != "" {
					return quorum.NewGrid(n/3, 3)
				}
				return quorum.NewCounting(n, n-q2+1, q2)
			},
			Replica: paxos.Config{InitialLeader: -1, LeaseTicks: lease}})
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() {
			fails++
			t.Errorf("seed %d: %v (completed %d/%d)", seed, res.Failures, res.Completed, res.Ops)
		}
	}
	t.Logf("fails %d", fails)
}
