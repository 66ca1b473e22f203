package bench

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// SummaryRow is one line of summary.csv: the statistics of one (label,
// protocol, conflict) cell at one site, or over all sites (Site "all").
// Latencies are client-observed (Return − Call) in milliseconds; with
// open-loop clients Call is the intended send time. Commit latencies are
// Commit − Call where the protocol reports commits.
type SummaryRow struct {
	Label          string
	Mode           string
	Protocol       string
	Replicas       int
	Site           string
	ConflictPct    float64
	Keys           string
	ReadsPct       float64
	Payload        int
	Clients        int
	RateOpsS       float64 // offered load per site (0 = closed loop)
	Q1, Q2         int
	Batch          int
	Thrifty        bool
	Runs           int
	Ops            int     // measured operations (all runs)
	Pending        int     // operations called in the window but not answered by its end
	ThroughputOpsS float64 // completed ops per second, mean over runs
	Lat            Stats
	P50CI          CI // bootstrap 95% CI of the median
	MeanCI         CI // bootstrap 95% CI of the mean
	P99CI          CI // bootstrap 95% CI of the 99th percentile (pooled samples)
	P999CI         CI // bootstrap 95% CI of the 99.9th percentile (pooled samples)
	CommitP50      float64
	CommitP99      float64
	FastPathPct    float64 // share of commits on the EPaxos fast path (NaN if none reported)
	// CPUPerCmdUS is the replicas' CPU time (user + system, summed over
	// replicas) per completed command in the measured window, and
	// PeakRSSMB the largest replica's peak resident set; both only when
	// the benchmark started the replicas as processes (NaN otherwise).
	CPUPerCmdUS float64
	PeakRSSMB   float64
}

var summaryHeader = []string{
	"label", "mode", "protocol", "replicas", "site", "conflict_pct", "keys", "reads_pct", "payload", "clients", "rate_ops_s",
	"q1", "q2", "batch", "thrifty", "runs", "ops", "pending", "throughput_ops_s",
	"lat_mean_ms", "lat_std_ms", "lat_min_ms", "lat_p50_ms", "lat_p90_ms", "lat_p99_ms", "lat_p999_ms", "lat_max_ms",
	"lat_p50_ci_low_ms", "lat_p50_ci_high_ms", "lat_mean_ci_low_ms", "lat_mean_ci_high_ms",
	"commit_p50_ms", "commit_p99_ms", "fast_path_pct",
	"lat_p99_ci_low_ms", "lat_p99_ci_high_ms", "lat_p999_ci_low_ms", "lat_p999_ci_high_ms", "cpu_us_per_cmd", "peak_rss_mb",
}

func ff(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func pf(s string) float64 {
	if s == "" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

func (r SummaryRow) record() []string {
	return []string{
		r.Label, r.Mode, r.Protocol, strconv.Itoa(r.Replicas), r.Site, ff(r.ConflictPct), r.Keys, ff(r.ReadsPct),
		strconv.Itoa(r.Payload), strconv.Itoa(r.Clients), ff(r.RateOpsS), strconv.Itoa(r.Q1), strconv.Itoa(r.Q2),
		strconv.Itoa(r.Batch), strconv.FormatBool(r.Thrifty), strconv.Itoa(r.Runs), strconv.Itoa(r.Ops),
		strconv.Itoa(r.Pending), ff(r.ThroughputOpsS),
		ff(r.Lat.Mean), ff(r.Lat.StdDev), ff(r.Lat.Min), ff(r.Lat.P50), ff(r.Lat.P90), ff(r.Lat.P99), ff(r.Lat.P999), ff(r.Lat.Max),
		ff(r.P50CI.Low), ff(r.P50CI.High), ff(r.MeanCI.Low), ff(r.MeanCI.High),
		ff(r.CommitP50), ff(r.CommitP99), ff(r.FastPathPct),
		ff(r.P99CI.Low), ff(r.P99CI.High), ff(r.P999CI.Low), ff(r.P999CI.High), ff(r.CPUPerCmdUS), ff(r.PeakRSSMB),
	}
}

// TimelineRow is one line of timeline.csv: operations completed in one
// window of one run.
type TimelineRow struct {
	Label       string
	Protocol    string
	Replicas    int
	ConflictPct float64
	Run         int
	TimeS       float64 // window start, seconds from the start of the run
	Ops         int
	OpsS        float64 // Ops divided by the window length
}

var timelineHeader = []string{"label", "protocol", "replicas", "conflict_pct", "run", "t_s", "ops", "throughput_ops_s"}

func (r TimelineRow) record() []string {
	return []string{r.Label, r.Protocol, strconv.Itoa(r.Replicas), ff(r.ConflictPct), strconv.Itoa(r.Run), ff(r.TimeS), strconv.Itoa(r.Ops), ff(r.OpsS)}
}

// MemoryRow is one line of memory.csv: one replica's resident memory when
// a run had completed Commands commands (Spec.MemoryEvery).
type MemoryRow struct {
	Label    string
	Protocol string
	Replicas int
	Keys     string // key distribution, as in summary.csv
	Run      int
	Commands uint64  // commands completed when the sample was taken, warm-up included
	TimeS    float64 // seconds from the start of the run
	Replica  int
	RSSMB    float64 // VmRSS, MiB
	PeakMB   float64 // VmHWM (peak resident set so far), MiB
}

var memoryHeader = []string{"label", "protocol", "replicas", "keys", "run", "commands", "t_s", "replica", "rss_mb", "peak_rss_mb"}

func (r MemoryRow) record() []string {
	return []string{r.Label, r.Protocol, strconv.Itoa(r.Replicas), r.Keys, strconv.Itoa(r.Run), strconv.FormatUint(r.Commands, 10),
		ff(r.TimeS), strconv.Itoa(r.Replica), ff(r.RSSMB), ff(r.PeakMB)}
}

// LatencyRow is one line of latency.csv: a fine histogram bucket. Latencies
// are rounded to 3 significant digits (at most 0.5% error) and counted;
// summary statistics are computed from the exact samples, not from these.
// Kind is "client" (Return − Call) or "commit" (Commit − Call).
type LatencyRow struct {
	Label       string
	Protocol    string
	Replicas    int
	ConflictPct float64
	Keys        string // key distribution, as in summary.csv
	Site        string
	Kind        string
	LatencyMS   float64
	Count       int
}

var latencyHeader = []string{"label", "protocol", "replicas", "conflict_pct", "keys", "site", "kind", "latency_ms", "count"}

func (r LatencyRow) record() []string {
	return []string{r.Label, r.Protocol, strconv.Itoa(r.Replicas), ff(r.ConflictPct), r.Keys, r.Site, r.Kind, strconv.FormatFloat(r.LatencyMS, 'f', -1, 64), strconv.Itoa(r.Count)}
}

// FaultRow is one line of faults.csv: a fault injected into a cell's runs.
type FaultRow struct {
	Label       string
	Protocol    string
	Replicas    int
	ConflictPct float64
	TimeS       float64
	Kind        string
	Replica     int
	Site        string // the replica's site name (or index)
}

var faultHeader = []string{"label", "protocol", "replicas", "conflict_pct", "t_s", "kind", "replica", "site"}

func (r FaultRow) record() []string {
	return []string{r.Label, r.Protocol, strconv.Itoa(r.Replicas), ff(r.ConflictPct), ff(r.TimeS), r.Kind, strconv.Itoa(r.Replica), r.Site}
}

// round3 rounds v to 3 significant digits.
func round3(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	return f
}

// histogram turns samples into sorted (value, count) buckets.
func histogram(x []float64) ([]float64, []int) {
	m := map[float64]int{}
	for _, v := range x {
		m[round3(v)]++
	}
	vals := make([]float64, 0, len(m))
	for v := range m {
		vals = append(vals, v)
	}
	sort.Float64s(vals)
	counts := make([]int, len(vals))
	for i, v := range vals {
		counts[i] = m[v]
	}
	return vals, counts
}

// Meta describes the machine and code that produced a result, for run.json.
type Meta struct {
	Command   []string  `json:"command,omitempty"`
	Commit    string    `json:"git_commit,omitempty"`
	Modified  bool      `json:"git_modified,omitempty"`
	GoVersion string    `json:"go_version,omitempty"`
	OS        string    `json:"os,omitempty"`
	Arch      string    `json:"arch,omitempty"`
	CPU       string    `json:"cpu,omitempty"`
	CPUs      int       `json:"cpus,omitempty"`
	Started   time.Time `json:"started,omitzero"`
	WallTime  string    `json:"wall_time,omitempty"`
	// Plots lists the figure kinds Plot draws for this directory; empty
	// means every kind the data supports.
	Plots []string `json:"plots,omitempty"`
}

// CollectMeta gathers the git commit (git rev-parse HEAD, else the build's
// VCS stamp), Go version, OS, CPU model and count.
func CollectMeta(args []string) Meta {
	m := Meta{Command: args, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Started: time.Now().UTC()}
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
			m.Modified = len(strings.TrimSpace(string(st))) > 0
		}
	} else if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				m.Commit = s.Value
			case "vcs.modified":
				m.Modified = s.Value == "true"
			}
		}
	}
	if m.Commit == "" {
		m.Commit = "unknown"
	}
	m.CPU = cpuModel()
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS += " (" + strings.Trim(v, `"`) + ")"
			}
		}
	}
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// Output files written by WriteDir.
const (
	SummaryFile  = "summary.csv"
	TimelineFile = "timeline.csv"
	LatencyFile  = "latency.csv"
	FaultsFile   = "faults.csv"
	RunFile      = "run.json"
	// MemoryFile is written only when some run sampled memory
	// (Spec.MemoryEvery).
	MemoryFile = "memory.csv"
	// SamplesFile is written only when the results kept their samples
	// (Spec.KeepSamples): one line per measured operation, a per-request
	// latency timeline (`paxos bench --samples`).
	SamplesFile = "samples.csv"
)

var samplesHeader = []string{"label", "protocol", "conflict_pct", "run", "site", "call_ms", "return_ms", "latency_ms", "call_unix_ms"}

// record writes call_unix_ms (the wall clock at the call, for lining the
// samples up with traces of other processes) only for live runs.
func (r Sample) record(label string) []string {
	unix := ""
	if !r.Start.IsZero() {
		unix = strconv.FormatFloat(float64(r.Start.Add(r.Call).UnixMicro())/1000, 'f', 3, 64)
	}
	return []string{label, r.Protocol, ff(r.ConflictPct), strconv.Itoa(r.Run), strconv.Itoa(r.Site),
		strconv.FormatFloat(ms(r.Call), 'f', 3, 64), strconv.FormatFloat(ms(r.Return), 'f', 3, 64), strconv.FormatFloat(r.Latency, 'f', 3, 64), unix}
}

// WriteDir writes summary.csv, timeline.csv, latency.csv, faults.csv and
// run.json for the results into dir (created if needed), and samples.csv
// when they kept their samples. The CSVs depend
// only on the specs and seeds; run.json also records the machine and time.
func WriteDir(dir string, meta Meta, results ...*Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: create output directory: %w", err)
	}
	var sum, tl, lat, flt, mem, smp [][]string
	specs := make([]Spec, 0, len(results))
	for _, r := range results {
		specs = append(specs, r.Spec)
		for _, row := range r.Summary {
			sum = append(sum, row.record())
		}
		for _, row := range r.Timeline {
			tl = append(tl, row.record())
		}
		for _, row := range r.Latency {
			lat = append(lat, row.record())
		}
		for _, row := range r.Faults {
			flt = append(flt, row.record())
		}
		for _, row := range r.Memory {
			mem = append(mem, row.record())
		}
		for _, row := range r.Samples {
			smp = append(smp, row.record(r.Spec.Label))
		}
	}
	if len(smp) > 0 {
		if err := writeCSV(filepath.Join(dir, SamplesFile), samplesHeader, smp); err != nil {
			return err
		}
	}
	if len(mem) > 0 {
		if err := writeCSV(filepath.Join(dir, MemoryFile), memoryHeader, mem); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name   string
		header []string
		rows   [][]string
	}{{SummaryFile, summaryHeader, sum}, {TimelineFile, timelineHeader, tl}, {LatencyFile, latencyHeader, lat}, {FaultsFile, faultHeader, flt}} {
		if err := writeCSV(filepath.Join(dir, f.name), f.header, f.rows); err != nil {
			return err
		}
	}
	run := struct {
		Meta  Meta   `json:"meta"`
		Specs []Spec `json:"specs"`
	}{meta, specs}
	b, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode run.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, RunFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: write run.json: %w", err)
	}
	return nil
}

func writeCSV(path string, header []string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: create %s: %w", path, err)
	}
	w := csv.NewWriter(f)
	_ = w.Write(header)
	_ = w.WriteAll(rows)
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	return nil
}

// readCSV reads a CSV with a header into maps from column name to value.
func readCSV(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("bench: read %s: %w", path, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("bench: %s is empty, want a header line", path)
	}
	out := make([]map[string]string, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		m := make(map[string]string, len(rec))
		for i, h := range recs[0] {
			if i < len(rec) {
				m[h] = rec[i]
			}
		}
		out = append(out, m)
	}
	return out, nil
}

func atoi(s string) int { v, _ := strconv.Atoi(s); return v }

// ReadSummary reads a summary.csv written by WriteDir.
func ReadSummary(path string) ([]SummaryRow, error) {
	recs, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	rows := make([]SummaryRow, 0, len(recs))
	for _, m := range recs {
		rows = append(rows, SummaryRow{
			Label: m["label"], Mode: m["mode"], Protocol: m["protocol"], Replicas: atoi(m["replicas"]), Site: m["site"],
			ConflictPct: pf(m["conflict_pct"]), Keys: m["keys"], ReadsPct: pf(m["reads_pct"]), Payload: atoi(m["payload"]),
			Clients: atoi(m["clients"]), RateOpsS: pf(m["rate_ops_s"]), Q1: atoi(m["q1"]), Q2: atoi(m["q2"]),
			Batch: atoi(m["batch"]), Thrifty: m["thrifty"] == "true", Runs: atoi(m["runs"]), Ops: atoi(m["ops"]),
			Pending: atoi(m["pending"]), ThroughputOpsS: pf(m["throughput_ops_s"]),
			Lat: Stats{N: atoi(m["ops"]), Mean: pf(m["lat_mean_ms"]), StdDev: pf(m["lat_std_ms"]), Min: pf(m["lat_min_ms"]),
				P50: pf(m["lat_p50_ms"]), P90: pf(m["lat_p90_ms"]), P99: pf(m["lat_p99_ms"]), P999: pf(m["lat_p999_ms"]), Max: pf(m["lat_max_ms"])},
			P50CI:     CI{pf(m["lat_p50_ci_low_ms"]), pf(m["lat_p50_ci_high_ms"])},
			MeanCI:    CI{pf(m["lat_mean_ci_low_ms"]), pf(m["lat_mean_ci_high_ms"])},
			CommitP50: pf(m["commit_p50_ms"]), CommitP99: pf(m["commit_p99_ms"]), FastPathPct: pf(m["fast_path_pct"]),
			P99CI:       CI{pf(m["lat_p99_ci_low_ms"]), pf(m["lat_p99_ci_high_ms"])},
			P999CI:      CI{pf(m["lat_p999_ci_low_ms"]), pf(m["lat_p999_ci_high_ms"])},
			CPUPerCmdUS: pf(m["cpu_us_per_cmd"]), PeakRSSMB: pf(m["peak_rss_mb"]),
		})
	}
	return rows, nil
}

// ReadTimeline reads a timeline.csv written by WriteDir.
func ReadTimeline(path string) ([]TimelineRow, error) {
	recs, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	rows := make([]TimelineRow, 0, len(recs))
	for _, m := range recs {
		rows = append(rows, TimelineRow{Label: m["label"], Protocol: m["protocol"], Replicas: atoi(m["replicas"]),
			ConflictPct: pf(m["conflict_pct"]), Run: atoi(m["run"]), TimeS: pf(m["t_s"]), Ops: atoi(m["ops"]), OpsS: pf(m["throughput_ops_s"])})
	}
	return rows, nil
}

// ReadLatency reads a latency.csv written by WriteDir.
func ReadLatency(path string) ([]LatencyRow, error) {
	recs, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	rows := make([]LatencyRow, 0, len(recs))
	for _, m := range recs {
		rows = append(rows, LatencyRow{Label: m["label"], Protocol: m["protocol"], Replicas: atoi(m["replicas"]),
			ConflictPct: pf(m["conflict_pct"]), Keys: m["keys"], Site: m["site"], Kind: m["kind"], LatencyMS: pf(m["latency_ms"]), Count: atoi(m["count"])})
	}
	return rows, nil
}

// ReadFaults reads a faults.csv written by WriteDir; a missing file is no
// faults.
func ReadFaults(path string) ([]FaultRow, error) {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil, nil
	}
	recs, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	rows := make([]FaultRow, 0, len(recs))
	for _, m := range recs {
		rows = append(rows, FaultRow{Label: m["label"], Protocol: m["protocol"], Replicas: atoi(m["replicas"]),
			ConflictPct: pf(m["conflict_pct"]), TimeS: pf(m["t_s"]), Kind: m["kind"], Replica: atoi(m["replica"]), Site: m["site"]})
	}
	return rows, nil
}

// PrintTable writes a readable per-site table of summary rows: for each
// (label, protocol, conflict) the median, p99 (with the median's CI) and
// throughput at every site and over all sites.
func PrintTable(w io.Writer, rows []SummaryRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "label\tprotocol\tN\tconflict%/keys\tsite\tops\tops/s\tmean ms\tp50 ms\tp50 95% CI\tp99 ms [95% CI]\tp99.9 ms [95% CI]\tcommit p50\tfast%\tcpu µs/cmd\tRSS MB\t")
	var prev string
	for _, r := range rows {
		key := r.Label + "|" + r.Protocol + "|" + strconv.Itoa(r.Replicas) + "|" + ff(r.ConflictPct)
		if prev != "" && key != prev {
			fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t")
		}
		prev = key
		ci := "-"
		if !math.IsNaN(r.P50CI.Low) {
			ci = fmt.Sprintf("[%.1f, %.1f]", r.P50CI.Low, r.P50CI.High)
		}
		workload := strconv.FormatFloat(r.ConflictPct, 'g', -1, 64)
		if r.Keys != "" && r.Keys != "conflict" {
			workload = r.Keys
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Label, r.Protocol, r.Replicas, workload,
			r.Site, r.Ops, r.ThroughputOpsS, f1(r.Lat.Mean), f1(r.Lat.P50), ci, withCI(r.Lat.P99, r.P99CI), withCI(r.Lat.P999, r.P999CI), f1(r.CommitP50), f1(r.FastPathPct),
			f1(r.CPUPerCmdUS), f1(r.PeakRSSMB))
	}
	tw.Flush()
}

// withCI formats v and, when known, its confidence interval.
func withCI(v float64, ci CI) string {
	if math.IsNaN(ci.Low) {
		return f1(v)
	}
	return fmt.Sprintf("%s [%.1f, %.1f]", f1(v), ci.Low, ci.High)
}

func f1(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
