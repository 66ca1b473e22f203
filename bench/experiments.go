package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/rtt"
)

// Experiment is a named, reproducible set of runs behind `paxos reproduce`.
type Experiment struct {
	// Name is the experiment's name, also its output directory.
	Name string
	// About says what it reproduces and how.
	About string
	// Specs builds the runs. Protocols that are not registered are dropped
	// from each spec (and specs left without protocols skipped) by
	// RunExperiment, which says so in notes.txt.
	Specs func() ([]Spec, error)
	// Compare, if set, returns published numbers to set beside ours in
	// compare.csv.
	Compare []Published
	// Plots lists the figure kinds to draw (see PlotKinds); nil draws all
	// the data supports.
	Plots []string
	// Live says the experiment measures this machine in wall-clock time:
	// its numbers change from run to run, so `paxos reproduce all` leaves
	// it out unless asked (--live) and the deterministic results stay
	// byte-identical.
	Live bool
}

// Published is a number from a paper to compare a summary row with.
type Published struct {
	Label       string
	Replicas    int // 0 matches any cluster size
	Protocol    string
	ConflictPct float64
	Site        string
	Metric      string // "lat_p50_ms", "commit_p50_ms" or "throughput_ops_s"
	Value       float64
	Source      string
}

// Experiments lists the named experiments in the order `reproduce all`
// runs them.
func Experiments() []Experiment {
	return []Experiment{expEPaxosWAN(), expConflictThroughput(), expLatencyThroughput(), expFailure(), expFPaxos(), expRevisited(), expFastPaxosWAN(),
		expConflictThroughputLive()}
}

// ExperimentNames returns the experiment names in order.
func ExperimentNames() []string {
	var n []string
	for _, e := range Experiments() {
		n = append(n, e.Name)
	}
	return n
}

// FindExperiment returns the named experiment.
func FindExperiment(name string) (Experiment, error) {
	for _, e := range Experiments() {
		if e.Name == name {
			return e, nil
		}
	}
	return Experiment{}, fmt.Errorf("unknown experiment %q (known: %s, all)", name, strings.Join(ExperimentNames(), ", "))
}

func mustPreset(name string) (rtt.Matrix, error) {
	m, err := rtt.Preset(name)
	if err != nil {
		return m, fmt.Errorf("bench: RTT preset %s: %w", name, err)
	}
	return m, nil
}

func withMatrix(s Spec, name string, m rtt.Matrix) Spec {
	s.RTTName, s.Sites, s.RTT = name, m.Sites, m.MS
	s.Replicas = m.N()
	return s
}

func siteIndex(m rtt.Matrix, name string) int {
	if i, ok := m.Index(name); ok {
		return i
	}
	return 0
}

// expEPaxosWAN reproduces EPaxos (SOSP 2013) Fig. 4: per-site median and
// p99 commit latency on the 2013 EC2 matrix, 10 closed-loop clients per site.
func expEPaxosWAN() Experiment {
	const src = "EPaxos SOSP 2013 Fig. 4, median commit latency (read off the plot, ±5 ms)"
	var cmp []Published
	sites5 := []string{"VA", "CA", "OR", "JP", "EU"}
	pub := map[string][3]float64{ // EPaxos 0%, EPaxos 100%, Multi-Paxos
		"VA": {80, 162, 170}, "CA": {78, 155, 85}, "OR": {80, 163, 107}, "JP": {135, 265, 210}, "EU": {150, 303, 250},
	}
	for _, s := range sites5 {
		v := pub[s]
		cmp = append(cmp,
			Published{"5 sites", 5, "epaxos", 0, s, "commit_p50_ms", v[0], src},
			Published{"5 sites", 5, "epaxos", 100, s, "commit_p50_ms", v[1], src},
			Published{"5 sites", 5, "multi", 0, s, "commit_p50_ms", v[2], src})
	}
	for i, s := range []string{"CA", "VA", "EU"} {
		cmp = append(cmp,
			Published{"3 sites", 3, "epaxos", 100, s, "commit_p50_ms", []float64{87, 87, 95}[i], src},
			Published{"3 sites", 3, "multi", 0, s, "commit_p50_ms", []float64{87, 173, 255}[i], src})
	}
	return Experiment{
		Name: "epaxos-wan",
		About: "EPaxos Fig. 4: 5 sites (epaxos2013) and 3 sites (epaxos2013-3), 10 closed-loop clients per site, " +
			"EPaxos at 0, 2 and 100% conflicts, Multi-Paxos and Raft with their leader in CA; median and p99 per site. " +
			"At 3 sites EPaxos runs thrifty (PreAccept to the nearest replica, so a leader commits after one round " +
			"even under conflicts) and, labelled \"PreAccept to all\", without.",
		Compare: cmp,
		Plots:   []string{PlotCDF, PlotSites},
		Specs: func() ([]Spec, error) {
			var out []Spec
			for _, v := range []struct{ label, preset string }{{"5 sites", "epaxos2013"}, {"3 sites", "epaxos2013-3"}} {
				m, err := mustPreset(v.preset)
				if err != nil {
					return nil, err
				}
				base := withMatrix(DefaultSpec(), v.preset, m)
				base.Label = v.label
				base.Duration, base.Warmup = 10*time.Second, 2*time.Second
				base.Leader = siteIndex(m, "CA")
				e := base
				e.Protocols = []string{"epaxos"}
				e.Conflicts = []float64{0, 2, 100}
				mp := base
				mp.Protocols = []string{"multi", "raft"}
				mp.Conflicts = []float64{0}
				if v.preset == "epaxos2013-3" {
					// The published implementation commits after one round
					// under conflicts at N = 3 only in thrifty mode (PreAccept
					// to the nearest replica alone), which the published
					// 3-site medians at 100% need. The second EPaxos run
					// sends PreAccept to both other replicas.
					all := e
					all.Label = v.label + ", PreAccept to all"
					e.Thrifty = true
					out = append(out, all)
				}
				out = append(out, e, mp)
			}
			return out, nil
		},
	}
}

// lanCPU is the per-message processing cost of the local-cluster
// experiments. It is chosen so that a 5-replica Multi-Paxos leader, which
// handles about five messages per command, saturates near the 27k ops/s the
// EPaxos paper measured; it is a calibration, not a measurement.
const lanCPU = 7 * time.Microsecond

// payloadCPU models the cost of larger commands: the simulator has no
// bandwidth model, so a payload adds this much per-message CPU per KiB.
const payloadCPUPerKiB = 8 * time.Microsecond

const tputSrc = "EPaxos SOSP 2013 local-cluster throughput (read off the plot, ±5%)"

// expConflictThroughput reproduces the EPaxos local-cluster throughput vs
// interference figure.
func expConflictThroughput() Experiment {
	return Experiment{
		Name:  "conflict-throughput",
		Plots: []string{PlotConflict},
		About: "Throughput vs conflict rate, 3 and 5 replicas on a 0.2 ms LAN, 16 B and 1 KB commands, closed loop " +
			"with enough clients to saturate, a per-message CPU cost (7 µs, plus 8 µs per KiB of payload as a stand-in " +
			"for bandwidth). The same on this machine with the live runtime is conflict-throughput-live.",
		Compare: []Published{
			{"16B", 3, "epaxos", 0, "all", "throughput_ops_s", 53000, tputSrc},
			{"16B", 3, "epaxos", 100, "all", "throughput_ops_s", 45000, tputSrc},
			{"16B", 3, "multi", 0, "all", "throughput_ops_s", 40000, tputSrc},
			{"16B", 5, "epaxos", 0, "all", "throughput_ops_s", 51000, tputSrc},
			{"16B", 5, "epaxos", 25, "all", "throughput_ops_s", 42000, tputSrc},
			{"16B", 5, "epaxos", 100, "all", "throughput_ops_s", 31000, tputSrc},
			{"16B", 5, "multi", 0, "all", "throughput_ops_s", 27000, tputSrc},
			{"1KB", 5, "epaxos", 0, "all", "throughput_ops_s", 20500, tputSrc},
			{"1KB", 5, "multi", 0, "all", "throughput_ops_s", 9500, tputSrc},
		},
		Specs: func() ([]Spec, error) {
			var out []Spec
			for _, n := range []int{3, 5} {
				m, err := rtt.Uniform(n, 0.2)
				if err != nil {
					return nil, err
				}
				for _, payload := range []int{16, 1024} {
					s := withMatrix(DefaultSpec(), "lan", m)
					s.Label = map[int]string{16: "16B", 1024: "1KB"}[payload]
					s.Protocols = []string{"epaxos"}
					s.Conflicts = []float64{0, 2, 25, 50, 100}
					s.Payload = payload
					s.Clients = 40
					s.Duration, s.Warmup = time.Second, 300*time.Millisecond
					s.CPU = lanCPU + time.Duration(float64(payloadCPUPerKiB)*float64(payload)/1024)
					// Multi-Paxos orders every command whatever it conflicts
					// with: two points draw its flat line.
					mp := s
					mp.Protocols = []string{"multi"}
					mp.Conflicts = []float64{0, 100}
					out = append(out, s, mp)
				}
			}
			return out, nil
		},
	}
}

// expConflictThroughputLive measures conflict-throughput's 3-replica 16 B
// setup on this machine with the live runtime.
func expConflictThroughputLive() Experiment {
	return Experiment{
		Name:  "conflict-throughput-live",
		Plots: []string{PlotConflict},
		Live:  true,
		About: "conflict-throughput's 3-replica 16 B setup on this machine (label \"live 16B\"): 3 replicas in one " +
			"process over loopback TCP with fsynced WALs, no CPU model (the real CPU is the cost), 20 closed-loop " +
			"clients per replica, wall-clock times. Not reproducible bit for bit, and bounded by the machine.",
		Specs: func() ([]Spec, error) {
			m, err := rtt.Uniform(3, 0.2)
			if err != nil {
				return nil, err
			}
			live := withMatrix(DefaultSpec(), "lan", m)
			live.Mode = ModeLive
			live.Label = "live 16B"
			live.Protocols = []string{"epaxos"}
			live.Conflicts = []float64{0, 25, 100}
			live.Clients = 60 // in all (live mode): 20 per site, as before
			live.Duration, live.Warmup = 2*time.Second, 500*time.Millisecond
			lmp := live
			lmp.Protocols = []string{"multi"}
			lmp.Conflicts = []float64{0, 100}
			return []Spec{live, lmp}, nil
		},
	}
}

// expLatencyThroughput sweeps open-loop load to saturation.
func expLatencyThroughput() Experiment {
	return Experiment{
		Name:  "latency-throughput",
		Plots: []string{PlotLatencyThroughput},
		About: "Open-loop Poisson load sweep on a 5-replica 0.2 ms LAN with 7 µs CPU per message, 0% conflicts, " +
			"Multi-Paxos and EPaxos with batching off (1 command per slot) and on (up to 64); latency from the intended send time.",
		Specs: func() ([]Spec, error) {
			m, err := rtt.Uniform(5, 0.2)
			if err != nil {
				return nil, err
			}
			var out []Spec
			for _, batch := range []int{1, 64} {
				rates := []float64{5000, 10000, 20000, 25000, 30000, 40000, 50000, 60000}
				if batch > 1 {
					rates = []float64{10000, 30000, 60000, 90000, 120000, 150000}
				}
				for _, total := range rates {
					s := withMatrix(DefaultSpec(), "lan", m)
					s.Label = "batch=" + strconv.Itoa(batch)
					s.Protocols = []string{"multi", "epaxos"}
					s.Batch = batch
					s.Rate = total / float64(s.Replicas)
					s.Clients = 10
					s.Duration, s.Warmup = 500*time.Millisecond, 200*time.Millisecond
					s.CPU = lanCPU
					s.Window = 50 * time.Millisecond
					out = append(out, s)
				}
			}
			return out, nil
		},
	}
}

// expFailure crashes the Multi-Paxos and Raft leader, and one EPaxos replica.
func expFailure() Experiment {
	return Experiment{
		Name:  "failure",
		Plots: []string{PlotTimeline, PlotCDF},
		About: "Throughput timeline (100 ms windows) on epaxos2013 with 10 closed-loop clients per site; replica CA " +
			"(the Multi-Paxos and Raft leader) crashes at t = 5 s. Multi-Paxos and Raft stop until a new leader is elected; EPaxos loses " +
			"only the crashed replica's clients until they time out and retry elsewhere.",
		Specs: func() ([]Spec, error) {
			m, err := mustPreset("epaxos2013")
			if err != nil {
				return nil, err
			}
			s := withMatrix(DefaultSpec(), "epaxos2013", m)
			s.Protocols = []string{"multi", "epaxos", "raft"}
			s.Conflicts = []float64{0}
			s.Leader = siteIndex(m, "CA")
			s.Duration, s.Warmup = 12*time.Second, 0
			s.Faults = []Fault{{At: 5 * time.Second, Kind: "crash", Replica: s.Leader}}
			return []Spec{s}, nil
		},
	}
}

// fpaxosCPU makes the leader's message handling the bottleneck, as the
// leader's sending was in the FPaxos artifact.
const fpaxosCPU = 250 * time.Microsecond

// fpaxosJitter is the largest extra one-way delay per message in the
// fpaxos experiment.
const fpaxosJitter = time.Millisecond

// expFPaxos sweeps Q2 and N on a 20 ms LAN.
func expFPaxos() Experiment {
	return Experiment{
		Name:  "fpaxos",
		Plots: []string{PlotQuorum},
		About: "Flexible Paxos: N = 3..10 on a uniform 20 ms RTT matrix, leader 0, one site of clients with 10 requests " +
			"outstanding in total, up to 1 ms of random jitter per message, 250 µs CPU per message (so the leader's message handling, not the RTT, bounds majority Paxos at large N); majority Multi-Paxos (phase 2 to all) against thrifty FPaxos " +
			"with Q2 = 2..majority and Q1 = N-Q2+1 (Q2 = 1, the leader alone, commits in zero network time here, which says nothing about the artifact's separate acceptors).",
		Specs: func() ([]Spec, error) {
			var out []Spec
			for n := 3; n <= 10; n++ {
				m, err := rtt.Uniform(n, 20)
				if err != nil {
					return nil, err
				}
				base := withMatrix(DefaultSpec(), "uniform-20ms", m)
				base.Conflicts = []float64{0}
				base.Clients = 10
				base.ClientSites = []int{0}
				base.Duration, base.Warmup = 3*time.Second, 500*time.Millisecond
				base.CPU = fpaxosCPU
				// A little jitter, as any real LAN has: without it the 10
				// closed-loop clients can lock into step with the leader's
				// heartbeats and CPU queue, a convoy that is an artefact of
				// a perfectly regular simulation (seen at N=9,10, Q2=4).
				base.Jitter = fpaxosJitter
				maj := base
				maj.Label = "majority"
				maj.Protocols = []string{"multi"}
				out = append(out, maj)
				for q2 := 2; q2 <= n/2+1; q2++ {
					f := base
					f.Label = "fpaxos thrifty"
					f.Protocols = []string{"flexible"}
					f.Q2 = q2
					f.Thrifty = true
					out = append(out, f)
				}
			}
			return out, nil
		},
	}
}

// expRevisited reproduces the EPaxos Revisited tail-latency setup.
func expRevisited() Experiment {
	return Experiment{
		Name:  "epaxos-revisited",
		Plots: []string{PlotCDF, PlotSites},
		About: "EPaxos Revisited: gcp2020 sites, leader in CA, 10 open-loop Poisson clients per site (50 ops/s each), " +
			"zipf keys θ = 0.7, 0.9, 0.99 over 1M keys; commit and execution latency CDFs and p99 per site, EPaxos " +
			"against Multi-Paxos. Scaled down from 20 s warm-up + 60 s to 2 s + 10 s.",
		Specs: func() ([]Spec, error) {
			m, err := mustPreset("gcp2020")
			if err != nil {
				return nil, err
			}
			var out []Spec
			for _, th := range []float64{0.7, 0.9, 0.99} {
				s := withMatrix(DefaultSpec(), "gcp2020", m)
				s.Label = "zipf " + strconv.FormatFloat(th, 'g', -1, 64)
				s.Protocols = []string{"epaxos", "multi"}
				s.Conflicts = []float64{0}
				s.Keys = KeySpec{Kind: "zipf", Theta: th, Keys: DefaultZipfKeys}
				s.Leader = siteIndex(m, "CA")
				s.Clients = 10
				s.Rate = 500
				s.Duration, s.Warmup = 10*time.Second, 2*time.Second
				out = append(out, s)
			}
			return out, nil
		},
	}
}

// expFastPaxosWAN compares Fast Paxos with Multi-Paxos and EPaxos on the
// 2013 EC2 matrix, leader in CA, with one closed-loop client at one site at
// a time and a controlled collision rate (Spec.Rivals): 0, 25 or 100% of
// the commands are issued together with a rival command on the same key
// at the replica nearest to the clients. With no rivals nobody else
// proposes, so Fast Paxos never collides; a rival races the command for
// the same log slot (Fast Paxos), interferes with it (EPaxos) or is one
// more command for the leader (Multi-Paxos). Fast Paxos runs twice: with
// uncoordinated recovery (its default) and, thrifty, with coordinated
// recovery only. One client, so that a slot
// holds one command and the share of colliding slots is the knob (with ten
// clients a batch of ten collides when any of them has a rival).
func expFastPaxosWAN() Experiment {
	return Experiment{
		Name:  "fastpaxos-wan",
		Plots: []string{PlotLatencyConflict},
		About: "Fast Paxos against Multi-Paxos and EPaxos on epaxos2013 (5 sites), leader in CA, one closed-loop client " +
			"at one site at a time (label), 5 s after 1 s of warm-up, 10 runs. The conflict column is the collision rate: that share " +
			"of the commands is issued together with a rival command on the same key at the same instant at the replica " +
			"nearest to the clients (not measured). Fast Paxos's two proposals then race for one log slot; EPaxos's " +
			"commands interfere; Multi-Paxos's leader orders both. Fast Paxos runs with uncoordinated recovery (its default) " +
			"and, labelled \"(coordinated)\", with --thrifty: coordinated recovery by the leader only.",
		Specs: func() ([]Spec, error) {
			m, err := mustPreset("epaxos2013")
			if err != nil {
				return nil, err
			}
			base := withMatrix(DefaultSpec(), "epaxos2013", m)
			base.Duration, base.Warmup = 5*time.Second, time.Second
			base.Leader = siteIndex(m, "CA")
			base.Protocols = []string{"fastpaxos", "multi", "epaxos"}
			base.Rivals = true
			base.Clients = 1
			base.Runs = 10 // one client makes few samples a run
			base.Conflicts = []float64{0, 25, 100}
			var out []Spec
			for i := 0; i < m.N(); i++ {
				s := base
				s.Label = "clients at " + m.Name(i)
				s.ClientSites = []int{i}
				// Fast Paxos with coordinated recovery only (thrifty:
				// votes to the leader and the proposer alone).
				c := s
				c.Label += " (coordinated)"
				c.Protocols = []string{"fastpaxos"}
				c.Thrifty = true
				out = append(out, s, c)
			}
			return out, nil
		},
	}
}

// ExperimentReport is what RunExperiment did.
type ExperimentReport struct {
	Name    string
	Dir     string
	Wall    time.Duration
	Runs    int
	Skipped []string // protocols not registered, dropped from the specs
	Plots   []string
}

// RunExperiment runs the experiment, writes its CSVs, run.json, notes.txt,
// compare.csv (when it has published numbers) and plots under
// outRoot/NAME, and returns a report.
func RunExperiment(ctx context.Context, e Experiment, outRoot string, opt Options, meta Meta) (ExperimentReport, error) {
	rep := ExperimentReport{Name: e.Name, Dir: filepath.Join(outRoot, e.Name)}
	start := time.Now()
	specs, err := e.Specs()
	if err != nil {
		return rep, err
	}
	reg := map[string]bool{}
	for _, p := range paxos.Protocols() {
		reg[p] = true
	}
	skipped := map[string]bool{}
	var kept []Spec
	total := 0
	for _, s := range specs {
		var keep []string
		for _, p := range s.Protocols {
			if reg[p] {
				keep = append(keep, p)
			} else {
				skipped[p] = true
			}
		}
		if len(keep) == 0 {
			continue
		}
		s.Protocols = keep
		kept = append(kept, s)
		total += len(keep) * len(s.Conflicts) * s.Runs
	}
	var results []*Result
	for _, s := range kept {
		o := opt
		if opt.Progress != nil {
			// Count runs over the whole experiment, not per spec.
			base := rep.Runs
			o.Progress = func(p Progress) {
				p.Done += base
				p.Total = total
				opt.Progress(p)
			}
		}
		r, err := Run(ctx, s, o)
		if err != nil {
			return rep, fmt.Errorf("experiment %s (%s): %w", e.Name, s.Label, err)
		}
		rep.Runs += len(s.Protocols) * len(s.Conflicts) * s.Runs
		results = append(results, r)
	}
	for p := range skipped {
		rep.Skipped = append(rep.Skipped, p)
	}
	sort.Strings(rep.Skipped)
	if len(results) == 0 {
		return rep, fmt.Errorf("experiment %s: none of its protocols is registered (needs %v)", e.Name, rep.Skipped)
	}
	rep.Wall = time.Since(start)
	meta.WallTime = rep.Wall.Round(time.Millisecond).String()
	meta.Plots = e.Plots
	// run.json holds only what the command determines, so that rerunning
	// it leaves the directory byte-identical; the machine, commit and
	// times go to machine.json beside it.
	if err := WriteDir(rep.Dir, Meta{Command: []string{"paxos", "reproduce", e.Name}, Plots: e.Plots}, results...); err != nil {
		return rep, err
	}
	if err := writeMachine(filepath.Join(rep.Dir, MachineFile), meta); err != nil {
		return rep, err
	}
	notes := fmt.Sprintf("%s\n\n%s\n\nsimulated runs: %d\n", e.Name, e.About, rep.Runs)
	if len(rep.Skipped) > 0 {
		notes += fmt.Sprintf("not run (protocol not registered in this build): %s\n", strings.Join(rep.Skipped, ", "))
	}
	if err := os.WriteFile(filepath.Join(rep.Dir, "notes.txt"), []byte(notes), 0o644); err != nil {
		return rep, fmt.Errorf("bench: write notes: %w", err)
	}
	if len(e.Compare) > 0 {
		if err := writeCompare(filepath.Join(rep.Dir, CompareFile), e.Compare, results); err != nil {
			return rep, err
		}
	}
	rep.Plots, err = Plot(rep.Dir)
	return rep, err
}

// writeCompare writes our number beside each published one.
func writeCompare(path string, pub []Published, results []*Result) error {
	var rows [][]string
	for _, p := range pub {
		ours := math.NaN()
		for _, r := range results {
			for _, row := range r.Summary {
				if row.Label == p.Label && (p.Replicas == 0 || p.Replicas == row.Replicas) && row.Protocol == p.Protocol && row.ConflictPct == p.ConflictPct && row.Site == p.Site {
					switch p.Metric {
					case "lat_p50_ms":
						ours = row.Lat.P50
					case "commit_p50_ms":
						ours = row.CommitP50
					case "throughput_ops_s":
						ours = row.ThroughputOpsS
					}
				}
			}
		}
		diff := math.NaN()
		if !math.IsNaN(ours) {
			diff = 100 * (ours - p.Value) / p.Value
		}
		rows = append(rows, []string{p.Label, strconv.Itoa(p.Replicas), p.Protocol, ff(p.ConflictPct), p.Site, p.Metric, ff(ours), ff(p.Value), ff(diff), p.Source})
	}
	return writeCSV(path, []string{"label", "replicas", "protocol", "conflict_pct", "site", "metric", "ours", "published", "diff_pct", "source"}, rows)
}

// CompareFile is the file in which RunExperiment puts our numbers beside
// the published ones.
const CompareFile = "compare.csv"

// ReadCompare reads the published numbers of a compare.csv (Value is the
// "published" column); a missing file holds none.
func ReadCompare(path string) ([]Published, error) {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil, nil
	}
	recs, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	out := make([]Published, 0, len(recs))
	for _, m := range recs {
		out = append(out, Published{Label: m["label"], Replicas: atoi(m["replicas"]), Protocol: m["protocol"],
			ConflictPct: pf(m["conflict_pct"]), Site: m["site"], Metric: m["metric"], Value: pf(m["published"]), Source: m["source"]})
	}
	return out, nil
}

// MachineFile is the file beside run.json in which RunExperiment records
// what varies from run to run: the machine, the git commit, the start and
// wall time.
const MachineFile = "machine.json"

func writeMachine(path string, meta Meta) error {
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	return nil
}
