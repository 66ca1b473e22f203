package node_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

// BenchmarkLiveTCP measures a live cluster of 5 replicas in this process,
// talking over TCP on loopback, each with an fsynced WAL, driven by 64
// closed-loop clients (each through its own client connection, spread over
// the replicas' client ports) doing 16-byte puts on distinct keys. It
// reports throughput (ops/s) and client-observed latency (p50, p99 in ms)
// for every protocol, with batching off (batch=1) and on (batch=64).
//
//	go test ./node -run '^$' -bench LiveTCP -benchtime 20000x
func BenchmarkLiveTCP(b *testing.B) {
	for _, protocol := range paxos.Protocols() {
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/n=5/batch=%d", protocol, batch), func(b *testing.B) {
				benchLive(b, protocol, 5, batch, 64)
			})
		}
	}
}

func benchLive(b *testing.B, protocol string, n, batch, clients int) {
	c := startTCPCluster(b, protocol, n, node.Options{Batch: batch}, os.Getenv("PAXOS_BENCH_NOSYNC") == "1")
	cls := make([]*client.Client, clients)
	for i := range cls {
		cl := newClient(b, c.cluster, client.Options{AttemptTimeout: 5 * time.Second})
		defer cl.Close()
		cls[i] = cl
		// Leaderless protocols spread clients over replicas; leader-based
		// ones forward or refuse at followers, and the client finds the
		// leader on its own.
		cl.Prefer(i % n)
		// Warm up: connect and let a leader settle.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := cl.Put(ctx, "warmup", "x"); err != nil {
			cancel()
			b.Fatal(err)
		}
		cancel()
	}
	value := "0123456789abcdef"
	lat := make([][]time.Duration, clients)
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range cls {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// One context and key per client: the allocations measured
			// are the cluster's and the client library's, not the loop's.
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			key := fmt.Sprintf("c%d", i)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				err := cls[i].Put(ctx, key, value)
				if err != nil {
					failed.Add(1)
					continue
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) == 0 {
		b.Fatal("no operation completed")
	}
	q := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	if f := failed.Load(); f > 0 {
		b.ReportMetric(float64(f), "failed")
	}
}

// BenchmarkSubmitMetrics measures what the node's metrics cost on the hot
// path: one replica of each protocol in this process (in-memory storage
// and network, so the node's own work dominates), Submit in a loop, with
// Config.Metrics off and on. Allocations per command must be equal.
//
//	go test ./node -run '^$' -bench SubmitMetrics -benchmem
func BenchmarkSubmitMetrics(b *testing.B) {
	for _, tc := range []struct {
		protocol string
		on       bool
	}{{"basic", false}, {"basic", true}, {"multi", false}, {"multi", true}, {"epaxos", false}, {"epaxos", true}} {
		b.Run(fmt.Sprintf("%s/metrics=%v", tc.protocol, tc.on), func(b *testing.B) {
			on := tc.on
			cfg := node.Config{Protocol: tc.protocol, Replica: paxos.Config{ID: 0, N: 1, Seed: 1}.WithDefaults(),
				Transport: transport.NewNetwork(1, 1024).Endpoint(0), Storage: storage.NewMemory(), Logger: quiet()}
			if on {
				cfg.Metrics = prometheus.NewRegistry()
			}
			nd, err := node.Start(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer nd.Stop(context.Background())
			ctx := context.Background()
			cmd := paxos.Command{Client: 1, Op: paxos.OpPut, Key: "k", Value: "0123456789abcdef"}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cmd.Seq = uint64(i + 1)
				if _, err := nd.Submit(ctx, cmd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
