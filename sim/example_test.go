package sim_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/paxos-lab/paxos"
	_ "github.com/paxos-lab/paxos/basic" // registers protocol "basic"
	"github.com/paxos-lab/paxos/sim"
)

// Three sites; a client at site 0 writes and reads a key through Basic
// Paxos. Each command needs two round trips (prepare, accept) to a
// majority: site 0 and its nearest peer, 10 ms away, so 20 ms.
func Example() {
	s, err := sim.New(sim.Config{
		Protocol: "basic", // registered by importing its package (or package protocols)
		N:        3,
		RTT: [][]float64{
			{0, 10, 40},
			{10, 0, 30},
			{40, 30, 0},
		},
		Seed: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	i := 0
	workload := sim.WorkloadFunc(func(*rand.Rand) paxos.Command {
		i++
		if i%2 == 1 {
			return paxos.Command{Op: paxos.OpPut, Key: "x", Value: fmt.Sprint("v", i)}
		}
		return paxos.Command{Op: paxos.OpGet, Key: "x"}
	})
	if _, err := s.AddClient(sim.ClientConfig{Site: 0, Workload: workload, Ops: 4}); err != nil {
		fmt.Println(err)
		return
	}
	s.Run(time.Second)
	for _, op := range s.History() {
		fmt.Printf("client %d seq %d: %s %s=%q -> %q  called %v, took %v\n",
			op.Client, op.Seq, op.Op, op.Key, op.Value, op.Output, op.Call, op.Latency())
	}
	// Output:
	// client 1 seq 1: put x="v1" -> ""  called 0s, took 20ms
	// client 1 seq 2: get x="" -> "v1"  called 20ms, took 20ms
	// client 1 seq 3: put x="v3" -> ""  called 40ms, took 20ms
	// client 1 seq 4: get x="" -> "v3"  called 60ms, took 20ms
}
