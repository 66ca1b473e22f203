package rtt_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/paxos-lab/paxos/rtt"
)

func Example() {
	m, err := rtt.Preset("epaxos2013")
	if err != nil {
		panic(err)
	}
	ca, _ := m.Index("CA")
	fmt.Println(m.Sites, m.OneWay(ca, 0))
	var near []string
	for _, j := range m.Nearest(ca) {
		near = append(near, fmt.Sprintf("%s %gms", m.Name(j), m.RTT(ca, j)))
	}
	fmt.Println(strings.Join(near, "; "))
	// EPaxos N=5 fast quorum of 3: CA waits for its 2nd nearest replica.
	fast, _ := m.KthNearest(ca, 2)
	fmt.Println("fast path at CA:", fast, "ms")

	custom, err := rtt.ParseCSV(strings.NewReader("site,A,B\nA,0,12\nB,12,0\n"))
	fmt.Println(custom.N(), err)
	_ = custom.WriteCSV(os.Stdout)

	_, err = rtt.ParseCSV(strings.NewReader("site,A,B\nA,0,12\nB,-3,0\n"))
	fmt.Println(err)
	// Output:
	// [VA CA OR JP EU] 42.5ms
	// OR 21ms; VA 85ms; JP 118ms; EU 156ms
	// fast path at CA: 85 ms
	// 2 <nil>
	// site,A,B
	// A,0,12
	// B,12,0
	// rtt: invalid RTT matrix: line 3: B to A: negative round trip -3 ms
}
