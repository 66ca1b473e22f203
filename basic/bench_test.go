package basic

import (
	"fmt"
	"testing"
)

// BenchmarkPropose steps an in-memory cluster (no network, no persistence)
// through whole commands: Propose at replica 0, then deliver every message
// until the cluster is quiet. It reports ns per command.
func BenchmarkPropose(b *testing.B) {
	for _, n := range []int{3, 5} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			c := newCluster(b, n)
			c.NoRecord = true
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Propose(0, put(1, uint64(i+1), "k", "v"))
				c.Deliver(nil)
				if i%1024 == 0 {
					for j := range c.Persisted {
						c.Persisted[j].Records = c.Persisted[j].Records[:0] // persistence is not measured
					}
				}
			}
			b.StopTimer()
			if got := c.rep(n - 1).executed; got != uint64(b.N) {
				b.Fatalf("replica %d executed %d of %d commands", n-1, got, b.N)
			}
		})
	}
}
