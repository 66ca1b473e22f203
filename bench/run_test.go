package bench_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/bench"
	_ "github.com/paxos-lab/paxos/protocols"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/rtt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func registered(t *testing.T, name string) {
	t.Helper()
	if !slices.Contains(paxos.Protocols(), name) {
		t.Skipf("protocol %q is not registered in this build (registered: %v)", name, paxos.Protocols())
	}
}

func anyRegistered(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, p := range []string{"multi", "epaxos", "flexible"} {
		if slices.Contains(paxos.Protocols(), p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Skip("no multi, epaxos or flexible registered yet")
	}
	return out
}

func preset(t *testing.T, name string) rtt.Matrix {
	t.Helper()
	m, err := rtt.Preset(name)
	require.NoError(t, err)
	return m
}

func smallSpec(m rtt.Matrix, name string) bench.Spec {
	s := bench.DefaultSpec()
	s.RTTName, s.Sites, s.RTT, s.Replicas = name, m.Sites, m.MS, m.N()
	s.Duration, s.Warmup = 2*time.Second, 500*time.Millisecond
	s.Clients = 2
	s.Resamples = 200
	return s
}

// TestDeterministicCSVs: the same spec and seed give byte-identical CSVs,
// whatever the parallelism.
func TestDeterministicCSVs(t *testing.T) {
	protos := anyRegistered(t)
	s := smallSpec(preset(t, "aws2020"), "aws2020")
	s.Protocols = protos
	s.Conflicts = []float64{0, 50}
	s.Jitter = 5 * time.Millisecond
	s.Runs = 2
	dirs := []string{t.TempDir(), t.TempDir()}
	for i, par := range []int{1, 2} {
		r, err := bench.Run(context.Background(), s, bench.Options{Parallel: par})
		require.NoError(t, err)
		require.NoError(t, bench.WriteDir(dirs[i], bench.Meta{}, r))
	}
	for _, f := range []string{bench.SummaryFile, bench.TimelineFile, bench.LatencyFile, bench.FaultsFile} {
		a, err := os.ReadFile(filepath.Join(dirs[0], f))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(dirs[1], f))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(a, b), "%s differs between identical runs", f)
		if f != bench.FaultsFile {
			assert.Greater(t, len(a), 100, "%s is nearly empty", f)
		}
	}
	// A different seed must change something (else the test proves nothing).
	s.Seed = 99
	r, err := bench.Run(context.Background(), s, bench.Options{})
	require.NoError(t, err)
	d := t.TempDir()
	require.NoError(t, bench.WriteDir(d, bench.Meta{}, r))
	a, _ := os.ReadFile(filepath.Join(dirs[0], bench.LatencyFile))
	b, _ := os.ReadFile(filepath.Join(d, bench.LatencyFile))
	assert.False(t, bytes.Equal(a, b), "seed had no effect on latency.csv")
}

// textbook runs one client per site (or at the given sites), no jitter, no
// CPU cost, 0% conflicts, and returns the p50 per site read back from
// summary.csv.
func textbook(t *testing.T, s bench.Spec) map[string]float64 {
	t.Helper()
	s.Clients = 1
	s.Conflicts = []float64{0}
	s.Jitter, s.CPU = 0, 0
	r, err := bench.Run(context.Background(), s, bench.Options{})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, bench.WriteDir(dir, bench.Meta{}, r))
	rows, err := bench.ReadSummary(filepath.Join(dir, bench.SummaryFile))
	require.NoError(t, err)
	out := map[string]float64{}
	for _, row := range rows {
		require.Greater(t, row.Ops, 0, "no operations at %s", row.Site)
		out[row.Site] = row.Lat.P50
	}
	return out
}

func within1pct(t *testing.T, want, got float64, what string) {
	t.Helper()
	assert.InEpsilon(t, want, got, 0.01, "%s: p50 %.2f ms, textbook optimum %.2f ms", what, got, want)
}

// Matrices nobody tuned the protocols for.
var untuned = []string{"aws2020", "tempo2021", "gcp2020"}

func TestTextbookEPaxos(t *testing.T) {
	registered(t, "epaxos")
	for _, name := range untuned {
		m := preset(t, name)
		s := smallSpec(m, name)
		s.Protocols = []string{"epaxos"}
		got := textbook(t, s)
		f := (m.N() - 1) / 2
		fast := f + (f+1)/2
		for i := 0; i < m.N(); i++ {
			want, err := m.KthNearest(i, fast-1)
			require.NoError(t, err)
			within1pct(t, want, got[m.Name(i)], name+" epaxos at "+m.Name(i))
		}
	}
}

func TestTextbookMultiPaxos(t *testing.T) {
	registered(t, "multi")
	for _, name := range untuned {
		m := preset(t, name)
		for _, leader := range []int{0, 2} {
			s := smallSpec(m, name)
			s.Protocols = []string{"multi"}
			s.Leader = leader
			got := textbook(t, s)
			q := m.N()/2 + 1
			atLeader, err := m.KthNearest(leader, q-1)
			require.NoError(t, err)
			for i := 0; i < m.N(); i++ {
				within1pct(t, m.RTT(i, leader)+atLeader, got[m.Name(i)], name+" multi at "+m.Name(i))
			}
		}
	}
}

func TestTextbookFlexible(t *testing.T) {
	registered(t, "flexible")
	for _, name := range untuned {
		m := preset(t, name)
		for _, q2 := range []int{2, 4} {
			s := smallSpec(m, name)
			s.Protocols = []string{"flexible"}
			s.Leader = 1
			s.Q2 = q2
			got := textbook(t, s)
			atLeader, err := m.KthNearest(1, q2-1)
			require.NoError(t, err)
			for i := 0; i < m.N(); i++ {
				within1pct(t, m.RTT(i, 1)+atLeader, got[m.Name(i)], name+" flexible q2 at "+m.Name(i))
			}
		}
	}
}

func TestTextbookBasic(t *testing.T) {
	registered(t, "basic")
	for _, name := range untuned {
		m := preset(t, name)
		for _, site := range []int{0, 3} {
			s := smallSpec(m, name)
			s.Protocols = []string{"basic"}
			s.ClientSites = []int{site}
			got := textbook(t, s)
			k, err := m.KthNearest(site, m.N()/2)
			require.NoError(t, err)
			within1pct(t, 2*k, got[m.Name(site)], name+" basic at "+m.Name(site))
		}
	}
}

func TestFaultsAndTimeline(t *testing.T) {
	registered(t, "multi")
	m := preset(t, "epaxos2013")
	s := smallSpec(m, "epaxos2013")
	s.Protocols = []string{"multi"}
	s.Leader = 1
	s.Warmup, s.Duration = 0, 6*time.Second
	s.Faults = []bench.Fault{{At: 2 * time.Second, Kind: "crash", Replica: bench.LeaderReplica}}
	r, err := bench.Run(context.Background(), s, bench.Options{})
	require.NoError(t, err)
	require.Len(t, r.Faults, 1)
	assert.Equal(t, 1, r.Faults[0].Replica)
	require.Len(t, r.Timeline, 60)
	// Right after the leader crash nothing commits for a while.
	var before, after int
	for _, w := range r.Timeline {
		if w.TimeS >= 1 && w.TimeS < 2 {
			before += w.Ops
		}
		if w.TimeS >= 2.3 && w.TimeS < 2.6 {
			after += w.Ops
		}
	}
	assert.Greater(t, before, 0)
	assert.Equal(t, 0, after, "operations completed right after the leader crashed")
}

func TestRunRejectsBadSpecs(t *testing.T) {
	m := preset(t, "epaxos2013")
	base := smallSpec(m, "epaxos2013")
	base.Protocols = []string{"nosuch"}
	_, err := bench.Run(context.Background(), base, bench.Options{})
	require.ErrorIs(t, err, bench.ErrSpec)
	assert.Contains(t, err.Error(), "--protocols")

	cases := map[string]func(*bench.Spec){
		"--rate":      func(s *bench.Spec) { s.Rate = -1 },
		"--conflict":  func(s *bench.Spec) { s.Conflicts = []float64{120} },
		"--replicas":  func(s *bench.Spec) { s.Replicas = 7 },
		"--rtt":       func(s *bench.Spec) { s.RTT = [][]float64{{0, 1}, {1, 0}, {1, 1}}; s.Replicas = 2 },
		"--leader":    func(s *bench.Spec) { s.Leader = 9 },
		"--q1/--q2":   func(s *bench.Spec) { s.Q1, s.Q2 = 2, 2 },
		"--duration":  func(s *bench.Spec) { s.Duration = 0 },
		"--clients":   func(s *bench.Spec) { s.Clients = 0 },
		"--reads":     func(s *bench.Spec) { s.ReadPct = 101 },
		"--payload":   func(s *bench.Spec) { s.Payload = -1 },
		"--runs":      func(s *bench.Spec) { s.Runs = 0 },
		"--batch":     func(s *bench.Spec) { s.Batch = 0 },
		"--jitter-ms": func(s *bench.Spec) { s.Jitter = -1 },
	}
	for flag, mut := range cases {
		s := smallSpec(m, "epaxos2013")
		s.Protocols = []string{"multi"}
		mut(&s)
		err := s.Validate()
		require.ErrorIs(t, err, bench.ErrSpec, flag)
		assert.Contains(t, err.Error(), flag)
	}
	s := smallSpec(m, "epaxos2013")
	s.Mode = "cloud"
	err = s.Validate()
	require.True(t, errors.Is(err, bench.ErrSpec))
	assert.Contains(t, err.Error(), "--mode")
}

func TestWritePlotAndReadBack(t *testing.T) {
	protos := anyRegistered(t)
	m := preset(t, "epaxos2013")
	s := smallSpec(m, "epaxos2013")
	s.Protocols = protos
	s.Conflicts = []float64{0, 100}
	r, err := bench.Run(context.Background(), s, bench.Options{})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, bench.WriteDir(dir, bench.CollectMeta([]string{"test"}), r))
	rows, err := bench.ReadSummary(filepath.Join(dir, bench.SummaryFile))
	require.NoError(t, err)
	require.Len(t, rows, len(r.Summary))
	for i := range rows {
		assert.Equal(t, r.Summary[i].Site, rows[i].Site)
		assert.InDelta(t, r.Summary[i].Lat.P50, rows[i].Lat.P50, 0.001)
		assert.Equal(t, r.Summary[i].Ops, rows[i].Ops)
	}
	assert.Equal(t, "all", rows[m.N()].Site)
	names, err := bench.Plot(dir)
	require.NoError(t, err)
	assert.Contains(t, names, "throughput_vs_conflict")
	for _, n := range names {
		for _, ext := range []string{".svg", ".png"} {
			st, err := os.Stat(filepath.Join(dir, n+ext))
			require.NoError(t, err)
			assert.Greater(t, st.Size(), int64(1000), n+ext)
		}
		f, err := os.Open(filepath.Join(dir, n+".png"))
		require.NoError(t, err)
		cfg, err := png.DecodeConfig(f)
		f.Close()
		require.NoError(t, err)
		assert.GreaterOrEqual(t, cfg.Width, 1200, "%s.png at print resolution", n)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "throughput_vs_conflict.svg"))
	require.NoError(t, err)
	assert.Contains(t, string(svg), "throughput (ops/s)")
	assert.Contains(t, string(svg), "conflicting commands (%)")
	b, err := os.ReadFile(filepath.Join(dir, bench.RunFile))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"go_version"`)
	assert.Contains(t, string(b), `"seed": 1`)
}

// TestOpenLoopShowsQueueing: offered load above capacity must show up as
// growing latency measured from the intended send times (no coordinated
// omission), while a closed loop at the same cluster stays fast.
func TestOpenLoopShowsQueueing(t *testing.T) {
	registered(t, "multi")
	m, err := rtt.Uniform(3, 1)
	require.NoError(t, err)
	s := smallSpec(m, "lan")
	s.Protocols = []string{"multi"}
	s.CPU = 100 * time.Microsecond // leader capacity about 1/(3*100µs) = 3.3k ops/s
	s.Duration, s.Warmup = time.Second, 200*time.Millisecond
	closed, err := bench.Run(context.Background(), s, bench.Options{})
	require.NoError(t, err)
	s.Rate = 1500 // per site: 4.5k ops/s offered in total
	open, err := bench.Run(context.Background(), s, bench.Options{})
	require.NoError(t, err)
	c, o := closed.Summary[len(closed.Summary)-1], open.Summary[len(open.Summary)-1]
	require.Equal(t, "all", o.Site)
	assert.Greater(t, o.Lat.P50, 10*c.Lat.P50, "open-loop p50 %.1f ms vs closed-loop %.1f ms", o.Lat.P50, c.Lat.P50)
	assert.Greater(t, o.Pending, 0, "an overloaded open loop leaves operations outstanding")
	assert.Less(t, o.ThroughputOpsS, 4500.0)
	require.Greater(t, o.Ops, 0)
}

func TestZipfRun(t *testing.T) {
	protos := anyRegistered(t)
	m := preset(t, "gcp2020")
	s := smallSpec(m, "gcp2020")
	s.Protocols = protos[:1]
	s.Keys = bench.KeySpec{Kind: "zipf", Theta: 0.99, Keys: 1000}
	s.ReadPct = 50
	s.Rate = 100
	s.KeepSamples = true
	r, err := bench.Run(context.Background(), s, bench.Options{})
	require.NoError(t, err)
	require.NotEmpty(t, r.Samples)
	assert.Equal(t, "zipf:0.99:1000", r.Summary[0].Keys)
	for _, smp := range r.Samples {
		require.GreaterOrEqual(t, smp.Latency, 0.0)
		require.True(t, smp.Call >= s.Warmup)
	}
}

// Fast Paxos with one client site (no concurrent proposals, so no
// collisions): the client's replica sends the command to every acceptor
// and learns it from the votes itself, so the client waits the round trip
// to the (fast quorum − 1)-th nearest other replica (its own vote is
// local), wherever the leader is. The leader learns from the same votes
// but is not on the client's path.
func TestTextbookFastPaxos(t *testing.T) {
	registered(t, "fastpaxos")
	for _, name := range untuned {
		m := preset(t, name)
		_, fast := quorum.FastDefaults(m.N())
		for _, site := range []int{0, 3} {
			s := smallSpec(m, name)
			s.Protocols = []string{"fastpaxos"}
			s.ClientSites = []int{site}
			s.Leader = 1
			got := textbook(t, s)
			want, err := m.KthNearest(site, fast-1)
			require.NoError(t, err)
			within1pct(t, want, got[m.Name(site)], name+" fastpaxos at "+m.Name(site))
		}
	}
}

// Spec.Rivals makes the conflict rate a collision rate, on the
// fastpaxos-wan setup (epaxos2013, leader CA, one client at one site).
// At 0% nobody else proposes and Fast Paxos meets its textbook latency,
// the round trip to the (fast quorum − 1)-th nearest other replica; at 25%
// a quarter of the commands collide; at 100% every one does. One site has
// a clean formula at 100%, with uncoordinated recovery. Let d(x,y) be half
// the RTT; each acceptor votes for whichever proposal reaches it first,
// sends its vote to everyone, and at its first classic quorum (3) of split
// votes votes again, in the next round, for the value rule O4 picks.
//
// Clients at OR, rivals at CA: OR, VA (at 40 ms) and EU (75) vote OR's
// command A, CA and JP (59) the rival: no fast quorum (4). VA's third
// vote arrives at 42.5 ms ({OR:A, VA:A, CA:B}: A has 2 ≥ fast + m − n = 2
// and is kept), CA's at 82.5, EU's at 78 ({EU:A, OR:A, CA:B}), OR's at 80
// ({OR:A, CA:B, VA:A}); JP's first three are {JP:B, CA:B, OR:A} and it
// votes B. OR learns A from a fast quorum of the second round once EU's
// vote (cast at 78) arrives: 78 + 75 = 153 ms. (Coordinated recovery,
// --thrifty, takes 178 ms: CA recovers at 82.5, runs a classic round to
// OR and VA, 85 ms, and commits to OR, 10.5 ms.) Where the client's
// command loses the slot, it is placed again by the leader and its cost
// depends on the rival's timing; no formula is claimed for those sites.
func TestFastPaxosCollisionRate(t *testing.T) {
	registered(t, "fastpaxos")
	m := preset(t, "epaxos2013")
	_, fast := quorum.FastDefaults(m.N())
	run := func(site int, conflict float64, thrifty ...bool) bench.SummaryRow {
		s := smallSpec(m, "epaxos2013")
		s.Protocols = []string{"fastpaxos"}
		s.ClientSites, s.Clients = []int{site}, 1
		s.Leader = 1 // CA
		s.Rivals = true
		s.Thrifty = len(thrifty) > 0 && thrifty[0]
		s.Conflicts = []float64{conflict}
		s.Jitter, s.CPU = 0, 0
		s.Duration, s.Runs = 5*time.Second, 10 // few samples a run with one client
		r, err := bench.Run(context.Background(), s, bench.Options{})
		require.NoError(t, err)
		for _, row := range r.Summary {
			if row.Site == "all" {
				return row
			}
		}
		t.Fatal("no summary row for all sites")
		return bench.SummaryRow{}
	}
	for site := 0; site < m.N(); site++ {
		want, err := m.KthNearest(site, fast-1)
		require.NoError(t, err)
		row := run(site, 0)
		within1pct(t, want, row.Lat.P50, "fastpaxos at "+m.Name(site)+", no rivals")
		assert.InDelta(t, 100, row.FastPathPct, 0.01, m.Name(site))
		quarter := run(site, 25)
		assert.InDelta(t, 75, quarter.FastPathPct, 10, "%s: share of commands on the fast path at 25%% rivals", m.Name(site))
		all := run(site, 100)
		assert.InDelta(t, 0, all.FastPathPct, 0.01, m.Name(site))
		assert.Less(t, row.Lat.Mean, quarter.Lat.Mean, m.Name(site))
		assert.Less(t, quarter.Lat.Mean, all.Lat.Mean, m.Name(site))
		if m.Name(site) == "OR" {
			within1pct(t, 153, all.Lat.P50, "fastpaxos at OR, every command colliding")
			within1pct(t, 178, run(site, 100, true).Lat.P50, "fastpaxos --thrifty at OR, every command colliding")
		}
	}
}

// Rivals need the simulator and conflict keys.
func TestRivalsNeedSim(t *testing.T) {
	s := bench.DefaultSpec()
	s.Protocols = anyRegistered(t)
	s.Rivals = true
	s.Mode = bench.ModeLive
	require.ErrorIs(t, s.Validate(), bench.ErrSpec)
}
