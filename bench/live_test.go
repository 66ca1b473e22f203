package bench_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/bench"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLiveAgainstClusterFile starts three replicas as `paxos serve` would
// (in this process, on loopback ports) and measures them through their
// cluster file, as a multi-machine run would.
func TestLiveAgainstClusterFile(t *testing.T) {
	if testing.Short() {
		t.Skip("live run takes seconds of wall time")
	}
	registered(t, "multi")
	const n = 3
	var peerL, clientL [n]net.Listener
	secretFile := filepath.Join(t.TempDir(), "cluster.secret")
	secret, err := transport.NewSecret()
	require.NoError(t, err)
	require.NoError(t, transport.WriteSecret(secretFile, secret))
	cl := node.Cluster{Name: "bench-test", Protocol: "multi", TickMS: 10, SecretFile: secretFile}
	for i := 0; i < n; i++ {
		var err error
		peerL[i], err = net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		clientL[i], err = net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		cl.Replicas = append(cl.Replicas, node.ReplicaAddrs{ID: i, Peer: peerL[i].Addr().String(), Client: clientL[i].Addr().String()})
	}
	b, err := json.Marshal(cl)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "cluster.json")
	require.NoError(t, os.WriteFile(file, b, 0o644))
	loaded, err := node.LoadCluster(file)
	require.NoError(t, err)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := 0; i < n; i++ {
		srv, err := node.Serve(node.ServeConfig{Cluster: loaded, ID: paxos.NodeID(i), Memory: storage.NewMemory(),
			PeerListener: peerL[i], ClientListener: clientL[i], Logger: quiet})
		require.NoError(t, err)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Stop(ctx)
		})
	}
	s := bench.DefaultSpec()
	s.Mode, s.Cluster = bench.ModeLive, file
	s.Protocols, s.Replicas = []string{"multi"}, n
	s.Clients = 2
	s.Duration, s.Warmup = time.Second, 300*time.Millisecond
	s.KeepSamples = true
	before := time.Now()
	r, err := bench.Run(context.Background(), s, bench.Options{})
	require.NoError(t, err)
	all := r.Summary[len(r.Summary)-1]
	require.Equal(t, "all", all.Site)
	assert.Greater(t, all.Ops, 10)
	assert.Equal(t, "live", all.Mode)
	assert.Less(t, all.Lat.P50, 500.0)

	// --samples: one line per measured operation, with the wall clock of
	// its call for lining it up with traces of other processes.
	dir := t.TempDir()
	require.NoError(t, bench.WriteDir(dir, bench.CollectMeta([]string{"test"}), r))
	f, err := os.Open(filepath.Join(dir, bench.SamplesFile))
	require.NoError(t, err)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	require.NoError(t, err)
	require.Equal(t, []string{"label", "protocol", "conflict_pct", "run", "site", "call_ms", "return_ms", "latency_ms", "call_unix_ms"}, rows[0])
	require.Len(t, rows, len(r.Samples)+1)
	for _, row := range rows[1:] {
		call, err := strconv.ParseFloat(row[5], 64)
		require.NoError(t, err)
		unix, err := strconv.ParseFloat(row[8], 64)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, call, float64(s.Warmup.Milliseconds()))
		assert.InDelta(t, float64(before.UnixMilli())+call, unix, 5000)
	}

	s.Protocols = []string{"epaxos"}
	_, err = bench.Run(context.Background(), s, bench.Options{})
	require.ErrorIs(t, err, bench.ErrSpec)
	assert.Contains(t, err.Error(), "runs \"multi\"")

	// Clients with the wrong token complete nothing, and the run says why
	// instead of reporting zero operations.
	s.Protocols = []string{"multi"}
	s.Duration, s.Warmup = 300*time.Millisecond, 0
	s.ClientOptions = &client.Options{Token: strings.Repeat("ab", 32)}
	_, err = bench.Run(context.Background(), s, bench.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no command completed")
	assert.Contains(t, err.Error(), "authentication")
}
