package kv_test

import (
	"strconv"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/proccpu"
	"github.com/paxos-lab/paxos/kv"
)

// BenchmarkApplyBatchLargeStore: the per-command cost of applying batches
// of 64 puts of new keys to a store already holding four million keys
// (its tables far larger than the caches, as a live replica's become with
// distinct keys), with and without Executor.Prefetch before each batch.
func BenchmarkApplyBatchLargeStore(b *testing.B) {
	for _, prefetch := range []bool{false, true} {
		b.Run("prefetch="+strconv.FormatBool(prefetch), func(b *testing.B) {
			e := kv.NewExecutor(paxos.Config{})
			const preload, batch = 4 << 20, 64
			n := (b.N + batch - 1) / batch * batch
			cmds := make([]paxos.Command, preload+n)
			for i := range cmds {
				cmds[i] = paxos.Command{Client: 1, Seq: uint64(i + 1), Op: paxos.OpPut, Key: "key-" + strconv.Itoa(i), Value: "0123456789abcdef"}
			}
			var ex paxos.Execution
			for i := range preload {
				e.ApplyTo(&ex, &cmds[i])
			}
			cmds = cmds[preload:]
			b.ResetTimer()
			cpu0 := proccpu.Time()
			for len(cmds) > 0 {
				if prefetch {
					e.Prefetch(cmds[:batch])
				}
				for i := range batch {
					e.ApplyTo(&ex, &cmds[i])
				}
				cmds = cmds[batch:]
			}
			b.ReportMetric(float64((proccpu.Time()-cpu0).Nanoseconds())/float64(n), "cpu-ns/cmd")
		})
	}
}
