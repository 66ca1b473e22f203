package flexible_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/sim"
)

// throughput runs 100 closed-loop clients at the leader's site for one
// virtual second with a CPU cost of cpu per message and returns committed
// operations per virtual second.
func throughput(b *testing.B, protocol string, n, batch int, q quorum.System, cpu time.Duration) float64 {
	s, err := sim.New(sim.Config{Protocol: protocol, N: n, CPU: cpu, Seed: 1,
		Replica: paxos.Config{InitialLeader: 0, Batch: batch, Quorums: q}})
	if err != nil {
		b.Fatal(err)
	}
	for c := 0; c < 100; c++ {
		k := 0
		_, err := s.AddClient(sim.ClientConfig{Site: 0, Workload: sim.WorkloadFunc(func(*rand.Rand) paxos.Command {
			k++
			return paxos.Command{Op: paxos.OpPut, Key: fmt.Sprint("k", k%16), Value: "v"}
		})})
		if err != nil {
			b.Fatal(err)
		}
	}
	const warm, end = 200 * time.Millisecond, 1200 * time.Millisecond
	s.Run(end)
	done := 0
	for _, o := range s.History() {
		if o.Done && o.Return > warm && o.Return <= end {
			done++
		}
	}
	return float64(done) / (end - warm).Seconds()
}

// BenchmarkThroughputShape reports simulated throughput (ops/s of virtual
// time) with a 20 µs CPU cost per message at every replica, as N grows:
// Multi-Paxos (leader sends to and hears from all N-1 others) falls with N,
// batching raises it, and Flexible Paxos with thrifty Q2 = 2 stays flat.
// Run with -benchtime 1x; ns/op is the simulator's own cost. One run gave
// (ops/s of virtual time):
//
//	N   multi   multi batch 10   flexible Q2=2
//	3   16592   41440            24897
//	5    9914   35254            24806
//	7    7055   30704            24707
//	9    5461   27258            24597
//
// Multi-Paxos tracks 1/(N x 20 µs): the leader handles a proposal and N-1
// acknowledgements per slot. Thrifty Q2 = 2 handles a proposal and one
// acknowledgement whatever N is.
func BenchmarkThroughputShape(b *testing.B) {
	const cpu = 20 * time.Microsecond
	for _, n := range []int{3, 5, 7, 9} {
		q2, err := quorum.NewCounting(n, n-1, 2)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			name     string
			protocol string
			batch    int
			q        quorum.System
		}{
			{"multi", "multi", 1, nil},
			{"multi-batch10", "multi", 10, nil},
			{"flexible-q2=2", "flexible", 1, q2},
		} {
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				var tput float64
				for range b.N {
					tput = throughput(b, c.protocol, n, c.batch, c.q, cpu)
				}
				b.ReportMetric(tput, "ops/s")
			})
		}
	}
}
