package epaxos_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/epaxos"
)

func TestDbgStress(t *testing.T) {
	if os.Getenv("EPSTRESS") == "" {
		t.Skip("manual")
	}
	from, _ := strconv.Atoi(os.Getenv("EPFROM"))
	seeds, _ := strconv.Atoi(os.Getenv("EPSTRESS"))
	faults, _ := check.ParseFaults("all")
	bad := 0
	for _, n := range []int{3, 5, 7} {
		for _, th := range []bool{false, true} {
			for _, c := range []float64{0, 0.3, 1} {
				for seed := uint64(from); seed < uint64(from+seeds); seed++ {
					ops, _ := strconv.Atoi(os.Getenv("EPOPS"))
					cl, _ := strconv.Atoi(os.Getenv("EPCL"))
					res, err := check.Run(check.Options{Protocol: "epaxos", New: epaxos.New, Replicas: n, Seed: seed, Faults: faults, Conflict: c, Ops: ops, Clients: cl, Replica: paxos.Config{Thrifty: th}})
					if err != nil {
						t.Fatal(err)
					}
					if !res.OK() || res.Completed != res.Ops {
						bad++
						fmt.Println("n", n, "thrifty", th, "conflict", c, "seed", seed, res.Completed, "/", res.Ops, res.Failures)
					}
				}
			}
		}
	}
	fmt.Println("bad", bad)
}

func TestDbgOne(t *testing.T) {
	if os.Getenv("EPN") == "" {
		t.Skip("manual")
	}
	n, _ := strconv.Atoi(os.Getenv("EPN"))
	seed, _ := strconv.Atoi(os.Getenv("EPSEED"))
	c, _ := strconv.ParseFloat(os.Getenv("EPC"), 64)
	faults, _ := check.ParseFaults("all")
	res, err := check.Run(check.Options{Protocol: "epaxos", New: epaxos.New, Replicas: n, Seed: uint64(seed), Faults: faults, Conflict: c, Replica: paxos.Config{Thrifty: os.Getenv("EPT") != ""}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(res.Completed, "/", res.Ops, res.Failures)
}
