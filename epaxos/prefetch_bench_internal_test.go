package epaxos

import (
	"strconv"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/proccpu"
)

// BenchmarkIndexBatchLargeIndex: the per-command cost of looking up and
// adding batches of 64 puts of new keys in an index already holding four
// million keys (what attrs and indexAddFound do for a batch; the tables
// far larger than the caches, as a live replica's become with distinct
// keys), with and without factsIndex.prefetch before each batch.
func BenchmarkIndexBatchLargeIndex(b *testing.B) {
	for _, prefetch := range []bool{false, true} {
		b.Run("prefetch="+strconv.FormatBool(prefetch), func(b *testing.B) {
			x := newFactsIndex()
			const preload, batch = 4 << 20, 64
			n := (b.N + batch - 1) / batch * batch
			cmds := make([]paxos.Command, preload+n)
			for i := range cmds {
				cmds[i] = paxos.Command{Client: 1, Seq: uint64(i + 1), Op: paxos.OpPut, Key: "key-" + strconv.Itoa(i)}
			}
			add := func(c *paxos.Command) {
				if f, ok, h := x.find(c.Key); !ok {
					x.put(c.Key, h, f|1, true)
				}
			}
			for i := range preload {
				add(&cmds[i])
			}
			cmds = cmds[preload:]
			var sink uint64
			b.ResetTimer()
			cpu0 := proccpu.Time()
			for len(cmds) > 0 {
				if prefetch {
					s, _ := x.prefetch(cmds[:batch], nil)
					sink += s
				}
				for i := range batch {
					add(&cmds[i]) // hashing again: the cost of prefetching here is an upper bound
				}
				cmds = cmds[batch:]
			}
			b.ReportMetric(float64((proccpu.Time()-cpu0).Nanoseconds())/float64(n), "cpu-ns/cmd")
			_ = sink
		})
	}
}
