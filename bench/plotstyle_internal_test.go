package bench

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A protocol has one colour and marker whatever else a figure holds, and a
// variant of it is a lighter shade of the same colour.
func TestProtocolStyleIsStable(t *testing.T) {
	a, b := protoColor("zz-first"), protoColor("zz-second")
	assert.NotEqual(t, a, b)
	assert.Equal(t, a, protoColor("zz-first"))
	assert.Equal(t, protoShape("zz-second"), protoShape("zz-second"))
	assert.Equal(t, a, variantColor(a, 0))
	assert.NotEqual(t, a, variantColor(a, 1))
	v := variants{}
	assert.Equal(t, 0, v.index("multi", "multi 0%"))
	assert.Equal(t, 1, v.index("multi", "multi 100%"))
	assert.Equal(t, 0, v.index("epaxos", "epaxos 0%"))
	assert.Equal(t, 1, v.index("multi", "multi 100%"))
}

// Linear axes carry five to eight labels at round values, whatever the
// range.
func TestPlainTicksAreReadable(t *testing.T) {
	for _, r := range [][2]float64{{0, 1}, {0, 100}, {0, 65000}, {3, 10}, {0.2, 0.9}, {0, 13.2}, {-5, 5}, {21, 32}} {
		var labels []string
		for _, tk := range (plainTicks{}).Ticks(r[0], r[1]) {
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
			assert.GreaterOrEqual(t, tk.Value, r[0]-1e-9)
			assert.LessOrEqual(t, tk.Value, r[1]+1e-9)
		}
		assert.GreaterOrEqual(t, len(labels), 4, "%v: %v", r, labels)
		assert.LessOrEqual(t, len(labels), 8, "%v: %v", r, labels)
		for _, l := range labels {
			assert.LessOrEqual(t, len(l), 6, "%v: %v", r, labels)
		}
	}
	assert.Equal(t, 2.5, niceStep(2.1))
	assert.Equal(t, 10000.0, niceStep(6000))
}

// The published numbers of compare.csv are drawn on the figures that show
// their metric, with a legend entry "published".
func TestPlotDrawsPublishedNumbers(t *testing.T) {
	dir := t.TempDir()
	var rows []SummaryRow
	for _, c := range []float64{0, 100} {
		for _, site := range []string{"CA", "all"} {
			rows = append(rows, SummaryRow{Label: "x", Protocol: "epaxos", Replicas: 3, Site: site, ConflictPct: c,
				ThroughputOpsS: 1000 - 5*c, Lat: Stats{P50: 80, P99: 90}, CommitP50: 80})
		}
	}
	r := &Result{Summary: rows}
	assert.NoError(t, WriteDir(dir, Meta{}, r))
	pub := []Published{
		{Label: "x", Replicas: 3, Protocol: "epaxos", ConflictPct: 0, Site: "all", Metric: "throughput_ops_s", Value: 900},
		{Label: "x", Replicas: 3, Protocol: "epaxos", ConflictPct: 100, Site: "CA", Metric: "commit_p50_ms", Value: 70},
	}
	assert.NoError(t, writeCompare(filepath.Join(dir, CompareFile), pub, []*Result{r}))
	got, err := ReadCompare(filepath.Join(dir, CompareFile))
	assert.NoError(t, err)
	assert.Equal(t, pub, got)
	names, err := Plot(dir)
	assert.NoError(t, err)
	assert.Contains(t, names, "throughput_vs_conflict")
	for _, n := range []string{"throughput_vs_conflict", "sites_x_n3"} {
		svg, err := os.ReadFile(filepath.Join(dir, n+".svg"))
		assert.NoError(t, err)
		assert.Contains(t, string(svg), ">published<", n)
	}
}
