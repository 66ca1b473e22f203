package epaxos_test

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/epaxos"
)

// Three replicas stepped by hand: replica 0 leads a Put, the others
// pre-accept it unchanged, and it commits on the fast path.
func Example() {
	var reps []paxos.Replica
	for i := 0; i < 3; i++ {
		r, err := epaxos.New(paxos.Config{ID: paxos.NodeID(i), N: 3})
		if err != nil {
			panic(err)
		}
		reps = append(reps, r)
	}
	reps[0].Propose(paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "x", Value: "42"})
	queue := reps[0].Ready().Messages
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if err := reps[m.To].Step(m); err != nil {
			panic(err)
		}
		rd := reps[m.To].Ready()
		queue = append(queue, rd.Messages...)
		for _, c := range rd.Committed {
			fmt.Printf("replica %d: command %d.%d committed on the %s path\n", m.To, c.ID.Client, c.ID.Seq, c.Path)
		}
		for _, e := range rd.Executed {
			fmt.Printf("replica %d: executed %s %s=%s\n", m.To, e.Command.Op, e.Command.Key, e.Command.Value)
		}
	}
	// Output:
	// replica 0: command 1.1 committed on the fast path
	// replica 0: executed put x=42
	// replica 1: executed put x=42
	// replica 2: executed put x=42
}
