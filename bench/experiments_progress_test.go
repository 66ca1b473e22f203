package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/bench"
)

// Progress counts the runs of a whole experiment: an experiment of several
// specs reports 1/N .. N/N, not 1/1 for each spec.
func TestExperimentProgressCountsEveryRun(t *testing.T) {
	registered(t, "multi")
	spec := func(label string, conflicts ...float64) bench.Spec {
		s := bench.DefaultSpec()
		s.Label, s.Protocols, s.Replicas, s.Conflicts = label, []string{"multi"}, 3, conflicts
		s.Clients, s.Duration, s.Warmup = 1, 200*time.Millisecond, 0
		return s
	}
	e := bench.Experiment{Name: "progress", About: "two specs", Plots: []string{},
		Specs: func() ([]bench.Spec, error) { return []bench.Spec{spec("a", 0), spec("b", 0, 100)}, nil }}
	var seen [][2]int
	_, err := bench.RunExperiment(context.Background(), e, t.TempDir(),
		bench.Options{Parallel: 1, Progress: func(p bench.Progress) { seen = append(seen, [2]int{p.Done, p.Total}) }},
		bench.CollectMeta(nil))
	require.NoError(t, err)
	assert.Equal(t, [][2]int{{1, 3}, {2, 3}, {3, 3}}, seen)
}
