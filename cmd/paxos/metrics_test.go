package main

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --metrics serves the replica's counters in Prometheus text format, and
// --pprof the profiler beside them.
func TestMetricsAndPprof(t *testing.T) {
	_, s := serveOne(t)
	m, err := startMetrics("127.0.0.1:0", true, s.Node(), 0, "multi")
	require.NoError(t, err)
	defer m.Close(context.Background())

	get := func(path string) (int, string) {
		cl := http.Client{Timeout: 10 * time.Second}
		resp, err := cl.Get("http://" + m.Addr().String() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `paxos_commands_executed_total{protocol="multi",replica="0"}`)
	assert.Contains(t, body, "paxos_wal_appends_total")
	assert.Contains(t, body, "go_goroutines")
	code, _ = get("/debug/pprof/")
	assert.Equal(t, http.StatusOK, code)

	_, err = startMetrics(m.Addr().String(), false, s.Node(), 0, "multi")
	assert.ErrorContains(t, err, "choose a free port")
}
