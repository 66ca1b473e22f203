package node_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/internal/livetest"
	"github.com/paxos-lab/paxos/node"
)

// The metrics of a live EPaxos cluster move with the load: conflict-free
// puts commit on the fast path, their latency lands in the put histogram,
// the WAL fsyncs and writes bytes, and the queue gauges and the protocol's
// event counters are exported.
func TestMetricsMoveWithLoad(t *testing.T) {
	c := startTCPCluster(t, "epaxos", 3, node.Options{}, false)
	srv := httptest.NewServer(promhttp.HandlerFor(c.regs[0], promhttp.HandlerOpts{}))
	defer srv.Close()
	scrape := func() livetest.Metrics {
		m, err := livetest.Scrape(srv.URL + "/metrics")
		require.NoError(t, err)
		return m
	}
	before := scrape()

	cl := newClient(t, c.cluster, client.Options{AttemptTimeout: 5 * time.Second})
	defer cl.Close()
	cl.Prefer(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 20; i++ {
		require.NoError(t, cl.Put(ctx, fmt.Sprintf("k%d", i), "v"))
	}
	_, err := cl.Get(ctx, "k1")
	require.NoError(t, err)

	after := scrape()
	moved := func(name string, labels ...string) {
		t.Helper()
		b, _ := before.Sum(name, labels...)
		a, ok := after.Sum(name, labels...)
		assert.True(t, ok, "%s %v not exported", name, labels)
		assert.Greater(t, a, b, "%s %v did not move", name, labels)
	}
	moved("paxos_commits_total", `path="fast"`)
	moved("paxos_request_duration_seconds_count", `op="put"`)
	moved("paxos_request_duration_seconds_count", `op="get"`)
	moved("paxos_wal_fsync_duration_seconds_count")
	moved("paxos_wal_bytes_total")
	moved("paxos_persist_duration_seconds_count")
	moved("paxos_commands_executed_total")
	moved("paxos_transport_sent_total")
	for _, q := range []string{`queue="inbox"`, `queue="proposals"`, `queue="persist"`} {
		_, ok := after.Sum("paxos_queue_depth", q)
		assert.True(t, ok, q)
	}
	_, ok := after.Sum("paxos_transport_send_queue_depth", `peer="1"`)
	assert.True(t, ok)
	for _, g := range []string{"paxos_loop_longest_tick_gap_seconds", "paxos_loop_longest_disk_wait_seconds"} {
		_, ok := after.Sum(g)
		assert.True(t, ok, "%s not exported", g)
	}
	// The protocol's counters are sampled about once a second.
	assert.Eventually(t, func() bool {
		_, ok := scrape().Sum("paxos_protocol_events_total", `event="recoveries"`)
		return ok
	}, 10*time.Second, 100*time.Millisecond)
}

// A leader-based replica exports the leader it believes in.
func TestMetricsLeader(t *testing.T) {
	c := startTCPCluster(t, "multi", 3, node.Options{}, true)
	srv := httptest.NewServer(promhttp.HandlerFor(c.regs[1], promhttp.HandlerOpts{}))
	defer srv.Close()
	assert.Eventually(t, func() bool {
		m, err := livetest.Scrape(srv.URL + "/metrics")
		require.NoError(t, err)
		v, ok := m.Sum("paxos_leader")
		_, moves := m.Sum("paxos_leader_changes_total")
		return ok && moves && v == 0
	}, 10*time.Second, 50*time.Millisecond)
}
