package lockservice_test

import (
	"fmt"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/lockservice"
	"github.com/paxos-lab/paxos/sim"
)

// Leader election as a recipe: three servers compete for one lock; the
// winner writes its address into the lock and the others read it to find
// the primary (as Bigtable finds its master through Chubby). Run on five
// simulated Multi-Paxos replicas with leases.
func Example_leaderElection() {
	s, _ := sim.New(sim.Config{Protocol: "multi", N: 5, Record: true, Stamp: lockservice.StampSim,
		Replica: paxos.Config{StateMachine: lockservice.New, InitialLeader: 0, LeaseTicks: 5}})
	seq := map[uint64]uint64{}
	do := func(server uint64, req lockservice.Request) (lockservice.Reply, string) {
		seq[server]++
		cmd := lockservice.Command(server, req)
		cmd.Seq = seq[server]
		_ = s.Propose(0, cmd)
		s.Run(s.Now() + 100*time.Millisecond)
		execs := s.Executions()
		ex := execs[len(execs)-1]
		rep, _ := lockservice.DecodeReply(ex.Output)
		return rep, ex.Err
	}
	for server := uint64(1); server <= 3; server++ {
		do(server, lockservice.Request{Kind: lockservice.KindOpen, TTL: 10_000})
		if rep, err := do(server, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "cell/master"}); err == "" {
			do(server, lockservice.Request{Kind: lockservice.KindSetValue, Lock: "cell/master", Value: []byte(fmt.Sprintf("server-%d:7000", server))})
			fmt.Printf("server %d is primary, token %d\n", server, rep.Token)
		}
	}
	rep, _ := do(3, lockservice.Request{Kind: lockservice.KindRead, Lock: "cell/master"})
	fmt.Printf("server 3 finds the primary at %s\n", rep.Value)
	// Output:
	// server 1 is primary, token 1
	// server 3 finds the primary at server-1:7000
}
