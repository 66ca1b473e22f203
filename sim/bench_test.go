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

// BenchmarkEventsOverhead measures the simulator's own cost per event: 100
// tokens circulate around a ring of five replicas that do nothing but pass
// them on (and do not allocate), with jitter and a CPU cost so that every
// feature of the hot path runs.
func BenchmarkEventsOverhead(b *testing.B) {
	s, err := sim.New(sim.Config{New: newRing, N: 5, Seed: 1, Jitter: 50 * time.Microsecond, CPU: time.Microsecond})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := s.Propose(paxos.NodeID(i%5), paxos.Command{}); err != nil {
			b.Fatal(err)
		}
	}
	s.Run(10 * time.Millisecond)
	start := s.Events()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Next()
	}
	b.StopTimer()
	b.ReportMetric(float64(s.Events()-start)/b.Elapsed().Seconds(), "events/s")
}

type token struct{}

// ring passes every token it receives (or is proposed) to the next replica.
// It reuses its outbox: the simulator is done with a Ready before the next
// input.
type ring struct {
	id  paxos.NodeID
	n   int
	out []paxos.Message
}

func newRing(cfg paxos.Config) (paxos.Replica, error) {
	return &ring{id: cfg.ID, n: cfg.N}, nil
}

func (r *ring) ID() paxos.NodeID { return r.id }
func (r *ring) Propose(paxos.Command) {
	r.out = append(r.out, paxos.Message{From: r.id, To: (r.id + 1) % paxos.NodeID(r.n), Body: token{}})
}
func (r *ring) Step(paxos.Message) error { r.Propose(paxos.Command{}); return nil }
func (r *ring) Tick()                    {}
func (r *ring) Ready() paxos.Ready {
	rd := paxos.Ready{Messages: r.out}
	r.out = r.out[:0]
	return rd
}

// BenchmarkEventsCPU is BenchmarkEvents with a CPU cost per message, which
// doubles the events per message (arrival and end of service).
func BenchmarkEventsCPU(b *testing.B) {
	if !slices.Contains(paxos.Protocols(), "basic") {
		b.Skip("protocol basic is not registered")
	}
	benchEvents(b, sim.Config{Protocol: "basic", N: 5, Seed: 1, CPU: 10 * time.Microsecond, Jitter: 50 * time.Microsecond})
}
