package quorum_test

import (
	"fmt"

	"github.com/paxos-lab/paxos/quorum"
)

func Example() {
	// Flexible Paxos: elections need 4 of 5, replication only 2.
	fp, err := quorum.NewCounting(5, 4, 2)
	if err != nil {
		panic(err)
	}
	// Leader 3 puts itself first, then its nearest replicas.
	fmt.Println(fp, fp.ChoosePhase2([]int{3, 4, 0, 1, 2}))
	fmt.Println(quorum.Intersects(fp))

	// Sizes that can miss each other are refused.
	_, err = quorum.NewCounting(5, 2, 2)
	fmt.Println(err)

	// EPaxos over 7 replicas.
	ep, _ := quorum.NewEPaxos(7)
	fmt.Println(ep, ep.RecoveryOverlap())

	// A grid from a command-line spec.
	g, _ := quorum.ParseSystem(6, "grid=2x3")
	fmt.Println(g, g.ChoosePhase2([]int{4}))
	// Output:
	// counting(n=5,q1=4,q2=2) {3,4}
	// <nil>
	// quorum: q1=2 + q2=2 <= n=5: a phase-1 quorum could miss a phase-2 quorum; choose q1+q2 > n, e.g. q1=4,q2=2
	// epaxos(n=7,fast=5,slow=4) 2
	// grid(2x3) {1,4}
}
