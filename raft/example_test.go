package raft_test

import (
	"fmt"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/raft"
	"github.com/paxos-lab/paxos/sim"
)

// Three raft replicas with replica 0 campaigning at start: a command
// proposed at a follower is forwarded to the leader, committed and applied
// everywhere.
func Example() {
	s, err := sim.New(sim.Config{Protocol: "raft", N: 3, Replica: paxos.Config{InitialLeader: 0}, Seed: 1, Record: true})
	if err != nil {
		panic(err)
	}
	s.Run(50 * time.Millisecond) // the election
	_ = s.Propose(2, paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "x", Value: "hello"})
	s.Run(150 * time.Millisecond)
	for _, e := range s.Executions() {
		fmt.Printf("replica %d executed %s %s=%s\n", e.Replica, e.Command.Op, e.Command.Key, e.Command.Value)
	}
	fmt.Println("leader:", s.Replica(1).(*raft.Replica).Leader())
	// Output:
	// replica 0 executed put x=hello
	// replica 1 executed put x=hello
	// replica 2 executed put x=hello
	// leader: 0
}
