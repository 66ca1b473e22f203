package bench_test

import (
	"context"
	"fmt"
	"time"

	"github.com/paxos-lab/paxos/bench"
	_ "github.com/paxos-lab/paxos/protocols"
	"github.com/paxos-lab/paxos/rtt"
)

// ExampleRun measures Multi-Paxos with its leader in CA on the 3-site
// EPaxos matrix, one closed-loop client per site, and prints each site's
// median latency: RTT to CA plus CA's round trip to its nearest peer (85 ms).
func ExampleRun() {
	m, _ := rtt.Preset("epaxos2013-3") // CA, VA, EU
	s := bench.DefaultSpec()
	s.Protocols = []string{"multi"}
	s.RTTName, s.Sites, s.RTT, s.Replicas = "epaxos2013-3", m.Sites, m.MS, m.N()
	s.Clients = 1
	s.Leader = 0 // CA
	s.Duration, s.Warmup = 3*time.Second, time.Second
	res, err := bench.Run(context.Background(), s, bench.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, row := range res.Summary {
		fmt.Printf("%s p50 %.0f ms\n", row.Site, row.Lat.P50)
	}
	// Output:
	// CA p50 85 ms
	// VA p50 170 ms
	// EU p50 241 ms
	// all p50 85 ms
}

// ExampleDescribe summarises latency samples; quantiles are gonum's
// empirical quantiles (the smallest sample with at least p of the samples
// at or below it).
func ExampleDescribe() {
	st := bench.Describe([]float64{12, 10, 11, 50, 13})
	fmt.Printf("n=%d mean=%.1f p50=%.0f p99=%.0f\n", st.N, st.Mean, st.P50, st.P99)
	// Output:
	// n=5 mean=19.2 p50=12 p99=50
}
