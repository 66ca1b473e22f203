package epaxos_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/paxos-lab/paxos/internal/memtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runCommands pushes n writes through a 5-replica memCluster (one command
// per replica per round, watermarks every 1000 commands so garbage
// collection runs), the key of command i being key(i).
func runCommands(tb testing.TB, c *memCluster, from, n int, key func(i int) string) {
	for i := from; i < from+n; i++ {
		leader := i % 5
		c.reps[leader].Propose(paxos.Command{Client: uint64(leader + 1), Seq: uint64(i/5 + 1), Op: paxos.OpPut, Key: key(i), Value: "0123456789abcdef"})
		c.drain(leader)
		if leader == 4 {
			c.run()
		}
		if i%1000 == 999 {
			for j := range c.reps {
				c.reps[j].Tick()
				c.drain(j)
			}
			c.run()
		}
	}
	c.run()
}

// BenchmarkHeapDistinctKeys pushes 16-byte writes on distinct keys through
// 5 EPaxos replicas stepped in memory and reports the live Go heap per
// replica in MB: the store's data plus what the protocol keeps. Without
// snapshots over 1,000,000 commands; with the default snapshots (every
// 10,000 executed instances) over 200,000. Run with -benchtime=1x.
func BenchmarkHeapDistinctKeys(b *testing.B) {
	for _, tc := range []struct {
		name     string
		every, n int
	}{{"snapshots=off/1M", -1, 1_000_000}, {"snapshots=10000/200k", 0, 200_000}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				base := memtest.HeapMB()
				c := newMemClusterEvery(b, 5, tc.every)
				runCommands(b, c, 0, tc.n, func(i int) string { return fmt.Sprintf("key-%07d", i) })
				b.ReportMetric((memtest.HeapMB()-base)/5, "heap-MB/replica")
				runtime.KeepAlive(c)
			}
		})
	}
}

// BenchmarkHeapKeyReuse reports the heap per replica after 200,000 and
// after 1,000,000 writes over 10,000 keys: flat when the protocol keeps
// nothing per command.
func BenchmarkHeapKeyReuse(b *testing.B) {
	for i := 0; i < b.N; i++ {
		c := newMemClusterEvery(b, 5, 0)
		key := func(i int) string { return fmt.Sprintf("key-%05d", i%10_000) }
		runCommands(b, c, 0, 200_000, key)
		b.ReportMetric(memtest.HeapMB()/5, "heap-MB/replica@200k")
		runCommands(b, c, 200_000, 800_000, key)
		b.ReportMetric(memtest.HeapMB()/5, "heap-MB/replica@1M")
		runtime.KeepAlive(c)
	}
}

// TestHeapFlatWithKeyReuse checks that the heap does not grow with the
// number of commands when they reuse keys (within 10% between 40,000 and
// 160,000 writes over 1,000 keys, default snapshots).
func TestHeapFlatWithKeyReuse(t *testing.T) {
	longtest.Skip(t, "a long run")
	if raceEnabled {
		t.Skip("pushes 160,000 commands; heap sizes under the race detector mean little")
	}
	c := newMemClusterEvery(t, 5, 0)
	key := func(i int) string { return fmt.Sprintf("key-%04d", i%1_000) }
	runCommands(t, c, 0, 40_000, key)
	early := memtest.HeapMB()
	runCommands(t, c, 40_000, 120_000, key)
	late := memtest.HeapMB()
	t.Logf("heap: %.1f MB after 40k commands, %.1f MB after 160k", early, late)
	assert.InDelta(t, early, late, 0.1*early+1, "heap must stay flat with key reuse")
	runtime.KeepAlive(c)
}

// With every command on a new key, snapshots go on being taken, each once
// as many commands executed as the index held keys at the previous one:
// before, the commands since the first snapshot never reached the index's
// current size, so the first snapshot was the last and the WAL grew with
// every command.
func TestSnapshotsContinueWithDistinctKeys(t *testing.T) {
	c := newMemClusterEvery(t, 5, 50)
	key := func(i int) string { return fmt.Sprintf("key-%06d", i) }
	runCommands(t, c, 0, 2_000, key)
	early := c.snaps
	require.Positive(t, early)
	runCommands(t, c, 2_000, 14_000, key)
	assert.GreaterOrEqual(t, c.snaps, early+2*5, "every replica snapshotted at least twice more")
}

// With every command on a new key, the per-key index keeps only the keys
// of instances not yet executed everywhere (and those of the last pruning
// epochs): it is pruned as watermarks go round (gc.go), at every replica.
func TestIndexPrunedWithDistinctKeys(t *testing.T) {
	c := newMemClusterEvery(t, 5, 0)
	key := func(i int) string { return fmt.Sprintf("key-%06d", i) }
	runCommands(t, c, 0, 60_000, key)
	for i, r := range c.reps {
		s := r.Stats()
		t.Logf("replica %d: %d keys in the index, %d pruned", i, s.IndexKeys, s.Pruned)
		assert.Positive(t, s.Pruned, "replica %d pruned nothing", i)
		assert.Less(t, s.IndexKeys, 5_000, "replica %d keeps too many keys", i)
	}
}
