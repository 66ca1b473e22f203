package client_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
)

// echo answers every command at once without executing it, so that a
// benchmark measures the client and the client protocol, not a replica.
type echo struct{}

func (echo) Submit(_ context.Context, cmd paxos.Command) (paxos.Execution, error) {
	return paxos.Execution{Command: cmd}, nil
}

// SubmitAsync and SubmitAsyncBatch answer on the caller's goroutine, as a
// replica answers on its own: the server spends no goroutine per request.
func (echo) SubmitAsync(cmd paxos.Command, _ time.Time, done func(paxos.CommandID, paxos.Execution, error)) {
	done(cmd.ID(), paxos.Execution{Command: cmd}, nil)
}

func (e echo) SubmitAsyncBatch(cmds []paxos.Command, deadline time.Time, done func(paxos.CommandID, paxos.Execution, error)) {
	for _, c := range cmds {
		e.SubmitAsync(c, deadline, done)
	}
}

// BenchmarkPut measures the synchronous path a user's code takes: K
// goroutines share one client (one connection), each keeping one Put
// outstanding with a deadline of its own, as a closed-loop load
// generator does. ns/op is per Put; it includes the server's side.
func BenchmarkPut(b *testing.B) {
	for _, k := range []int{1, 256} {
		b.Run(fmt.Sprintf("outstanding=%d", k), func(b *testing.B) {
			addr, _ := serveCfg(b, client.ServerConfig{Submitter: echo{}, Token: testToken})
			cl, err := client.New([]string{addr}, client.Options{Token: testToken})
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
		})
	}
}
