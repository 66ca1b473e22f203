package client_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/transport"
)

// single is a stand-in for a replica: it executes commands on a local
// key-value store (with exactly-once sessions, as a replica has).
type single struct {
	mu sync.Mutex
	kv *kv.Executor
}

func (s *single) Submit(_ context.Context, cmd paxos.Command) (paxos.Execution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kv.Apply(&cmd), nil
}

func Example() {
	// A replica serves the client protocol on its client port (paxos serve
	// does this with a node.Node as the Submitter).
	// Clients prove they hold the cluster's client token.
	token := transport.ClientToken([]byte("the cluster secret, 32 bytes....."))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := client.NewServer(client.ServerConfig{Submitter: &single{kv: kv.NewExecutor(paxos.Config{})}, Token: token})
	go srv.Serve(ln)
	defer srv.Close()

	// A client lists every replica's client address and retries across them.
	cl, _ := client.New([]string{ln.Addr().String()}, client.Options{Token: token})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cl.Put(ctx, "greeting", "hello")
	v, _ := cl.Get(ctx, "greeting")
	fmt.Println(v)
	// Output: hello
}
