package transport_test

import (
	"fmt"
	"net"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/transport"
)

type hi struct{ Text string }

func init() { paxos.Register("transport_test.hi", hi{}) }

func Example() {
	// Two replicas over TCP on loopback. Peers[i] is replica i's address;
	// here the listeners are made first so the ports are known.
	la, _ := net.Listen("tcp", "127.0.0.1:0")
	lb, _ := net.Listen("tcp", "127.0.0.1:0")
	// Both hold the cluster secret and prove it on every connection.
	peers := []string{la.Addr().String(), lb.Addr().String()}
	secret, _ := transport.NewSecret()
	a, _ := transport.NewTCP(transport.TCPConfig{Cluster: "demo", ID: 0, Peers: peers, Listener: la, Secret: secret})
	b, _ := transport.NewTCP(transport.TCPConfig{Cluster: "demo", ID: 1, Peers: peers, Listener: lb, Secret: secret})
	defer a.Close()
	defer b.Close()

	a.Send(paxos.Message{From: 0, To: 1, Body: hi{Text: "hello"}})
	m := <-b.Recv()
	fmt.Println(m.From, m.Body.(hi).Text)
	// Output: 0 hello
}
