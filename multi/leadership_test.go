package multi_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/paxos-lab/paxos/multi"
	"github.com/paxos-lab/paxos/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/paxos-lab/paxos/flexible" // registers "flexible"
)

// overloadRun runs protocol on 5 simulated LAN replicas whose CPU costs
// cpu per message (one FIFO server per replica, so a loaded replica's
// messages queue behind each other), with 10 clients per replica: closed
// loop when rate is 0, otherwise open loop at rate ops/s in total (clients
// never retry: retries would only multiply the overload). It
// returns the operations per second completed in [warm, until) and the
// number of elections started and leaders seen over the whole run.
func overloadRun(t *testing.T, protocol string, cpu time.Duration, rate float64, warm, until time.Duration) (float64, uint64, int) {
	t.Helper()
	s, err := sim.New(sim.Config{
		Protocol: protocol,
		N:        5,
		Replica:  paxos.Config{Batch: 16, InitialLeader: 0},
		CPU:      cpu,
		Seed:     7,
	})
	require.NoError(t, err)
	for site := 0; site < 5; site++ {
		for c := 0; c < 10; c++ {
			k := 0
			_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Rate: rate / 50, RetryTimeout: time.Minute, Workload: sim.WorkloadFunc(func(*rand.Rand) paxos.Command {
				k++
				return paxos.Command{Op: paxos.OpPut, Key: fmt.Sprintf("s%dc%d-%d", site, c, k%16), Value: "0123456789abcdef"}
			})})
			require.NoError(t, err)
		}
	}
	leaders := map[paxos.NodeID]bool{}
	var watch func()
	watch = func() {
		for id := 0; id < 5; id++ {
			if r, ok := s.Replica(paxos.NodeID(id)).(*multi.Replica); ok && r.IsLeader() {
				leaders[paxos.NodeID(id)] = true
			}
		}
		s.After(10*time.Millisecond, watch)
	}
	s.After(0, watch)
	s.Run(warm)
	start := s.Completed()
	s.Run(until)
	ops := float64(s.Completed()-start) / (until - warm).Seconds()
	return ops, s.Coverage()["elections"], len(leaders)
}

// TestLeaderSurvivesOverload offers 4x the closed-loop peak, open loop, for
// 30 simulated seconds to a 5-replica cluster whose replicas are CPU-bound
// (500 µs per message), and requires that the initial leader is never
// deposed: no election starts anywhere. A follower resets its election timer
// on every message of the leader's ballot (Accept, Commit, Heartbeat,
// CatchUp, InstallSnapshot), so a leader whose queue delays its heartbeats
// still keeps its followers while it keeps sending them work. (Throughput
// under this overload falls to about half the peak: the leader's CPU goes
// to proposals that arrive faster than it can order them; not asserted
// beyond a floor.)
var overloadFor = 30 * time.Second

func TestLeaderSurvivesOverload(t *testing.T) {
	longtest.Skip(t, "a long run")
	if raceEnabled {
		t.Skip("simulates 30 s of an overloaded cluster (about 70 s of CPU)")
	}
	const cpu = 500 * time.Microsecond
	for _, protocol := range []string{"multi", "flexible"} {
		t.Run(protocol, func(t *testing.T) {
			peak, elections, _ := overloadRun(t, protocol, cpu, 0, 500*time.Millisecond, 1500*time.Millisecond)
			require.Zero(t, elections, "closed-loop run")
			got, elections, leaders := overloadRun(t, protocol, cpu, 4*peak, time.Second, overloadFor)
			t.Logf("%s: closed-loop peak %.0f ops/s; at %.0f ops/s offered for 30 s: %.0f ops/s, %d elections, %d leaders",
				protocol, peak, 4*peak, got, elections, leaders)
			assert.Zero(t, elections, "an election started under overload")
			assert.Equal(t, 1, leaders, "the leader changed under overload")
			assert.Greater(t, got, 0.25*peak, "throughput collapsed under overload")
		})
	}
}
