package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/internal/livetest"
	"github.com/paxos-lab/paxos/node"
)

// --metrics serves the replica's series, labelled with its id and
// protocol, in Prometheus text format, and --pprof the profiler beside
// them; a put moves the commit and latency series.
func TestMetricsAndPprof(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := startMetrics("127.0.0.1:0", true, reg)
	require.NoError(t, err)
	defer m.Close(context.Background())
	config, c := writeCluster(t, "multi", 1)
	s, err := node.Serve(node.ServeConfig{Cluster: c, ID: 0, DataDir: t.TempDir(), New: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: replicaLabels(reg, 0, "multi")})
	require.NoError(t, err)
	defer s.Stop(context.Background())

	url := "http://" + m.Addr().String()
	code, _, stderr := runCmd("put", "--config", config, "k", "v")
	require.Equal(t, exitOK, code, stderr)
	got, err := livetest.Scrape(url + "/metrics")
	require.NoError(t, err)
	for _, series := range []string{"paxos_commits_total", "paxos_request_duration_seconds_count", "paxos_wal_fsync_duration_seconds_count", "paxos_commands_executed_total"} {
		v, ok := got.Sum(series, `protocol="multi"`, `replica="0"`)
		assert.True(t, ok, series)
		assert.Positive(t, v, series)
	}
	_, ok := got.Sum("go_goroutines")
	assert.True(t, ok)

	cl := http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get(url + "/debug/pprof/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	_, err = startMetrics(m.Addr().String(), false, prometheus.NewRegistry())
	assert.ErrorContains(t, err, "choose a free port")
}
