package bench

import (
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Figure size of every plot.
const (
	figW = 16 * vg.Centimeter
	figH = 10 * vg.Centimeter
)

// Plot reads the CSVs that WriteDir wrote in dir and draws every figure the
// data supports, each as SVG and as PNG at 200 dpi (1260 px wide) in dir.
// A protocol has the same colour and marker in every figure (its place in
// the registry); its variants in one figure (conflict rates, labels) are
// lighter shades or dashed lines of that colour. It returns the base names
// of the figures written (without extension).
//
//   - cdf_*: client (solid) and commit (dashed) latency CDFs per protocol,
//     one figure per (label, replicas, conflict);
//   - sites_*: per-site median bars with p99 whiskers, per (label, replicas,
//     conflict);
//   - throughput_vs_conflict*: when several conflict rates were run;
//   - latency_vs_conflict_*: mean latency per protocol against the
//     conflict rate, per (label, replicas), when several were run;
//   - latency_vs_throughput*: when several open-loop rates were run;
//   - timeline_*: throughput per window, with dashed vertical lines at
//     faults;
//   - fpaxos_q2_* and fpaxos_n_*: when several Q2 (or N) values were run.
//
// The published numbers in compare.csv, when dir has one, are drawn on the
// figures that show their metric (throughput vs conflict, per-site
// latency) as diamonds outlined in black, labelled "published", each
// joined by a dotted line to the value measured here.
func Plot(dir string) ([]string, error) {
	sum, err := ReadSummary(filepath.Join(dir, SummaryFile))
	if err != nil {
		return nil, fmt.Errorf("plot %s: %w (run paxos bench --out %s first)", dir, err, dir)
	}
	lat, err := ReadLatency(filepath.Join(dir, LatencyFile))
	if err != nil {
		return nil, err
	}
	tl, err := ReadTimeline(filepath.Join(dir, TimelineFile))
	if err != nil {
		return nil, err
	}
	flt, err := ReadFaults(filepath.Join(dir, FaultsFile))
	if err != nil {
		return nil, err
	}
	pub, err := ReadCompare(filepath.Join(dir, CompareFile))
	if err != nil {
		return nil, err
	}
	kinds := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(dir, RunFile)); err == nil {
		var run struct {
			Meta Meta `json:"meta"`
		}
		if err := json.Unmarshal(b, &run); err != nil {
			return nil, fmt.Errorf("bench: read %s: %w", filepath.Join(dir, RunFile), err)
		}
		for _, k := range run.Meta.Plots {
			kinds[k] = true
		}
	}
	want := func(k string) bool { return len(kinds) == 0 || kinds[k] }
	pw := &plotWriter{dir: dir, pub: pub}
	if want(PlotCDF) {
		pw.cdfs(lat)
	}
	if want(PlotSites) {
		pw.siteBars(sum)
	}
	if want(PlotConflict) {
		pw.throughputVsConflict(sum)
	}
	if want(PlotLatencyConflict) {
		pw.latencyVsConflict(sum)
	}
	if want(PlotLatencyThroughput) {
		pw.latencyVsThroughput(sum)
	}
	if want(PlotTimeline) {
		pw.timelines(tl, flt)
	}
	if want(PlotQuorum) {
		pw.quorumSweeps(sum)
	}
	return pw.names, pw.err
}

// Figure kinds, for Meta.Plots.
const (
	PlotCDF               = "cdf"
	PlotSites             = "sites"
	PlotConflict          = "throughput-vs-conflict"
	PlotLatencyThroughput = "latency-vs-throughput"
	PlotTimeline          = "timeline"
	PlotQuorum            = "quorum-sweep"
	PlotLatencyConflict   = "latency-vs-conflict"
)

type plotWriter struct {
	dir   string
	pub   []Published // compare.csv: drawn on the figures that show its metric
	names []string
	err   error
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._=-]+`)

func fileName(parts ...string) string {
	var b []string
	for _, p := range parts {
		if p != "" {
			b = append(b, unsafeName.ReplaceAllString(p, "-"))
		}
	}
	return strings.Join(b, "_")
}

func (pw *plotWriter) save(p *plot.Plot, name string) {
	if pw.err != nil {
		return
	}
	if err := p.Save(figW, figH, filepath.Join(pw.dir, name+".svg")); err != nil {
		pw.err = fmt.Errorf("bench: save plot %s.svg: %w", name, err)
		return
	}
	if err := savePNG(p, figW, figH, filepath.Join(pw.dir, name+".png")); err != nil {
		pw.err = fmt.Errorf("bench: save plot %s.png: %w", name, err)
		return
	}
	pw.names = append(pw.names, name)
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.X.Tick.Marker = plainTicks{}
	p.Y.Tick.Marker = plainTicks{}
	p.Add(plotter.NewGrid())
	return p
}

// plainTicks label five to eight evenly spaced values of a linear axis (a
// step of 1, 2, 2.5 or 5 times a power of ten) without trailing zeros
// ("50000", not "50000.00"), with an unlabelled tick between each two.
type plainTicks struct{}

// Ticks implements plot.Ticker.
func (plainTicks) Ticks(min, max float64) []plot.Tick {
	if !(max > min) || math.IsInf(max-min, 0) {
		return plot.DefaultTicks{}.Ticks(min, max)
	}
	half := niceStep((max-min)/6) / 2
	var ticks []plot.Tick
	for k := math.Ceil(min/half - 1e-9); k <= math.Floor(max/half+1e-9); k++ {
		v := k * half
		t := plot.Tick{Value: v}
		if math.Mod(k, 2) == 0 {
			// Round away the float noise of k*half (0.30000000000000004);
			// adding 0 turns -0 into 0.
			r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 10, 64), 64)
			t.Label = strconv.FormatFloat(r+0, 'f', -1, 64)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// niceStep rounds x up to 1, 2, 2.5 or 5 times a power of ten.
func niceStep(x float64) float64 {
	mag := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 2.5, 5} {
		if x <= m*mag*(1+1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// headroom raises the Y axis above the data so a top legend of n entries
// does not cover it.
func headroom(p *plot.Plot, n int) {
	p.Y.Max *= 1.1 + 0.075*float64(n)
}

func pct(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func cellTitle(label, proto string, n int, conflict float64) string {
	t := fmt.Sprintf("N=%d, %s%% conflicts", n, pct(conflict))
	if proto != "" {
		t = proto + ", " + t
	}
	if label != "" {
		t = label + ": " + t
	}
	return t
}

// cdfs draws one latency CDF figure per (label, replicas, conflict).
func (pw *plotWriter) cdfs(rows []LatencyRow) {
	type key struct {
		label    string
		n        int
		conflict float64
		keys     string
	}
	type line struct{ proto, kind string }
	groups := map[key]map[line]map[float64]int{}
	var keys []key
	for _, r := range rows {
		k := key{r.Label, r.Replicas, r.ConflictPct, r.Keys}
		if groups[k] == nil {
			groups[k] = map[line]map[float64]int{}
			keys = append(keys, k)
		}
		l := line{r.Protocol, r.Kind}
		if groups[k][l] == nil {
			groups[k][l] = map[float64]int{}
		}
		groups[k][l][r.LatencyMS] += r.Count
	}
	for _, k := range keys {
		title := "Latency CDF, " + cellTitle(k.label, "", k.n, k.conflict)
		if strings.HasPrefix(k.keys, "zipf") {
			title = fmt.Sprintf("Latency CDF, %s: N=%d, keys %s", k.label, k.n, k.keys)
		}
		p := newPlot(title, "latency (ms)", "fraction of operations")
		p.Legend.Top = false
		p.Legend.Left = false
		p.Y.Min, p.Y.Max = 0, 1
		var lines []line
		for l := range groups[k] {
			lines = append(lines, l)
		}
		sort.Slice(lines, func(i, j int) bool {
			if lines[i].proto != lines[j].proto {
				return lines[i].proto < lines[j].proto
			}
			return lines[i].kind < lines[j].kind
		})
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, h := range groups[k] {
			for v := range h {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		if lo > 0 && hi/lo > 20 {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.LogTicks{Prec: -1}
			p.X.Label.Text = "latency (ms, log scale)"
		}
		for _, l := range lines {
			h := groups[k][l]
			vals := make([]float64, 0, len(h))
			total := 0
			for v, c := range h {
				vals = append(vals, v)
				total += c
			}
			if total == 0 {
				continue
			}
			sort.Float64s(vals)
			pts := make(plotter.XYs, 0, 2*len(vals)+1)
			cum := 0
			pts = append(pts, plotter.XY{X: vals[0], Y: 0})
			for _, v := range vals {
				pts = append(pts, plotter.XY{X: v, Y: float64(cum) / float64(total)})
				cum += h[v]
				pts = append(pts, plotter.XY{X: v, Y: float64(cum) / float64(total)})
			}
			ln, err := plotter.NewLine(pts)
			if err != nil {
				continue
			}
			ln.Color = protoColor(l.proto)
			ln.Width = vg.Points(1.5)
			if l.kind == "commit" {
				ln.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(ln)
			p.Legend.Add(l.proto+" ("+l.kind+")", ln)
		}
		pw.save(p, fileName("cdf", k.label, "n"+strconv.Itoa(k.n), "c"+pct(k.conflict)))
	}
}

type cellKey struct {
	label    string
	n        int
	conflict float64
}

// siteBars draws per-site median bars with p99 whiskers and a marker at
// the median commit latency. Each (label, replicas) gets one figure with a
// bar per (protocol, conflict) when that makes at most six bars per site
// (as in EPaxos Fig. 4), else one figure per conflict rate.
func (pw *plotWriter) siteBars(rows []SummaryRow) {
	type groupKey struct {
		label string
		n     int
	}
	groups := map[groupKey][]SummaryRow{}
	var keys []groupKey
	for _, r := range rows {
		k := groupKey{r.Label, r.Replicas}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	for _, k := range keys {
		series := map[string]bool{}
		conflicts := map[float64]bool{}
		for _, r := range groups[k] {
			series[r.Protocol+"|"+pct(r.ConflictPct)] = true
			conflicts[r.ConflictPct] = true
		}
		if len(series) <= 6 || len(conflicts) == 1 {
			name := fileName("sites", k.label, "n"+strconv.Itoa(k.n))
			title := "Per-site latency, "
			if k.label != "" {
				title += k.label + ", "
			}
			title += fmt.Sprintf("N=%d", k.n)
			if keys := groups[k][0].Keys; strings.HasPrefix(keys, "zipf") {
				title += ", keys " + keys
			} else if len(conflicts) == 1 {
				for c := range conflicts {
					title = "Per-site latency, " + cellTitle(k.label, "", k.n, c)
				}
			}
			pw.siteFigure(groups[k], title, name, len(conflicts) > 1)
			continue
		}
		var cs []float64
		for c := range conflicts {
			cs = append(cs, c)
		}
		sort.Float64s(cs)
		for _, c := range cs {
			var sub []SummaryRow
			for _, r := range groups[k] {
				if r.ConflictPct == c {
					sub = append(sub, r)
				}
			}
			pw.siteFigure(sub, "Per-site latency, "+cellTitle(k.label, "", k.n, c),
				fileName("sites", k.label, "n"+strconv.Itoa(k.n), "c"+pct(c)), false)
		}
	}
}

func (pw *plotWriter) siteFigure(rows []SummaryRow, title, name string, byConflict bool) {
	var sites, series []string
	seenS, seenP := map[string]bool{}, map[string]bool{}
	val := map[[2]string]SummaryRow{}
	protoOf := map[string]string{}
	for _, r := range rows {
		ser := r.Protocol
		if byConflict {
			ser = fmt.Sprintf("%s %s%%", r.Protocol, pct(r.ConflictPct))
		}
		protoOf[ser] = r.Protocol
		if !seenS[r.Site] {
			seenS[r.Site] = true
			sites = append(sites, r.Site)
		}
		if !seenP[ser] {
			seenP[ser] = true
			series = append(series, ser)
		}
		val[[2]string{ser, r.Site}] = r
	}
	p := newPlot(title, "site", "client latency (ms): bar p50, whisker p99")
	p.Title.Text = title
	p.Y.Min = 0
	np := float64(len(series))
	slot := 0.8 / np
	var commits plotter.XYs
	var pub []published
	vars := variants{}
	for pi, ser := range series {
		var bars plotter.Values
		var errs plotter.XYs
		var yerr plotter.YErrors
		colour := variantColor(protoColor(protoOf[ser]), vars.index(protoOf[ser], ser))
		for si, s := range sites {
			r, ok := val[[2]string{ser, s}]
			med, p99 := r.Lat.P50, r.Lat.P99
			if !ok || math.IsNaN(med) {
				med, p99 = 0, 0
			}
			bars = append(bars, med)
			x := float64(si) - 0.4 + slot*(float64(pi)+0.5)
			errs = append(errs, plotter.XY{X: x, Y: med})
			yerr = append(yerr, struct{ Low, High float64 }{0, math.Max(0, p99-med)})
			if ok && !math.IsNaN(r.CommitP50) {
				commits = append(commits, plotter.XY{X: x, Y: r.CommitP50})
			}
			if ok {
				pub = append(pub, pw.publishedAt(r, x, colour)...)
			}
		}
		bc, err := plotter.NewBarChart(bars, vg.Points(math.Max(3, 330/(np*float64(len(sites))))))
		if err != nil {
			continue
		}
		bc.XMin = -0.4 + slot*(float64(pi)+0.5)
		bc.Color = colour
		bc.LineStyle.Width = 0
		p.Add(bc)
		p.Legend.Add(ser, bc)
		eb := &struct {
			plotter.XYs
			plotter.YErrors
		}{errs, yerr}
		if w, err := plotter.NewYErrorBars(eb); err == nil {
			w.LineStyle.Width = vg.Points(1)
			p.Add(w)
		}
	}
	ymax := 1.0
	for _, r := range rows {
		for _, v := range []float64{r.Lat.P99, r.CommitP50} {
			if !math.IsNaN(v) {
				ymax = math.Max(ymax, v)
			}
		}
	}
	for _, q := range pub {
		ymax = math.Max(ymax, q.Value)
	}
	entries := len(series) + 1
	if len(pub) > 0 {
		entries++
	}
	p.Y.Max = ymax * (1.15 + 0.07*float64(entries)) // room for the legend
	// The published diamonds go under the commit markers, which stay
	// visible.
	addPublished(p, pub)
	if len(commits) > 0 {
		if sc, err := plotter.NewScatter(commits); err == nil {
			sc.Shape = draw.PyramidGlyph{}
			sc.Radius = vg.Points(2.5)
			p.Add(sc)
			p.Legend.Add("commit p50", sc)
		}
	}
	legendPublished(p, pub)
	p.NominalX(sites...)
	pw.save(p, name)
}

// publishedAt returns the published numbers of the per-site figure's bar
// for row r at x: a median client latency (lat_p50_ms, joined to the bar's
// top) or commit latency (commit_p50_ms, joined to the commit marker).
func (pw *plotWriter) publishedAt(r SummaryRow, x float64, c color.Color) []published {
	var out []published
	for _, q := range pw.pub {
		if q.Label != r.Label || q.Replicas != 0 && q.Replicas != r.Replicas || q.Protocol != r.Protocol ||
			q.ConflictPct != r.ConflictPct || q.Site != r.Site {
			continue
		}
		switch q.Metric {
		case "lat_p50_ms":
			out = append(out, published{X: x, Value: q.Value, Ours: r.Lat.P50, Color: c})
		case "commit_p50_ms":
			out = append(out, published{X: x, Value: q.Value, Ours: r.CommitP50, Color: c})
		}
	}
	return out
}

// seriesKey groups "all" summary rows into lines.
type seriesKey struct {
	label, proto string
	n            int
}

// String names the series in legends.
func (s seriesKey) String() string {
	name := s.proto
	if s.label != "" {
		name = s.label + " " + name
	}
	return fmt.Sprintf("%s N=%d", name, s.n)
}

func allRows(rows []SummaryRow) []SummaryRow {
	var out []SummaryRow
	for _, r := range rows {
		if r.Site == "all" {
			out = append(out, r)
		}
	}
	return out
}

func addLines(p *plot.Plot, series map[seriesKey]plotter.XYs, order []seriesKey) {
	for _, k := range order {
		pts := series[k]
		sort.SliceStable(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
	}
	addLinesAsIs(p, series, order)
}

// addLinesAsIs draws each series joining its points in the given order.
func addLinesAsIs(p *plot.Plot, series map[seriesKey]plotter.XYs, order []seriesKey) {
	vars := variants{}
	for _, k := range order {
		pts := series[k]
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		v := vars.index(k.proto, k.String())
		l.Color, s.Color = protoColor(k.proto), protoColor(k.proto)
		s.Shape = protoShape(k.proto)
		if v > 0 {
			l.Dashes = plotutil.Dashes(v)
		}
		p.Add(l, s)
		p.Legend.Add(k.String(), l, s)
	}
}

func (pw *plotWriter) throughputVsConflict(rows []SummaryRow) {
	series := map[seriesKey]plotter.XYs{}
	var order []seriesKey
	distinct := map[float64]bool{}
	for _, r := range allRows(rows) {
		if r.RateOpsS > 0 {
			continue
		}
		k := seriesKey{r.Label, r.Protocol, r.Replicas}
		if series[k] == nil {
			order = append(order, k)
		}
		series[k] = append(series[k], plotter.XY{X: r.ConflictPct, Y: r.ThroughputOpsS})
		distinct[r.ConflictPct] = true
	}
	if len(distinct) < 2 {
		return
	}
	p := newPlot("Throughput vs conflict rate", "conflicting commands (%)", "throughput (ops/s)")
	p.Y.Min = 0
	addLines(p, series, order)
	var pub []published
	for _, k := range order {
		for _, q := range pw.pub {
			if q.Metric != "throughput_ops_s" || q.Site != "all" || q.Label != k.label || q.Protocol != k.proto || q.Replicas != 0 && q.Replicas != k.n {
				continue
			}
			ours := math.NaN()
			for _, xy := range series[k] {
				if xy.X == q.ConflictPct {
					ours = xy.Y
				}
			}
			pub = append(pub, published{X: q.ConflictPct, Value: q.Value, Ours: ours, Color: protoColor(k.proto)})
		}
	}
	addPublished(p, pub)
	legendPublished(p, pub)
	// A little room left and right so that the end labels stay whole.
	p.X.Min, p.X.Max = p.X.Min-3, p.X.Max+3
	if len(pub) > 0 {
		headroom(p, len(order)+1)
	} else {
		headroom(p, len(order))
	}
	pw.save(p, "throughput_vs_conflict")
}

// latencyVsConflict draws, per (label, replicas), the mean latency of
// every protocol against the conflict (collision) rate. A label "L (V)"
// shares the figure of label L, its lines named V.
func (pw *plotWriter) latencyVsConflict(rows []SummaryRow) {
	type fig struct {
		label string
		n     int
	}
	series := map[fig]map[seriesKey]plotter.XYs{}
	orders := map[fig][]seriesKey{}
	var figs []fig
	for _, r := range allRows(rows) {
		if r.RateOpsS > 0 || math.IsNaN(r.Lat.Mean) {
			continue
		}
		label, variant := r.Label, ""
		if i := strings.LastIndex(label, " ("); i >= 0 && strings.HasSuffix(label, ")") {
			label, variant = label[:i], label[i+2:len(label)-1]
		}
		f := fig{label, r.Replicas}
		if series[f] == nil {
			series[f] = map[seriesKey]plotter.XYs{}
			figs = append(figs, f)
		}
		k := seriesKey{label: variant, proto: r.Protocol, n: r.Replicas}
		if series[f][k] == nil {
			orders[f] = append(orders[f], k)
		}
		series[f][k] = append(series[f][k], plotter.XY{X: r.ConflictPct, Y: r.Lat.Mean})
	}
	for _, f := range figs {
		if len(series[f][orders[f][0]]) < 2 {
			continue
		}
		title := fmt.Sprintf("Mean latency vs conflict rate, N=%d", f.n)
		if f.label != "" {
			title = f.label + ": " + title
		}
		p := newPlot(title, "commands with a concurrent rival (%)", "mean latency (ms)")
		p.Y.Min = 0
		addLines(p, series[f], orders[f])
		headroom(p, len(orders[f]))
		pw.save(p, fileName("latency_vs_conflict", f.label, fmt.Sprintf("n%d", f.n)))
	}
}

func (pw *plotWriter) latencyVsThroughput(rows []SummaryRow) {
	type point struct {
		rate float64
		xy   [2]plotter.XY // p50, p99
	}
	pts := map[seriesKey][]point{}
	var order []seriesKey
	rates := map[float64]bool{}
	for _, r := range allRows(rows) {
		if r.RateOpsS <= 0 || math.IsNaN(r.Lat.P50) {
			continue
		}
		k := seriesKey{r.Label, r.Protocol, r.Replicas}
		if pts[k] == nil {
			order = append(order, k)
		}
		pts[k] = append(pts[k], point{r.RateOpsS, [2]plotter.XY{{X: r.ThroughputOpsS, Y: r.Lat.P50}, {X: r.ThroughputOpsS, Y: r.Lat.P99}}})
		rates[r.RateOpsS] = true
	}
	if len(rates) < 2 {
		return
	}
	// Join points in order of offered load: past saturation the measured
	// throughput can fall again, and the curve then bends back, honestly.
	for qi, name := range []string{"p50", "p99"} {
		series := map[seriesKey]plotter.XYs{}
		for k, ps := range pts {
			sort.SliceStable(ps, func(a, b int) bool { return ps[a].rate < ps[b].rate })
			for _, pt := range ps {
				series[k] = append(series[k], pt.xy[qi])
			}
		}
		p := newPlot("Latency ("+name+") vs throughput, open-loop load sweep", "throughput (ops/s)", name+" latency (ms, log scale)")
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Legend.Left = true
		addLinesAsIs(p, series, order)
		p.Y.Max *= 12 // a decade of headroom above the data for the legend
		pw.save(p, "latency_vs_throughput_"+name)
	}
}

func (pw *plotWriter) timelines(rows []TimelineRow, faults []FaultRow) {
	groups := map[cellKey]map[string]plotter.XYs{}
	var keys []cellKey
	for _, r := range rows {
		if r.Run != 0 {
			continue
		}
		k := cellKey{r.Label, r.Replicas, r.ConflictPct}
		if groups[k] == nil {
			groups[k] = map[string]plotter.XYs{}
			keys = append(keys, k)
		}
		groups[k][r.Protocol] = append(groups[k][r.Protocol], plotter.XY{X: r.TimeS, Y: r.OpsS})
	}
	for _, k := range keys {
		p := newPlot("Throughput over time, "+cellTitle(k.label, "", k.n, k.conflict), "time (s)", "throughput (ops/s, 100 ms windows)")
		p.Y.Min = 0
		var protos []string
		for pr := range groups[k] {
			protos = append(protos, pr)
		}
		sortedProtocols(protos)
		ymax := 1.0
		for _, pr := range protos {
			pts := groups[k][pr]
			for _, xy := range pts {
				ymax = math.Max(ymax, xy.Y)
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				continue
			}
			l.Color = protoColor(pr)
			l.Dashes = protoDashes(pr)
			l.Width = vg.Points(1.2)
			p.Add(l)
			p.Legend.Add(pr, l)
		}
		for _, f := range faults {
			if f.Label != k.label || f.Replicas != k.n || f.ConflictPct != k.conflict {
				continue
			}
			if groups[k][f.Protocol] == nil {
				continue
			}
			l, err := plotter.NewLine(plotter.XYs{{X: f.TimeS, Y: 0}, {X: f.TimeS, Y: ymax * 1.05}})
			if err != nil {
				continue
			}
			l.Color = protoColor(f.Protocol)
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			p.Add(l)
			who := fmt.Sprintf("replica %d", f.Replica)
			if f.Site != "" && f.Site != strconv.Itoa(f.Replica) {
				who += " (" + f.Site + ")"
			}
			p.Legend.Add(fmt.Sprintf("%s: %s %s at %.1f s", f.Protocol, f.Kind, who, f.TimeS), l)
		}
		pw.save(p, fileName("timeline", k.label, "n"+strconv.Itoa(k.n), "c"+pct(k.conflict)))
	}
}

// quorumSweeps draws throughput and median latency against Q2 (one line per
// N and label) and against N (one line per label and Q2), when the summary
// holds several values of either.
func (pw *plotWriter) quorumSweeps(rows []SummaryRow) {
	all := allRows(rows)
	q2s, ns := map[int]bool{}, map[int]bool{}
	for _, r := range all {
		q2s[r.Q2] = true
		ns[r.Replicas] = true
	}
	if len(q2s) < 2 && len(ns) < 2 {
		return
	}
	metric := []struct {
		name, axis string
		get        func(SummaryRow) float64
	}{
		{"throughput", "throughput (ops/s)", func(r SummaryRow) float64 { return r.ThroughputOpsS }},
		{"latency", "median latency (ms)", func(r SummaryRow) float64 { return r.Lat.P50 }},
	}
	if len(q2s) >= 2 {
		for _, m := range metric {
			series := map[seriesKey]plotter.XYs{}
			var order []seriesKey
			for _, r := range all {
				q2 := r.Q2
				if q2 == 0 {
					q2 = r.Replicas/2 + 1 // majority
				}
				k := seriesKey{r.Label, r.Protocol, r.Replicas}
				if series[k] == nil {
					order = append(order, k)
				}
				series[k] = append(series[k], plotter.XY{X: float64(q2), Y: m.get(r)})
			}
			p := newPlot("Flexible Paxos: "+m.name+" vs phase-2 quorum size", "|Q2| (replicas)", m.axis)
			p.Y.Min = 0
			p.Legend.Top = false
			p.Legend.Left = true
			var multi []seriesKey // single-point series (e.g. majority Paxos) belong to the N plot
			for _, k := range order {
				if len(series[k]) >= 2 {
					multi = append(multi, k)
				}
			}
			if len(multi) == 0 {
				continue
			}
			addLines(p, series, multi)
			pw.save(p, "fpaxos_q2_"+m.name)
		}
	}
	if len(ns) >= 2 {
		for _, m := range metric {
			series := map[seriesKey]plotter.XYs{}
			var order []seriesKey
			for _, r := range all {
				k := seriesKey{label: r.Label, proto: r.Protocol}
				if r.Q2 > 0 {
					k.label = strings.TrimSpace(k.label + " Q2=" + strconv.Itoa(r.Q2))
				}
				if series[k] == nil {
					order = append(order, k)
				}
				series[k] = append(series[k], plotter.XY{X: float64(r.Replicas), Y: m.get(r)})
			}
			p := newPlot(m.name+" vs cluster size", "N (replicas)", m.axis)
			p.Y.Min = 0
			p.Legend.Top = false
			vars := variants{}
			for _, k := range order {
				pts := series[k]
				sort.Slice(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
				l, s, err := plotter.NewLinePoints(pts)
				if err != nil {
					continue
				}
				l.Color, s.Color = protoColor(k.proto), protoColor(k.proto)
				s.Shape = protoShape(k.proto)
				if v := vars.index(k.proto, k.label); v > 0 {
					l.Dashes = plotutil.Dashes(v)
				}
				p.Add(l, s)
				name := k.proto
				if k.label != "" {
					name = k.label + " " + k.proto
				}
				p.Legend.Add(name, l, s)
			}
			pw.save(p, "fpaxos_n_"+m.name)
		}
	}
}
