package multi_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
)

func TestTmpMany(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TMPN"))
	if n == 0 {
		t.Skip()
	}
	seeds, _ := strconv.Atoi(os.Getenv("TMPSEEDS"))
	lease, _ := strconv.Atoi(os.Getenv("TMPLEASE"))
	snap, _ := strconv.Atoi(os.Getenv("TMPSNAP"))
	batch, _ := strconv.Atoi(os.Getenv("TMPBATCH"))
	ops, _ := strconv.Atoi(os.Getenv("TMPOPS"))
	clients, _ := strconv.Atoi(os.Getenv("TMPCLIENTS"))
	il := paxos.NodeID(-1)
	if os.Getenv("TMPIL") != "" {
		il = 0
	}
	fails := 0
	for seed := 1; seed <= seeds; seed++ {
		res, err := check.Run(check.Options{Protocol: "multi", Replicas: n, Seed: uint64(seed), Faults: check.AllFaults, Ops: ops, Clients: clients, Conflict: 0.3,
			Replica: paxos.Config{InitialLeader: il, LeaseTicks: lease, SnapshotEvery: snap, Batch: batch}})
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
