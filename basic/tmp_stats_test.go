package basic

import (
	"os"
	"strconv"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
)

func TestTmpStats(t *testing.T) {
	if os.Getenv("TMPSTATS") == "" {
		t.Skip()
	}
	seeds, _ := strconv.Atoi(os.Getenv("TMPSTATS"))
	for _, n := range []int{1, 2, 4, 7} {
		fails, ops, done := 0, 0, 0
		var ev uint64
		for seed := uint64(1000); seed < uint64(1000+seeds); seed++ {
			res, err := check.Run(check.Options{Protocol: "basic", Replicas: n, Seed: seed, Faults: check.AllFaults, Clients: 10, Ops: 400, Conflict: 0.3, Replica: paxos.Config{Batch: 4, RetryTicks: 2}})
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() {
				fails++
				t.Logf("n=%d seed=%d %v", n, seed, res.Failures)
			}
			ops += res.Ops
			done += res.Completed
			ev += res.Events
		}
		t.Logf("n=%d fails=%d ops=%d completed=%d events=%d", n, fails, ops, done, ev)
	}
}
