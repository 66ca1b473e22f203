package basic_test

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/basic"
	"github.com/paxos-lab/paxos/quorum"
)

// Example decides one value with the single-decree roles: a proposer, three
// acceptors and a learner, with the messages passed by hand.
func Example() {
	q, _ := quorum.NewMajority(3)
	acceptors := make([]basic.Acceptor, 3)
	learner := basic.NewLearner(q)

	// Proposer 1 wants "blue". Phase 1: prepare ballot 1.1 at acceptors 0 and 1.
	p := basic.NewProposer(q, basic.NextBallot(basic.Ballot{}, 1), []paxos.Command{{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "color", Value: "blue"}})
	for _, a := range []int{0, 1} {
		if p.Promise(paxos.NodeID(a), acceptors[a].Prepare(p.Ballot())) {
			fmt.Println("phase 1 done at ballot", p.Ballot())
		}
	}
	// Phase 2: acceptors 1 and 2 accept; the learner counts their votes.
	for _, a := range []int{1, 2} {
		if acceptors[a].Accept(p.Ballot(), p.Value()).OK && learner.Accepted(paxos.NodeID(a), p.Ballot(), p.Value()) {
			v, _ := learner.Value()
			fmt.Println("chosen:", v[0].Value)
		}
	}

	// A later proposer 0 wanting "red" must adopt the chosen value.
	p2 := basic.NewProposer(q, basic.NextBallot(p.Ballot(), 0), []paxos.Command{{Client: 2, Seq: 1, Op: paxos.OpPut, Key: "color", Value: "red"}})
	for _, a := range []int{0, 2} {
		p2.Promise(paxos.NodeID(a), acceptors[a].Prepare(p2.Ballot()))
	}
	fmt.Println("ballot", p2.Ballot(), "adopted:", p2.Adopted(), "proposes:", p2.Value()[0].Value)
	// The old ballot is now refused.
	fmt.Println("stale accept ok:", acceptors[2].Accept(p.Ballot(), p.Value()).OK)

	// Output:
	// phase 1 done at ballot 1.1
	// chosen: blue
	// ballot 2.0 adopted: true proposes: blue
	// stale accept ok: false
}

// ExampleNew runs a three-replica log by hand: a command proposed at
// replica 0 runs Phase 1 and Phase 2, and every replica executes it.
func ExampleNew() {
	var reps []paxos.Replica
	for i := 0; i < 3; i++ {
		r, err := basic.New(paxos.Config{ID: paxos.NodeID(i), N: 3, Seed: 1})
		if err != nil {
			panic(err)
		}
		reps = append(reps, r)
	}
	var queue []paxos.Message
	handle := func(r paxos.Replica) {
		rd := r.Ready() // a real driver persists rd.Persist before sending
		queue = append(queue, rd.Messages...)
		for _, c := range rd.Committed {
			fmt.Printf("replica %d: command %d.%d committed\n", r.ID(), c.ID.Client, c.ID.Seq)
		}
		for _, e := range rd.Executed {
			fmt.Printf("replica %d executed %s %s=%s\n", r.ID(), e.Command.Op, e.Command.Key, e.Command.Value)
		}
	}
	reps[0].Propose(paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "x", Value: "42"})
	handle(reps[0])
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if err := reps[m.To].Step(m); err != nil {
			panic(err)
		}
		handle(reps[m.To])
	}
	// Output:
	// replica 0: command 1.1 committed
	// replica 0 executed put x=42
	// replica 1 executed put x=42
	// replica 2 executed put x=42
}
