package basic

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
)

func TestTmpStats(t *testing.T) {
	if os.Getenv("TMPSTATS") == "" {
		t.Skip()
	}
	seeds, _ := strconv.Atoi(os.Getenv("TMPSTATS"))
	n, _ := strconv.Atoi(os.Getenv("TMPN"))
	batch, _ := strconv.Atoi(os.Getenv("TMPBATCH"))
	retry, _ := strconv.Atoi(os.Getenv("TMPRETRY"))
	clients, _ := strconv.Atoi(os.Getenv("TMPCLIENTS"))
	ops, _ := strconv.Atoi(os.Getenv("TMPOPS"))
	fails, nops, done := 0, 0, 0
	var ev uint64
	for seed := uint64(1000); seed < uint64(1000+seeds); seed++ {
		start := time.Now()
		res, err := check.Run(check.Options{Protocol: "basic", Replicas: n, Seed: seed, Faults: check.AllFaults, Clients: clients, Ops: ops, Conflict: 0.3,
			Replica: paxos.Config{Batch: batch, RetryTicks: retry}, LinTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el > time.Second {
			t.Logf("seed %d took %v (virtual %v, events %d, completed %d/%d)", seed, el, res.Virtual, res.Events, res.Completed, res.Ops)
		}
		if !res.OK() {
			fails++
			t.Logf("n=%d seed=%d %v", n, seed, res.Failures)
		}
		nops += res.Ops
		done += res.Completed
		ev += res.Events
	}
	t.Logf("n=%d fails=%d ops=%d completed=%d events=%d", n, fails, nops, done, ev)
}
