package multi_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/rtt"
	"github.com/paxos-lab/paxos/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// optimum returns the textbook latency at site for a leader at l with
// phase-2 quorums of q2 (leader included): at l, l's RTT to its (q2-1)-th
// nearest other replica; elsewhere RTT(site, l) plus that.
func optimum(m [][]float64, site, l, q2 int) float64 {
	var d []float64
	for j := range m {
		if j != l {
			d = append(d, m[l][j])
		}
	}
	sort.Float64s(d)
	q := 0.0
	if q2 > 1 {
		q = d[q2-2]
	}
	if site == l {
		return q
	}
	return m[site][l] + q
}

// MedianLatencies runs one closed-loop client per site with no jitter, CPU
// cost or conflicts and returns each site's median latency in ms.
func medianLatencies(t *testing.T, protocol string, m [][]float64, rc paxos.Config) []float64 {
	t.Helper()
	n := len(m)
	s, err := sim.New(sim.Config{Protocol: protocol, N: n, Replica: rc, RTT: m, Seed: 3})
	require.NoError(t, err)
	for site := 0; site < n; site++ {
		site := site
		k := 0
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
		lat[o.Site] = append(lat[o.Site], float64(o.Return-o.Call)/float64(time.Millisecond))
	}
	med := make([]float64, n)
	for i, l := range lat {
		sort.Float64s(l)
		med[i] = l[len(l)/2]
	}
	return med
}

func TestLatencyOptimal(t *testing.T) {
	for _, c := range []struct {
		preset string
		leader string
	}{{"epaxos2013", "CA"}, {"aws2020", "VA"}, {"gcp2020", "OR"}} {
		m, err := rtt.Preset(c.preset)
		require.NoError(t, err)
		l, ok := m.Index(c.leader)
		require.True(t, ok)
		// RetryTicks above the largest RTT so no Accept is resent early.
		rc := paxos.Config{InitialLeader: paxos.NodeID(l), RetryTicks: 50}
		med := medianLatencies(t, "multi", m.MS, rc)
		for site := range med {
			want := optimum(m.MS, site, l, len(m.MS)/2+1)
			t.Logf("%s leader %s: %s median %.1f ms, optimum %.1f ms", c.preset, c.leader, m.Name(site), med[site], want)
			assert.LessOrEqual(t, med[site], want*1.01, "%s at %s", c.preset, m.Name(site))
			assert.InDelta(t, want, med[site], want*0.01+0.01, "%s at %s", c.preset, m.Name(site))
		}
	}
}
