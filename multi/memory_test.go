package multi_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/paxos-lab/paxos/internal/memtest"
	"github.com/paxos-lab/paxos/multi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memCluster steps 5 Multi-Paxos replicas in memory, delivering messages
// FIFO at once; replica 0 leads.
type memCluster struct {
	reps  []*multi.Replica
	queue []paxos.Message
}

func newMemCluster(tb testing.TB, snapEvery int) *memCluster {
	c := &memCluster{}
	for i := 0; i < 5; i++ {
		r, err := multi.New(paxos.Config{ID: paxos.NodeID(i), N: 5, InitialLeader: 0, Batch: 64, SnapshotEvery: snapEvery})
		require.NoError(tb, err)
		c.reps = append(c.reps, r.(*multi.Replica))
	}
	for i := range c.reps {
		c.queue = append(c.queue, c.reps[i].Ready().Messages...)
	}
	c.run()
	return c
}

func (c *memCluster) run() {
	for len(c.queue) > 0 {
		m := c.queue[0]
		c.queue = c.queue[1:]
		_ = c.reps[m.To].Step(m)
		c.queue = append(c.queue, c.reps[m.To].Ready().Messages...)
	}
}

// push proposes writes from..from+n-1 at the leader, 64 per round, keys
// from key, ticking every replica every 1,000 commands.
func (c *memCluster) push(from, n int, key func(i int) string) {
	for i := from; i < from+n; i++ {
		c.reps[0].Propose(paxos.Command{Client: 1, Seq: uint64(i + 1), Op: paxos.OpPut, Key: key(i), Value: "0123456789abcdef"})
		if i%64 == 63 {
			c.queue = append(c.queue, c.reps[0].Ready().Messages...)
			c.run()
		}
		if i%1000 == 999 {
			for _, r := range c.reps {
				r.Tick()
				c.queue = append(c.queue, r.Ready().Messages...)
			}
			c.run()
		}
	}
	c.queue = append(c.queue, c.reps[0].Ready().Messages...)
	c.run()
}

// BenchmarkHeapDistinctKeys pushes 1,000,000 16-byte writes on distinct
// keys through 5 replicas (default snapshots) and reports the live Go heap
// per replica in MB. Run with -benchtime=1x.
func BenchmarkHeapDistinctKeys(b *testing.B) {
	for i := 0; i < b.N; i++ {
		base := memtest.HeapMB()
		c := newMemCluster(b, 0)
		c.push(0, 1_000_000, func(i int) string { return fmt.Sprintf("key-%07d", i) })
		b.ReportMetric((memtest.HeapMB()-base)/5, "heap-MB/replica")
		runtime.KeepAlive(c)
	}
}

// TestHeapFlatWithKeyReuse: with writes over 2,000 keys, the heap after
// 400,000 commands is within 10% of the heap after 100,000 (snapshots
// every 100 slots of 64 commands; the retained log, 100 executed slots
// and what is in flight, is a constant).
func TestHeapFlatWithKeyReuse(t *testing.T) {
	longtest.Skip(t, "a long run")
	if raceEnabled {
		t.Skip("pushes 400,000 commands; heap sizes under the race detector mean little")
	}
	c := newMemCluster(t, 100)
	key := func(i int) string { return fmt.Sprintf("key-%04d", i%2_000) }
	c.push(0, 100_000, key)
	early := memtest.HeapMB()
	c.push(100_000, 300_000, key)
	late := memtest.HeapMB()
	t.Logf("heap: %.1f MB after 100k commands, %.1f MB after 400k", early, late)
	assert.InDelta(t, early, late, 0.1*early+1, "heap must stay flat with key reuse")
	require.Equal(t, c.reps[0].Executed(), c.reps[1].Executed(), "the followers keep up")
	runtime.KeepAlive(c)
}

// With every command on a new key, snapshots go on being taken (each once
// as many commands executed as the store held keys at the previous one),
// so the log stays bounded by the store: before, the first snapshot was
// the last (the commands since it never reached the store's current size)
// and the log kept every command.
func TestSnapshotsContinueWithDistinctKeys(t *testing.T) {
	c := newMemCluster(t, 10)
	key := func(i int) string { return fmt.Sprintf("key-%06d", i) }
	c.push(0, 20_000, key)
	mid := c.reps[0].SnapshotIndex()
	c.push(20_000, 60_000, key)
	for i, r := range c.reps {
		assert.Greater(t, r.SnapshotIndex(), mid, "replica %d snapshotted again", i)
		// The log holds SnapshotEvery executed slots, for catch-up, and
		// nothing is in flight (see TestLogKeepsATailBetweenSnapshots).
		assert.LessOrEqual(t, r.LogLen(), 10, "replica %d's log", i)
	}
}
