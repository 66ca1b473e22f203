package explore_test

import (
	"context"
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/explore"
	_ "github.com/paxos-lab/paxos/protocols"
)

// Explore Multi-Paxos with 3 replicas and 2 commands on one key: 100
// bounded walks of crashes, restarts, losses and reorderings, with the
// invariants checked after every step.
func Example() {
	res, err := explore.Explore(context.Background(), explore.Config{
		Protocol: "multi",
		Replicas: 3,
		Commands: 2,
		Walks:    100,
		Seed:     1,
		Replica:  paxos.Config{InitialLeader: -1},
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("walks:", res.Walks)
	if v := res.Violation; v != nil {
		fmt.Printf("violation: %s\n%s", v.Failures[0], explore.Format(v.Schedule))
		return
	}
	fmt.Println("no violation")
	// Output:
	// walks: 100
	// no violation
}
