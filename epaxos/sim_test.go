package epaxos_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/epaxos"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/paxos-lab/paxos/rtt"
	"github.com/paxos-lab/paxos/sim"
)

// uniqueKeys is a workload with no interference: every command writes a key
// of its own.
func uniqueKeys(site int) sim.Workload {
	n := 0
	return sim.WorkloadFunc(func(*rand.Rand) paxos.Command {
		n++
		return paxos.Command{Op: paxos.OpPut, Key: fmt.Sprintf("s%d-%d", site, n), Value: "v"}
	})
}

// hotKey is a workload with 100% interference: every command writes one key.
func hotKey() sim.Workload {
	return sim.WorkloadFunc(func(*rand.Rand) paxos.Command {
		return paxos.Command{Op: paxos.OpPut, Key: "hot", Value: "v"}
	})
}

// geometric builds an n-site matrix from points in the plane (ms per unit).
func geometric(name string, pts [][2]float64) rtt.Matrix {
	m := rtt.Matrix{MS: make([][]float64, len(pts))}
	for i := range pts {
		m.Sites = append(m.Sites, fmt.Sprintf("%s%d", name, i))
		m.MS[i] = make([]float64, len(pts))
		for j := range pts {
			m.MS[i][j] = math.Round(math.Hypot(pts[i][0]-pts[j][0], pts[i][1]-pts[j][1]))
		}
	}
	return m
}

func matrices(t *testing.T, n int) []rtt.Matrix {
	t.Helper()
	get := func(name string) rtt.Matrix {
		m, err := rtt.Preset(name)
		require.NoError(t, err)
		return m
	}
	switch n {
	case 3:
		aws := get("aws2020")
		sub, err := aws.Sub(0, 1, 3) // VA, CA, EU
		require.NoError(t, err)
		return []rtt.Matrix{get("epaxos2013-3"), sub}
	case 5:
		return []rtt.Matrix{get("epaxos2013"), get("aws2020"), get("gcp2020")}
	default:
		return []rtt.Matrix{
			geometric("ring", [][2]float64{{0, 0}, {40, 10}, {90, 0}, {130, 60}, {60, 120}, {10, 90}, {200, 200}}),
			geometric("line", [][2]float64{{0, 0}, {15, 0}, {35, 0}, {70, 0}, {110, 0}, {160, 0}, {230, 0}}),
		}
	}
}

// perSite returns the median of f over the completed operations of each site.
func perSite(h []sim.Operation, n int, f func(o sim.Operation) (time.Duration, bool)) []time.Duration {
	vals := make([][]time.Duration, n)
	for _, o := range h {
		if v, ok := f(o); ok {
			vals[o.Site] = append(vals[o.Site], v)
		}
	}
	out := make([]time.Duration, n)
	for i, v := range vals {
		if len(v) > 0 {
			slices.Sort(v)
			out[i] = v[len(v)/2]
		}
	}
	return out
}

func quantile(v []time.Duration, q float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[min(len(v)-1, int(q*float64(len(v))))]
}

func runSites(t *testing.T, m rtt.Matrix, thrifty bool, wl func(site int) sim.Workload, ops int) *sim.Sim {
	t.Helper()
	s, err := sim.New(sim.Config{New: epaxos.New, N: m.N(), RTT: m.MS, Seed: 1, Replica: paxos.Config{Thrifty: thrifty}})
	require.NoError(t, err)
	for i := 0; i < m.N(); i++ {
		_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(i), Workload: wl(i), Ops: ops})
		require.NoError(t, err)
	}
	require.True(t, s.RunUntil(func() bool { return s.Completed() == ops*m.N() }, time.Hour))
	return s
}

// The fast path's latency: with no interference, the median latency at
// each site is its round trip to its (fast quorum − 1)-th nearest other
// replica, within 1%, on two or more matrices at N = 3, 5 and 7, thrifty or
// not.
func TestFastPathLatency(t *testing.T) {
	for _, n := range []int{3, 5, 7} {
		fq := map[int]int{3: 2, 5: 3, 7: 5}[n]
		for _, m := range matrices(t, n) {
			for _, thrifty := range []bool{false, true} {
				s := runSites(t, m, thrifty, uniqueKeys, 30)
				med := perSite(s.History(), n, func(o sim.Operation) (time.Duration, bool) { return o.Return - o.Call, o.Done })
				for i := 0; i < n; i++ {
					want, err := m.KthNearest(i, fq-1)
					require.NoError(t, err)
					got := float64(med[i]) / float64(time.Millisecond)
					assert.InDelta(t, want, got, want*0.01, "N=%d %s site %s thrifty=%v", n, m.Sites, m.Name(i), thrifty)
				}
				for _, o := range s.History() {
					require.Equal(t, paxos.PathFast, o.Path, "no interference: every command takes the fast path")
				}
			}
		}
	}
}

// The slow path at 100% interference: commit latency at a site is about one
// fast-quorum round plus one majority round.
func TestSlowPathLatency(t *testing.T) {
	m, err := rtt.Preset("epaxos2013")
	require.NoError(t, err)
	s := runSites(t, m, false, func(int) sim.Workload { return hotKey() }, 40)
	med := perSite(s.History(), 5, func(o sim.Operation) (time.Duration, bool) {
		return o.Commit - o.Call, o.Done && o.Committed && o.Path == paxos.PathSlow
	})
	slow := 0
	for _, o := range s.History() {
		if o.Path == paxos.PathSlow {
			slow++
		}
	}
	assert.Greater(t, slow, len(s.History())/2, "most commands take the slow path")
	for i := 0; i < 5; i++ {
		fast, _ := m.KthNearest(i, 2)
		maj, _ := m.KthNearest(i, 2)
		want := fast + maj
		got := float64(med[i]) / float64(time.Millisecond)
		t.Logf("site %s: median slow-path commit %.1f ms, one fast-quorum round + one majority round = %.1f ms", m.Name(i), got, want)
		assert.InDelta(t, want, got, want*0.05, "site %s", m.Name(i))
	}
}

// Bounded execution (pitfall 4): 5 replicas, 100% conflicts, open-loop
// Poisson arrivals. Execution minus commit latency stays bounded, and when a
// replica crashes for good, the instances it led that others depend on are
// recovered so execution continues at the surviving sites.
func TestBoundedExecution(t *testing.T) {
	m, err := rtt.Preset("epaxos2013")
	require.NoError(t, err)
	s, err := sim.New(sim.Config{New: epaxos.New, N: 5, RTT: m.MS, Seed: 3})
	require.NoError(t, err)
	dur := 20 * time.Second
	if !longtest.Enabled() {
		dur = 12 * time.Second
	}
	for i := 0; i < 5; i++ {
		_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(i), Workload: hotKey(), Rate: 40})
		require.NoError(t, err)
	}
	crashAt := dur / 2
	s.At(crashAt, func() { require.NoError(t, s.Crash(4)) })
	s.Run(dur)
	var gaps, steady []time.Duration
	var late, lateDone int
	for _, o := range s.History() {
		if o.Site == 4 {
			continue
		}
		if o.Done && o.Committed {
			gaps = append(gaps, o.Return-o.Commit)
			if o.Return < crashAt {
				steady = append(steady, o.Return-o.Commit)
			}
		}
		if o.Call > crashAt+2*time.Second && o.Call < dur-2*time.Second {
			late++
			if o.Done {
				lateDone++
			}
		}
	}
	require.NotEmpty(t, gaps)
	p50, p99, maxGap := quantile(gaps, 0.5), quantile(gaps, 0.99), quantile(gaps, 1)
	t.Logf("exec-commit over %d ops: p50 %v p99 %v max %v", len(gaps), p50, p99, maxGap)
	sp99 := quantile(steady, 0.99)
	t.Logf("exec-commit before the crash (%d ops): p50 %v p99 %v", len(steady), quantile(steady, 0.5), sp99)
	assert.Less(t, sp99, time.Second, "steady-state p99 execution minus commit latency must stay bounded")
	assert.Less(t, p99, 2*time.Second, "p99 execution minus commit latency must stay bounded across the crash")
	require.Greater(t, late, 50)
	assert.Equal(t, late, lateDone, "after the crash, every operation at the other sites completes")
}

// Garbage collection keeps the number of live instances bounded over a
// long run. The 1,000,000-command run is BenchmarkLiveInstances.
func TestLiveInstancesBounded(t *testing.T) {
	ops := 20000
	if !longtest.Enabled() {
		ops = 5000
	}
	peak := longRun(t, ops, 0.02)
	t.Logf("%d commands: peak live instances per replica %d", ops, peak)
	assert.Less(t, peak, 1500, "live instances must stay bounded (about a tick's worth of commands)")
}

// longRun runs ops commands through 5 LAN replicas (10 closed-loop clients,
// conflict share c) and returns the highest number of live instances seen
// at any replica, sampled every 100 ms of virtual time.
func longRun(tb testing.TB, ops int, c float64) int {
	s, err := sim.New(sim.Config{New: epaxos.New, N: 5, Seed: 9, Replica: paxos.Config{SnapshotEvery: 20000}})
	require.NoError(tb, err)
	per := ops / 10
	for i := 0; i < 10; i++ {
		site := i % 5
		n := 0
		wl := sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
			n++
			key := fmt.Sprintf("c%d-%d", i, n%64)
			if rng.Float64() < c {
				key = "hot"
			}
			return paxos.Command{Op: paxos.OpPut, Key: key, Value: "v"}
		})
		_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: wl, Ops: per})
		require.NoError(tb, err)
	}
	peak := 0
	var sample func()
	sample = func() {
		for id := 0; id < 5; id++ {
			if r, ok := s.Replica(paxos.NodeID(id)).(*epaxos.Replica); ok {
				peak = max(peak, r.Stats().Live)
			}
		}
		s.After(100*time.Millisecond, sample)
	}
	s.After(100*time.Millisecond, sample)
	require.True(tb, s.RunUntil(func() bool { return s.Completed() == per*10 }, 10*time.Hour))
	return peak
}

// The replica is deterministic: the same seed gives the same simulator
// trace, byte for byte, through crashes, restarts and recoveries.
func TestDeterministicTrace(t *testing.T) {
	trace := func() string {
		var buf strings.Builder
		s, err := sim.New(sim.Config{New: epaxos.New, N: 5, Seed: 11, Trace: &buf, Replica: paxos.Config{SnapshotEvery: 7}})
		require.NoError(t, err)
		for i := 0; i < 5; i++ {
			_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(i), Workload: hotKey(), Ops: 40})
			require.NoError(t, err)
		}
		s.SetFaults(sim.Faults{Drop: 0.05, Duplicate: 0.05, Reorder: 0.1})
		s.At(30*time.Millisecond, func() { _ = s.Crash(1) })
		s.At(400*time.Millisecond, func() { _ = s.Restart(1) })
		s.At(2*time.Second, func() { s.SetFaults(sim.Faults{}) })
		s.Run(20 * time.Second)
		require.Equal(t, 200, s.Completed())
		return buf.String()
	}
	a, b := trace(), trace()
	require.NotEmpty(t, a)
	require.Equal(t, a, b)
}
