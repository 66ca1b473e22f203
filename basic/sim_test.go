package basic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/rtt"
	"github.com/paxos-lab/paxos/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLatencyTwoRoundTrips: with one closed-loop client at one site, no
// jitter and no CPU cost, a command commits after Phase 1 and Phase 2, each
// one round trip to the nearest majority (the proposer counts its own
// acceptor): median latency = 2 × RTT to the site's (majority−1)-th nearest
// replica, within 1%.
func TestLatencyTwoRoundTrips(t *testing.T) {
	m, err := rtt.Preset("epaxos2013")
	require.NoError(t, err)
	n := m.N()
	for site := 0; site < n; site++ {
		t.Run(m.Name(site), func(t *testing.T) {
			s, err := sim.New(sim.Config{Protocol: "basic", N: n, RTT: m.MS, Seed: 1})
			require.NoError(t, err)
			var seq int
			wl := sim.WorkloadFunc(func(*rand.Rand) paxos.Command {
				seq++
				return paxos.Command{Op: paxos.OpPut, Key: "k", Value: fmt.Sprint(seq)}
			})
			const ops = 41
			_, err = s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: wl, Ops: ops})
			require.NoError(t, err)
			require.True(t, s.RunUntil(func() bool { return s.Completed() == ops }, time.Minute))
			var lat []time.Duration
			for _, o := range s.History() {
				require.True(t, o.Done)
				lat = append(lat, o.Latency())
			}
			slices.Sort(lat)
			median := lat[len(lat)/2]
			k, err := m.KthNearest(site, quorum.MajoritySize(n)-1)
			require.NoError(t, err)
			want := time.Duration(2 * k * float64(time.Millisecond))
			t.Logf("site %s: median %v over %d ops (min %v, max %v), 2 × %v ms expected", m.Name(site), median, len(lat), lat[0], lat[len(lat)-1], k)
			assert.InEpsilon(t, float64(want), float64(median), 0.01, "site %s: median %v, want 2 × %v ms", m.Name(site), median, k)
		})
	}
}

// TestSimConvergesAfterFaults: after drops, duplicates, reordering, a
// partition and a crash heal, every replica executes the same log to its
// end (catch-up and hole filling work) and nothing stays in flight.
func TestSimConvergesAfterFaults(t *testing.T) {
	const n, perSite = 5, 30
	s, err := sim.New(sim.Config{Protocol: "basic", N: n, RTT: sim.Uniform(n, 10), Jitter: 2 * time.Millisecond, Seed: 42, Record: true})
	require.NoError(t, err)
	require.NoError(t, s.SetFaults(sim.Faults{Drop: 0.1, Duplicate: 0.05, Reorder: 0.1}))
	var seq int
	wl := sim.WorkloadFunc(func(r *rand.Rand) paxos.Command {
		seq++
		return paxos.Command{Op: paxos.OpPut, Key: fmt.Sprint(r.IntN(3)), Value: fmt.Sprint(seq)}
	})
	for site := 0; site < n; site++ {
		_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: wl, Ops: perSite})
		require.NoError(t, err)
	}
	s.At(200*time.Millisecond, func() { require.NoError(t, s.Crash(3)) })
	s.At(300*time.Millisecond, func() { require.NoError(t, s.Partition([]paxos.NodeID{0, 1}, []paxos.NodeID{2, 3, 4})) })
	s.At(900*time.Millisecond, func() {
		s.Heal()
		require.NoError(t, s.Restart(3))
		require.NoError(t, s.SetFaults(sim.Faults{}))
	})
	require.True(t, s.RunUntil(func() bool { return s.Now() > time.Second && s.Completed() == n*perSite }, 5*time.Minute))
	s.Run(s.Now() + 5*time.Second) // let stragglers catch up
	var want uint64
	for id := 0; id < n; id++ {
		r := s.Replica(paxos.NodeID(id)).(*Replica)
		want = max(want, r.maxLearned)
	}
	require.NotZero(t, want)
	t.Logf("%d slots decided, %d events, %v virtual, %d messages dropped", want, s.Events(), s.Now(), s.Dropped())
	var ref []paxos.CommandID
	for id := 0; id < n; id++ {
		r := s.Replica(paxos.NodeID(id)).(*Replica)
		assert.Equal(t, want, r.Executed(), "replica %d executed up to the last decided slot", id)
		assert.Zero(t, r.inflight, "replica %d", id)
		assert.Empty(t, r.waiting, "replica %d", id)
		var log []paxos.CommandID
		for sl := uint64(1); sl <= r.Executed(); sl++ {
			v, ok := r.Value(sl)
			require.True(t, ok)
			for _, c := range v {
				log = append(log, c.ID())
			}
		}
		if id == 0 {
			ref = log
		} else {
			assert.Equal(t, ref, log, "replica %d's log differs from replica 0's", id)
		}
	}
}

// TestContentionIsShared is the regression test for a starving site: with
// the epaxos2013 matrix, ten closed-loop clients at each of the five sites
// (on distinct keys, so only the shared log is contended) and the bench's
// timeouts (RetryTicks of two largest round trips), every site gets a fair
// share of the log. Before the fix, VA (replica 0, which loses ballot ties)
// lost nearly every race, then backed off for seconds while the others'
// clients went on: its median was about 2.3 s against about 0.25 s
// elsewhere. The bound allows for geography (uncontended, EU's median is
// 1.9× OR's) and for contention costing far sites more rounds.
func TestContentionIsShared(t *testing.T) {
	m, err := rtt.Preset("epaxos2013")
	require.NoError(t, err)
	n := m.N()
	var maxRTT float64
	for i := range m.MS {
		maxRTT = max(maxRTT, slices.Max(m.MS[i]))
	}
	const tick = 10 * time.Millisecond
	retry := int(2*maxRTT/float64(tick/time.Millisecond)) + 1
	const (
		perSite = 10
		warmup  = 2 * time.Second
		end     = 8 * time.Second
		// maxRatio bounds the slowest site's median over the fastest's
		// (about 1.5–1.7 with these seeds); maxOpsRatio bounds the most
		// operations a site completed over the fewest (closed-loop
		// clients at far sites complete fewer, about 2–2.3×).
		maxRatio    = 2.5
		maxOpsRatio = 3
	)
	for _, seed := range []uint64{1, 2, 3} {
		s, err := sim.New(sim.Config{Protocol: "basic", N: n, RTT: m.MS, Tick: tick, Seed: seed,
			Replica: paxos.Config{RetryTicks: retry}})
		require.NoError(t, err)
		for site := 0; site < n; site++ {
			for c := 0; c < perSite; c++ {
				key := fmt.Sprintf("s%dc%d", site, c)
				var seq int
				wl := sim.WorkloadFunc(func(*rand.Rand) paxos.Command {
					seq++
					return paxos.Command{Op: paxos.OpPut, Key: key, Value: fmt.Sprint(seq)}
				})
				_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: wl})
				require.NoError(t, err)
			}
		}
		s.Run(end)
		lat := make([][]time.Duration, n)
		for _, o := range s.History() {
			if o.Done && o.Call >= warmup {
				lat[o.Site] = append(lat[o.Site], o.Latency())
			}
		}
		medians := make([]time.Duration, n)
		for site := range lat {
			require.NotEmpty(t, lat[site], "seed %d: site %s completed nothing after the warm-up", seed, m.Name(site))
			slices.Sort(lat[site])
			medians[site] = lat[site][len(lat[site])/2]
		}
		lo, hi := slices.Min(medians), slices.Max(medians)
		t.Logf("seed %d: medians %v, ops %v", seed, medians, lens(lat))
		assert.LessOrEqual(t, float64(hi)/float64(lo), maxRatio,
			"seed %d: per-site medians %v: the slowest site waits more than %.1f× the fastest", seed, medians, maxRatio)
		ops := lens(lat)
		assert.GreaterOrEqual(t, float64(slices.Min(ops)), float64(slices.Max(ops))/maxOpsRatio,
			"seed %d: completed operations per site %v are lopsided", seed, ops)
	}
}

func lens[T any](xs [][]T) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = len(x)
	}
	return out
}
