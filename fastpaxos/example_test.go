package fastpaxos_test

import (
	"fmt"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Five replicas with replica 0 as the leader: a command proposed at replica
// 3 goes straight to the acceptors in the open fast round, and replica 3
// learns it from a fast quorum's votes, without the leader's help. Every
// acceptor sends its vote to every replica (for uncoordinated recovery), so
// every replica learns the command from the votes at once.
func Example() {
	s, err := sim.New(sim.Config{Protocol: "fastpaxos", N: 5, Replica: paxos.Config{InitialLeader: 0}, Seed: 1, Record: true})
	if err != nil {
		panic(err)
	}
	_ = s.Propose(3, paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "x", Value: "hello"})
	s.Run(100 * time.Millisecond)
	for _, e := range s.Executions() {
		fmt.Printf("replica %d executed %s %s=%s\n", e.Replica, e.Command.Op, e.Command.Key, e.Command.Value)
	}
	fmt.Println("fast rounds chosen at replica 3:", s.Replica(3).(paxos.CoverageReporter).Coverage()["fast-chosen"])
	// Output:
	// replica 2 executed put x=hello
	// replica 4 executed put x=hello
	// replica 0 executed put x=hello
	// replica 1 executed put x=hello
	// replica 3 executed put x=hello
	// fast rounds chosen at replica 3: 1
}
