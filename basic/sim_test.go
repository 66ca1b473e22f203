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
