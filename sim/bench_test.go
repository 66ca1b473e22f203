package sim_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	_ "github.com/paxos-lab/paxos/basic" // registers "basic" for BenchmarkEvents
	"github.com/paxos-lab/paxos/sim"
)

// benchWorkload puts to a key of the client's own, so that commands do not
// interfere (what matters here is the simulator's speed).
func benchWorkload(client int) sim.Workload {
	key := fmt.Sprintf("k%d", client)
	return sim.WorkloadFunc(func(*rand.Rand) paxos.Command {
		return paxos.Command{Op: paxos.OpPut, Key: key, Value: "v"}
	})
}

// benchEvents measures simulated events per second of wall time: five
// replicas on a LAN, one closed-loop client per site, no recording or
// tracing, faults off.
func benchEvents(b *testing.B, cfg sim.Config) {
	s, err := sim.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for site := 0; site < cfg.N; site++ {
		if _, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: benchWorkload(site)}); err != nil {
			b.Fatal(err)
		}
	}
	s.Run(100 * time.Millisecond) // warm up
	start := s.Events()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !s.Next() {
			b.Fatal("the simulation ran out of events")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(s.Events()-start)/b.Elapsed().Seconds(), "events/s")
	done := 0
	for _, op := range s.History() {
		if op.Done {
			done++
		}
	}
	if b.N > 100000 && done == 0 {
		b.Fatal("no operation completed: the benchmark measured a stuck cluster")
	}
}

// BenchmarkEvents reports how many events per second the simulator
// processes running Basic Paxos (target: at least 500,000 on one core).
func BenchmarkEvents(b *testing.B) {
	if !slices.Contains(paxos.Protocols(), "basic") {
		b.Skip("protocol basic is not registered")
	}
	benchEvents(b, sim.Config{Protocol: "basic", N: 5, Seed: 1})
}

// BenchmarkEventsToy measures the simulator's own overhead with the
// test-only fixed-leader replica, whose per-message work is tiny.
func BenchmarkEventsToy(b *testing.B) {
	benchEvents(b, sim.Config{New: newToy(0), N: 5, Seed: 1})
}

// BenchmarkEventsCPU is BenchmarkEvents with a CPU cost per message, which
// doubles the events per message (arrival and end of service).
func BenchmarkEventsCPU(b *testing.B) {
	if !slices.Contains(paxos.Protocols(), "basic") {
		b.Skip("protocol basic is not registered")
	}
	benchEvents(b, sim.Config{Protocol: "basic", N: 5, Seed: 1, CPU: 10 * time.Microsecond, Jitter: 50 * time.Microsecond})
}
