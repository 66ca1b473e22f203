package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/paxos-lab/paxos"
)

// Result is what Run measured: the spec, and for every (protocol,
// conflict) cell its per-site summary rows (then an "all" row), throughput
// timeline, latency histograms and injected faults.
type Result struct {
	Spec     Spec
	Summary  []SummaryRow
	Timeline []TimelineRow
	Latency  []LatencyRow
	Faults   []FaultRow
	// Memory holds the replicas' resident memory sampled along live runs
	// (Spec.MemoryEvery).
	Memory []MemoryRow
	// Samples holds every measured operation when Spec.KeepSamples is set.
	Samples []Sample
	// Events is the number of simulator events processed in sim mode, or
	// of messages sent in live mode (a cost measure).
	Events uint64
}

// Sample is one measured client operation.
type Sample struct {
	Protocol    string
	ConflictPct float64
	Run         int
	Site        int
	Call        time.Duration // intended send time for open-loop clients
	Return      time.Duration
	Latency     float64 // ms, Return − Call
	Commit      float64 // ms, Commit − Call; NaN when no commit was reported
	Path        paxos.Path
	// Start is the wall clock at the start of a live run (Call and Return
	// count from it); zero in the simulator.
	Start time.Time
}

// opRec is the driver-independent record of one client operation.
type opRec struct {
	Site      int
	Call      time.Duration
	Return    time.Duration
	Done      bool
	Commit    time.Duration
	Committed bool
	Path      paxos.Path
}

// runRec is one run of one cell.
type runRec struct {
	ops []opRec
	end time.Duration
	cpu time.Duration // CPU time of the replicas over the measured window (0: not measured)
	rss int64         // largest peak resident set of a replica, bytes (0: not measured)
	mem []MemoryRow   // memory samples (Spec.MemoryEvery), without the cell's labels
	// start is the wall clock at time 0 of a live run (zero in the
	// simulator), so that samples line up with traces of other processes.
	start time.Time
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// summarize turns the runs of one cell into rows appended to res.
func (res *Result) summarize(proto string, conflict float64, runs []runRec, cell int) {
	s := &res.Spec
	nsites := s.Replicas
	all := nsites // index of the "all" aggregate
	lat := make([][]float64, nsites+1)
	com := make([][]float64, nsites+1)
	perRunLat := make([][][]float64, nsites+1) // [site][run] samples
	for i := range perRunLat {
		perRunLat[i] = make([][]float64, len(runs))
	}
	done := make([]int, nsites+1)
	pending := make([]int, nsites+1)
	fast, slow := make([]int, nsites+1), make([]int, nsites+1)
	windows := 1
	if s.Window > 0 {
		windows = int((s.Warmup + s.Duration + s.Window - 1) / s.Window)
	}
	var cpu time.Duration
	var rss int64
	var measured time.Duration // the runs' measured time, when one ended early (Spec.Commands)
	short := false
	for r, run := range runs {
		cpu += run.cpu
		rss = max(rss, run.rss)
		measured += max(0, run.end-s.Warmup)
		short = short || run.end != s.Warmup+s.Duration
		for _, m := range run.mem {
			m.Label, m.Protocol, m.Replicas, m.Keys, m.Run = s.Label, proto, s.Replicas, s.Keys.String(), r
			res.Memory = append(res.Memory, m)
		}
		from, to := s.Warmup, run.end
		counts := make([]int, windows)
		for _, op := range run.ops {
			if op.Done && s.Window > 0 {
				if w := int(op.Return / s.Window); w >= 0 && w < windows {
					counts[w]++
				}
			}
			if op.Done && op.Return >= from && op.Return <= to {
				done[op.Site]++
				done[all]++
			}
			if op.Call < from || op.Call >= to {
				continue
			}
			if !op.Done || op.Return > to {
				pending[op.Site]++
				pending[all]++
				continue
			}
			l := ms(op.Return - op.Call)
			c := math.NaN()
			if op.Committed {
				c = ms(op.Commit - op.Call)
				for _, i := range []int{op.Site, all} {
					com[i] = append(com[i], c)
					switch op.Path {
					case paxos.PathFast:
						fast[i]++
					case paxos.PathSlow:
						slow[i]++
					}
				}
			}
			for _, i := range []int{op.Site, all} {
				lat[i] = append(lat[i], l)
				perRunLat[i][r] = append(perRunLat[i][r], l)
			}
			if s.KeepSamples {
				res.Samples = append(res.Samples, Sample{Protocol: proto, ConflictPct: conflict, Run: r, Site: op.Site,
					Call: op.Call, Return: op.Return, Latency: l, Commit: c, Path: op.Path, Start: run.start})
			}
		}
		if s.Window > 0 {
			for w, c := range counts {
				res.Timeline = append(res.Timeline, TimelineRow{Label: s.Label, Protocol: proto, Replicas: s.Replicas,
					ConflictPct: conflict, Run: r, TimeS: (time.Duration(w) * s.Window).Seconds(), Ops: c,
					OpsS: float64(c) / s.Window.Seconds()})
			}
		}
	}
	boot := rand.New(rand.NewPCG(s.Seed, uint64(cell)+0x5eed))
	tailBoot := rand.New(rand.NewPCG(s.Seed, uint64(cell)+0x7a11)) // its own stream: the CIs above stay as they were
	clientSites := s.clientSites()
	hasClients := make([]bool, nsites)
	for _, c := range clientSites {
		hasClients[c] = true
	}
	for i := 0; i <= nsites; i++ {
		if i < nsites && !hasClients[i] {
			continue
		}
		row := SummaryRow{Label: s.Label, Mode: s.Mode, Protocol: proto, Replicas: s.Replicas, ConflictPct: conflict,
			Keys: s.Keys.String(), ReadsPct: s.ReadPct, Payload: s.Payload, RateOpsS: s.Rate, Q1: s.quorumQ1(),
			Q2: s.quorumQ2(), Batch: s.Batch, Thrifty: s.Thrifty, Runs: len(runs), Ops: len(lat[i]), Pending: pending[i]}
		row.CPUPerCmdUS, row.PeakRSSMB = math.NaN(), math.NaN()
		if i == all {
			row.Site = "all"
			row.Clients = s.totalClients()
			row.RateOpsS = s.Rate * float64(len(clientSites))
			if cpu > 0 && done[all] > 0 {
				row.CPUPerCmdUS = float64(cpu) / float64(time.Microsecond) / float64(done[all])
			}
			if rss > 0 {
				row.PeakRSSMB = float64(rss) / (1 << 20)
			}
		} else {
			row.Site = s.SiteName(i)
			for si, c := range clientSites {
				if c == i {
					row.Clients = s.clientsAt(si)
				}
			}
		}
		row.ThroughputOpsS = float64(done[i]) / s.Duration.Seconds() / float64(len(runs))
		if short {
			row.ThroughputOpsS = 0
			if measured > 0 {
				row.ThroughputOpsS = float64(done[i]) / measured.Seconds()
			}
		}
		row.P50CI, row.MeanCI = CI{math.NaN(), math.NaN()}, CI{math.NaN(), math.NaN()}
		row.P99CI, row.P999CI = row.P50CI, row.P50CI
		row.Lat = Describe(lat[i])
		if len(lat[i]) > 0 {
			row.P50CI, row.MeanCI = cellCIs(lat[i], perRunLat[i], s.Resamples, boot)
			// Tail CIs resample the pooled samples (see cellCIs for what
			// that understates).
			if ci, err := BootstrapQuantile(lat[i], 0.99, 0.95, s.Resamples, tailBoot); err == nil {
				row.P99CI = ci
			}
			if ci, err := BootstrapQuantile(lat[i], 0.999, 0.95, s.Resamples, tailBoot); err == nil {
				row.P999CI = ci
			}
		}
		cs := Describe(com[i])
		row.CommitP50, row.CommitP99 = cs.P50, cs.P99
		row.FastPathPct = math.NaN()
		if fast[i]+slow[i] > 0 {
			row.FastPathPct = 100 * float64(fast[i]) / float64(fast[i]+slow[i])
		}
		res.Summary = append(res.Summary, row)
		if i < nsites {
			for _, k := range []struct {
				kind string
				x    []float64
			}{{"client", lat[i]}, {"commit", com[i]}} {
				vals, counts := histogram(k.x)
				for j, v := range vals {
					res.Latency = append(res.Latency, LatencyRow{Label: s.Label, Protocol: proto, Replicas: s.Replicas,
						ConflictPct: conflict, Keys: row.Keys, Site: row.Site, Kind: k.kind, LatencyMS: v, Count: counts[j]})
				}
			}
		}
	}
	for _, f := range s.Faults {
		id := f.Replica
		if id == LeaderReplica {
			id = s.Leader
		}
		res.Faults = append(res.Faults, FaultRow{Label: s.Label, Protocol: proto, Replicas: s.Replicas, ConflictPct: conflict,
			TimeS: f.At.Seconds(), Kind: f.Kind, Replica: id, Site: s.SiteName(id)})
	}
}

// cellCIs computes the 95% bootstrap CIs of the median and the mean. With
// two or more runs holding samples, the run is the resampling unit (runs are
// independent; samples within a run are not): the CI is that of the median
// (mean) of the per-run medians (means). With one run, the samples are
// resampled, which treats them as independent and so understates the
// uncertainty of a strongly autocorrelated run.
func cellCIs(pooled []float64, perRun [][]float64, b int, rng *rand.Rand) (CI, CI) {
	if b <= 0 {
		b = DefaultResamples
	}
	var meds, means []float64
	for _, x := range perRun {
		if len(x) == 0 {
			continue
		}
		d := Describe(append([]float64(nil), x...))
		meds = append(meds, d.P50)
		means = append(means, d.Mean)
	}
	nan := CI{math.NaN(), math.NaN()}
	if len(meds) >= 2 {
		p50, err1 := BootstrapStat(meds, Median, 0.95, b, rng)
		mean, err2 := BootstrapStat(means, Mean, 0.95, b, rng)
		if err1 != nil || err2 != nil {
			return nan, nan
		}
		return p50, mean
	}
	p50, err1 := BootstrapQuantile(append([]float64(nil), pooled...), 0.5, 0.95, b, rng)
	// Resampling the mean costs O(n) per resample: cap the resamples for
	// large samples (the percentile interval of a mean converges quickly).
	mb := b
	if len(pooled)*mb > 20_000_000 {
		mb = min(b, max(200, 20_000_000/len(pooled))) // never more than asked for
	}
	mean, err2 := BootstrapMean(pooled, 0.95, mb, rng)
	if err1 != nil || err2 != nil {
		return nan, nan
	}
	return p50, mean
}

// Mean returns the arithmetic mean of x (gonum stat.Mean).
func Mean(x []float64) float64 { return meanOf(x) }

// Merge appends b's rows to a (a nil a yields b), for runs of one spec
// with different parameters (a client sweep) written as one result.
func Merge(a, b *Result) *Result {
	if a == nil {
		return b
	}
	a.Summary = append(a.Summary, b.Summary...)
	a.Timeline = append(a.Timeline, b.Timeline...)
	a.Latency = append(a.Latency, b.Latency...)
	a.Faults = append(a.Faults, b.Faults...)
	a.Memory = append(a.Memory, b.Memory...)
	a.Samples = append(a.Samples, b.Samples...)
	a.Events += b.Events
	return a
}

// Peaks returns, for each (protocol, N, conflict), the "all" row with the
// highest throughput, in the order they first appear.
func Peaks(rows []SummaryRow) []SummaryRow {
	var out []SummaryRow
	at := map[string]int{}
	for _, r := range rows {
		if r.Site != "all" {
			continue
		}
		key := fmt.Sprintf("%s|%d|%g", r.Protocol, r.Replicas, r.ConflictPct)
		i, ok := at[key]
		if !ok {
			at[key] = len(out)
			out = append(out, r)
			continue
		}
		if r.ThroughputOpsS > out[i].ThroughputOpsS {
			out[i] = r
		}
	}
	return out
}
