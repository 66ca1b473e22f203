package node_test

import (
	"context"
	"fmt"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/node"
	_ "github.com/paxos-lab/paxos/protocols" // registers every protocol
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

func Example() {
	// Three Multi-Paxos replicas in this process, joined by channels and
	// keeping their records in memory. Over TCP with a WAL, use
	// transport.NewTCP and storage.OpenWAL, or node.Serve.
	const n = 3
	network := transport.NewNetwork(n, 0)
	nodes := make([]*node.Node, n)
	for i := range nodes {
		nd, err := node.Start(node.Config{
			Protocol:  "multi",
			Replica:   paxos.Config{ID: paxos.NodeID(i), N: n, InitialLeader: 0}.WithDefaults(),
			Transport: network.Endpoint(paxos.NodeID(i)),
			Storage:   storage.NewMemory(),
			Tick:      10 * time.Millisecond,
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		nodes[i] = nd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Submit blocks until the command executed at that replica.
	_, err := nodes[0].Submit(ctx, paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "x", Value: "42"})
	if err != nil {
		fmt.Println(err)
	}
	ex, _ := nodes[0].Submit(ctx, paxos.Command{Client: 1, Seq: 2, Op: paxos.OpGet, Key: "x"})
	fmt.Println(ex.Output)
	for _, nd := range nodes {
		_ = nd.Stop(ctx)
	}
	// Output: 42
}
