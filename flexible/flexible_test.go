package flexible_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/flexible"
	"github.com/paxos-lab/paxos/multi"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/rtt"
	"github.com/paxos-lab/paxos/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ms = time.Millisecond

func mustCounting(t testing.TB, n, q1, q2 int) quorum.System {
	q, err := quorum.NewCounting(n, q1, q2)
	require.NoError(t, err)
	return q
}

func TestConfigValidation(t *testing.T) {
	g, err := quorum.NewGrid(2, 3)
	require.NoError(t, err)
	for _, q := range []quorum.System{nil, mustCounting(t, 5, 4, 2), mustCounting(t, 5, 2, 4)} {
		_, err := flexible.New(paxos.Config{N: 5, Quorums: q, InitialLeader: -1})
		require.NoError(t, err, "%v", q)
	}
	_, err = flexible.New(paxos.Config{N: 6, Quorums: g, InitialLeader: -1})
	require.NoError(t, err)

	bad := []struct {
		cfg  paxos.Config
		want string
	}{
		{paxos.Config{N: 5, Quorums: flexible.HandCounting{N0: 5, Q1: 2, Q2: 3}, InitialLeader: -1}, "q1=2,q2=3"},
		{paxos.Config{N: 5, Quorums: mustCounting(t, 5, 4, 2), InitialLeader: -1, LeaseTicks: 10}, "LeaseTicks=10"},
		{paxos.Config{N: 5, Quorums: mustCounting(t, 5, 4, 2), InitialLeader: -1, Window: -1}, "Window=-1"},
		{paxos.Config{N: 4, Quorums: mustCounting(t, 5, 4, 2), InitialLeader: -1}, "covers 5"},
	}
	for _, b := range bad {
		_, err := flexible.New(b.cfg)
		require.ErrorIs(t, err, paxos.ErrConfig)
		assert.Contains(t, err.Error(), b.want)
	}
}

// latencies runs one closed-loop client per site and returns the median
// latency of each site in ms.
func latencies(t *testing.T, m [][]float64, rc paxos.Config) []float64 {
	n := len(m)
	s, err := sim.New(sim.Config{Protocol: "flexible", N: n, Replica: rc, RTT: m, Seed: 5})
	require.NoError(t, err)
	for site := 0; site < n; site++ {
		site, k := site, 0
		_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Ops: 21, Workload: sim.WorkloadFunc(func(*rand.Rand) paxos.Command {
			k++
			return paxos.Command{Op: paxos.OpPut, Key: fmt.Sprint("site", site), Value: fmt.Sprint(k)}
		})})
		require.NoError(t, err)
	}
	s.Run(30 * time.Second)
	lat := make([][]float64, n)
	for _, o := range s.History() {
		require.True(t, o.Done)
		lat[o.Site] = append(lat[o.Site], float64(o.Return-o.Call)/float64(ms))
	}
	med := make([]float64, n)
	for i, l := range lat {
		sort.Float64s(l)
		med[i] = l[len(l)/2]
	}
	return med
}

// With thrifty Q2 = 2 the leader waits only for its nearest replica.
func TestLatencyOptimalQ2(t *testing.T) {
	for _, c := range []struct{ preset, leader string }{{"epaxos2013", "CA"}, {"aws2020", "VA"}} {
		m, err := rtt.Preset(c.preset)
		require.NoError(t, err)
		l, _ := m.Index(c.leader)
		rc := paxos.Config{InitialLeader: paxos.NodeID(l), RetryTicks: 50, Quorums: mustCounting(t, 5, 4, 2)}
		med := latencies(t, m.MS, rc)
		nearest := 1e9
		for j := range m.MS {
			if j != l {
				nearest = min(nearest, m.MS[l][j])
			}
		}
		for site, got := range med {
			want := nearest
			if site != l {
				want += m.MS[site][l]
			}
			t.Logf("%s leader %s q2=2: %s median %.1f ms, optimum %.1f ms", c.preset, c.leader, m.Name(site), got, want)
			assert.InDelta(t, want, got, want*0.01, "%s at %s", c.preset, m.Name(site))
		}
	}
}

func commitsDuring(s *sim.Sim, from, to time.Duration) int {
	n := 0
	for _, o := range s.History() {
		if o.Done && o.Return > from && o.Return <= to {
			n++
		}
	}
	return n
}

// Scenario 6: N = 5, Q1 = 4, Q2 = 2.
func TestFPaxosTradeOff(t *testing.T) {
	q := mustCounting(t, 5, 4, 2)
	s, err := sim.New(sim.Config{Protocol: "flexible", N: 5, Replica: paxos.Config{InitialLeader: 0, Quorums: q}, Seed: 11, Record: true})
	require.NoError(t, err)
	for _, site := range []paxos.NodeID{0, 3} {
		_, err := s.AddClient(sim.ClientConfig{Site: site, Workload: sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
			return paxos.Command{Op: paxos.OpPut, Key: fmt.Sprint("k", rng.IntN(3)), Value: fmt.Sprint(rng.Uint64())}
		})})
		require.NoError(t, err)
	}
	s.Run(300 * ms)
	// Steady state with two followers down, the thrifty quorum's member 1
	// among them: the leader widens and keeps committing with 0 and 3 (and 4).
	require.NoError(t, s.Crash(1))
	require.NoError(t, s.Crash(2))
	s.Run(600 * ms)
	assert.Greater(t, commitsDuring(s, 400*ms, 600*ms), 50, "progress with two followers down")
	assert.True(t, s.Replica(0).(*multi.Replica).IsLeader())

	// Leader change with only three replicas alive (2, 3, 4 after 0 and 1
	// go down and 2 comes back): Q1 = 4 is out of reach, so it stalls.
	require.NoError(t, s.Crash(0))
	require.NoError(t, s.Restart(2))
	s.Run(3 * time.Second)
	assert.Zero(t, commitsDuring(s, 800*ms, 3*time.Second), "no commit without a phase-1 quorum")
	for _, id := range []paxos.NodeID{2, 3, 4} {
		assert.False(t, s.Replica(id).(*multi.Replica).IsLeader(), "replica %d became leader with 3 of 5 alive", id)
	}
	// A fourth replica returns: a leader is elected and service resumes.
	require.NoError(t, s.Restart(1))
	s.Run(6 * time.Second)
	assert.Greater(t, commitsDuring(s, 3*time.Second, 6*time.Second), 50, "progress after a fourth replica returned")
}

func ExampleNew() {
	q, err := quorum.NewCounting(5, 4, 2)
	if err != nil {
		panic(err)
	}
	s, err := sim.New(sim.Config{Protocol: "flexible", N: 5, Replica: paxos.Config{InitialLeader: 0, Quorums: q}, Seed: 1})
	if err != nil {
		panic(err)
	}
	_ = s.Propose(2, paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "x", Value: "42"})
	s.Run(time.Second)
	fmt.Println(s.Replica(2).(*multi.Replica).Executed(), "slot executed at replica 2")

	_, err = quorum.NewCounting(5, 2, 2) // Q1 + Q2 <= N: refused
	fmt.Println(err != nil)
	// Output:
	// 1 slot executed at replica 2
	// true
}
