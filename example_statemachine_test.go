package paxos_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/paxos-lab/paxos"
	_ "github.com/paxos-lab/paxos/epaxos" // registers "epaxos"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/sim"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

// counter is a replicated counter: the payload "add N" adds N, "get" reads.
type tally struct{ n int64 }

func (c *tally) Apply(cmd paxos.Command) (string, error) {
	p := string(cmd.Payload)
	if p == "get" {
		return strconv.FormatInt(c.n, 10), nil
	}
	var d int64
	if _, err := fmt.Sscanf(p, "add %d", &d); err != nil {
		return "", errors.New("want \"add N\" or \"get\"")
	}
	c.n += d
	return strconv.FormatInt(c.n, 10), nil
}
func (c *tally) Snapshot() []byte       { return binary.AppendVarint(nil, c.n) }
func (c *tally) Restore(b []byte) error { c.n, _ = binary.Varint(b); return nil }

func add(seq uint64, p string) paxos.Command {
	return paxos.Command{Client: 7, Seq: seq, Op: paxos.OpApp, Payload: []byte(p), Keys: []string{"counter"}}
}

// A replicated counter on EPaxos: the same state machine in the
// deterministic simulator and on three live in-process replicas.
func Example_stateMachine() {
	sm := func() paxos.StateMachine { return &tally{} }
	s, _ := sim.New(sim.Config{Protocol: "epaxos", N: 3, Record: true, Replica: paxos.Config{StateMachine: sm}})
	_ = s.Propose(0, add(1, "add 2"))
	_ = s.Propose(1, add(2, "add 40"))
	_ = s.Propose(2, add(3, "bogus"))
	s.Run(time.Second)
	for _, ex := range s.Executions() {
		if ex.Replica == 2 {
			fmt.Printf("sim: %s -> %q %q\n", ex.Command.Payload, ex.Output, ex.Err)
		}
	}
	net := transport.NewNetwork(3, 0)
	var nodes []*node.Node
	for i := range 3 {
		nd, _ := node.Start(node.Config{Protocol: "epaxos", Transport: net.Endpoint(paxos.NodeID(i)), Storage: storage.NewMemory(),
			Replica: paxos.Config{ID: paxos.NodeID(i), N: 3, StateMachine: sm}.WithDefaults()})
		defer nd.Stop(context.Background())
		nodes = append(nodes, nd)
	}
	ex, _ := nodes[1].Submit(context.Background(), add(1, "add 5"))
	ex2, _ := nodes[2].Submit(context.Background(), paxos.Command{Client: 7, Seq: 2, Op: paxos.OpApp, Payload: []byte("get"), ReadOnly: true, Keys: []string{"counter"}})
	fmt.Println("live:", ex.Output, ex2.Output)
	// Output:
	// sim: add 2 -> "2" ""
	// sim: add 40 -> "42" ""
	// sim: bogus -> "" "want \"add N\" or \"get\""
	// live: 5 5
}
