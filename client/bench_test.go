package client_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/internal/proccpu"
)

// BenchmarkPut measures the synchronous path a user's code takes: K
// goroutines share one client (one connection), each keeping one Put
// outstanding with a deadline of its own, as a closed-loop load
// generator does, against echoServer. ns/op is per Put.
func BenchmarkPut(b *testing.B) {
	for _, k := range []int{1, 256, 1024} {
		b.Run(fmt.Sprintf("outstanding=%d", k), func(b *testing.B) {
			cl, err := client.New([]string{echoServer(b)}, client.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			if err := cl.Put(context.Background(), "warm", "up"); err != nil {
				b.Fatal(err)
			}
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ReportAllocs()
			cpu0 := int64(proccpu.Time())
			b.ResetTimer()
			for range k {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for left.Add(-1) >= 0 {
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						err := cl.Put(ctx, "key", "0123456789abcdef")
						cancel()
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			// CPU time, unlike wall time, does not count waiting for a
			// loaded machine's other processes (the echo server's share
			// is included).
			b.ReportMetric(float64(int64(proccpu.Time())-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
