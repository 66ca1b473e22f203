package node_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/internal/livetest"
	"github.com/paxos-lab/paxos/node"
)

// tcpCluster is a cluster of replicas in this process, talking over TCP on
// loopback, each with a WAL in a temporary directory.
type tcpCluster struct {
	cluster *node.Cluster
	servers []*node.Server
	dirs    []string
	peerLns []net.Listener
	regs    []*prometheus.Registry // each server's metrics
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

func startTCPCluster(t testing.TB, protocol string, n int, opts node.Options, noSync bool) *tcpCluster {
	t.Helper()
	return startTCPClusterTick(t, protocol, n, opts, noSync, 5)
}

// startTCPClusterTick is startTCPCluster with ticks of tickMS milliseconds
// (0: the cluster file's default).
func startTCPClusterTick(t testing.TB, protocol string, n int, opts node.Options, noSync bool, tickMS int) *tcpCluster {
	t.Helper()
	c := &tcpCluster{cluster: &node.Cluster{Name: "test-" + protocol, Protocol: protocol, TickMS: tickMS, Options: opts, SecretFile: writeSecret(t)}}
	var clientLns []net.Listener
	for i := 0; i < n; i++ {
		p, cl := listen(t), listen(t)
		c.peerLns = append(c.peerLns, p)
		clientLns = append(clientLns, cl)
		c.cluster.Replicas = append(c.cluster.Replicas, node.ReplicaAddrs{ID: i, Peer: p.Addr().String(), Client: cl.Addr().String()})
		c.dirs = append(c.dirs, t.TempDir())
	}
	require.NoError(t, c.cluster.Validate())
	for i := 0; i < n; i++ {
		// Metrics are on, as in `paxos serve --metrics`, so that
		// BenchmarkLiveTCP measures their cost (PAXOS_BENCH_NOMETRICS=1
		// turns them off, to compare).
		reg := prometheus.NewRegistry()
		scfg := node.ServeConfig{Cluster: c.cluster, ID: paxos.NodeID(i), DataDir: c.dirs[i], New: true, NoSync: noSync,
			PeerListener: c.peerLns[i], ClientListener: clientLns[i], Logger: quiet(), Metrics: reg}
		if os.Getenv("PAXOS_BENCH_NOMETRICS") == "1" {
			scfg.Metrics = nil
		}
		s, err := node.Serve(scfg)
		require.NoError(t, err)
		c.servers = append(c.servers, s)
		c.regs = append(c.regs, reg)
	}
	t.Cleanup(c.stop)
	return c
}

func (c *tcpCluster) stop() {
	for _, s := range c.servers {
		if s != nil {
			s.Stop(context.Background())
		}
	}
}

// workload runs clients concurrent closed-loop clients, each doing ops
// operations on a few shared keys, and returns the history.
func workload(t *testing.T, cluster *node.Cluster, clients, ops int, timeout time.Duration) []check.Op {
	t.Helper()
	start := time.Now()
	var mu sync.Mutex
	var hist []check.Op
	var wg sync.WaitGroup
	opts, err := cluster.ClientOptions(client.Options{AttemptTimeout: 2 * time.Second})
	require.NoError(t, err)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			cl, err := client.New(cluster.ClientAddrs(), opts)
			if !assert.NoError(t, err) {
				return
			}
			defer cl.Close()
			for i := 0; i < ops; i++ {
				key := fmt.Sprintf("k%d", (c+i)%3)
				op := check.Op{Client: cl.ID(), Key: key, Op: "get"}
				if (c+i)%2 == 0 {
					op.Op, op.Value = "put", fmt.Sprintf("c%d-%d", c, i)
				}
				_ = livetest.Do(cl, &op, start, timeout) // a failed operation stays pending in the history
				mu.Lock()
				hist = append(hist, op)
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	return hist
}

func completed(hist []check.Op) int {
	n := 0
	for _, o := range hist {
		if o.Completed() {
			n++
		}
	}
	return n
}

func TestTCPClusterEveryProtocolLinearizable(t *testing.T) {
	sizes := []int{3, 5}
	if testing.Short() {
		sizes = []int{3}
	}
	for _, protocol := range paxos.Protocols() {
		for _, n := range sizes {
			t.Run(fmt.Sprintf("%s/n=%d", protocol, n), func(t *testing.T) {
				before := runtime.NumGoroutine()
				c := startTCPCluster(t, protocol, n, node.Options{Batch: 8}, false)
				hist := workload(t, c.cluster, 6, 40, 20*time.Second)
				require.Len(t, hist, 240)
				assert.Equal(t, len(hist), completed(hist), "every operation completes on a healthy cluster")
				v, err := check.CheckLinearizable(hist, 20*time.Second)
				require.NoError(t, err)
				assert.Equal(t, check.Linearizable, v)
				c.stop()
				noLeaks(t, before)
			})
		}
	}
}

// TestTCPClusterLinearizabilityCheckerCatchesStaleRead proves the check
// above can fail: a history with a read of an overwritten value is refused.
func TestTCPClusterLinearizabilityCheckerCatchesStaleRead(t *testing.T) {
	r := func(v int64) *int64 { return &v }
	hist := []check.Op{
		{Client: 1, Op: "put", Key: "k", Value: "a", Call: 0, Return: r(10)},
		{Client: 1, Op: "put", Key: "k", Value: "b", Call: 20, Return: r(30)},
		{Client: 2, Op: "get", Key: "k", Output: "a", Call: 40, Return: r(50)},
	}
	v, err := check.CheckLinearizable(hist, time.Second)
	require.NoError(t, err)
	assert.Equal(t, check.NotLinearizable, v)
}

// restart starts replica i again on its data directory and addresses.
func (c *tcpCluster) restart(t *testing.T, i int) {
	t.Helper()
	s, err := node.Serve(node.ServeConfig{Cluster: c.cluster, ID: paxos.NodeID(i), DataDir: c.dirs[i], Logger: quiet()})
	require.NoError(t, err)
	c.servers[i] = s
}

func TestTCPClusterReplicaRestartsOnItsData(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts replicas; skipped with -short")
	}
	for _, protocol := range paxos.Protocols() {
		t.Run(protocol, func(t *testing.T) {
			// Frequent snapshots, where the protocol takes them, so the
			// restart replays a snapshot plus the WAL after it.
			c := startTCPCluster(t, protocol, 3, node.Options{SnapshotEvery: 3}, false)
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			cl := newClient(t, c.cluster, client.Options{AttemptTimeout: 2 * time.Second})
			defer cl.Close()
			for i := 0; i < 10; i++ {
				require.NoError(t, cl.Put(ctx, fmt.Sprint("w", i), fmt.Sprint(i)))
			}
			require.NoError(t, cl.Put(ctx, "a", "1"))
			// Stop a follower, write without it, restart it on its data.
			require.NoError(t, c.servers[2].Stop(ctx))
			require.NoError(t, cl.Put(ctx, "a", "2"))
			c.restart(t, 2)
			// Stop the other follower: the restarted one is now needed
			// for every quorum, so it must have rejoined.
			require.NoError(t, c.servers[1].Stop(ctx))
			require.NoError(t, cl.Put(ctx, "a", "3"))
			cl.Prefer(2)
			v, err := cl.Get(ctx, "a")
			require.NoError(t, err)
			assert.Equal(t, "3", v)
			v, err = cl.Get(ctx, "w9")
			require.NoError(t, err)
			assert.Equal(t, "9", v)
			c.restart(t, 1)
			snaps := 0
			for _, d := range c.dirs {
				if _, err := os.Stat(filepath.Join(d, "snapshot")); err == nil {
					snaps++
				}
			}
			t.Logf("%s: %d of 3 replicas hold a snapshot", protocol, snaps)
			// Restart everyone on their data: the state is all there.
			for i := range c.servers {
				require.NoError(t, c.servers[i].Stop(ctx))
			}
			for i := range c.servers {
				c.restart(t, i)
			}
			for i := 0; i < 10; i++ {
				cl.Prefer(i % 3)
				v, err := cl.Get(ctx, fmt.Sprint("w", i))
				require.NoError(t, err)
				assert.Equal(t, fmt.Sprint(i), v)
			}
		})
	}
}
