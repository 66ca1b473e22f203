package protocols_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/paxos-lab/paxos/internal/memtest"
)

// stepCluster steps N replicas of a protocol in memory, delivering every
// message at once, in order, with no loss.
type stepCluster struct {
	reps     []paxos.Replica
	queue    []paxos.Message
	executed []int // commands each replica executed
}

func newStepCluster(t *testing.T, proto string, n int) *stepCluster {
	info, err := paxos.LookupProtocol(proto)
	require.NoError(t, err)
	c := &stepCluster{executed: make([]int, n)}
	for i := 0; i < n; i++ {
		r, err := info.New(paxos.Config{ID: paxos.NodeID(i), N: n, InitialLeader: 0, Batch: 64, SnapshotEvery: 100})
		require.NoError(t, err)
		c.reps = append(c.reps, r)
	}
	c.tick()
	return c
}

func (c *stepCluster) drain(i int) {
	rd := c.reps[i].Ready()
	c.queue = append(c.queue, rd.Messages...)
	c.executed[i] += len(rd.Executed)
}

func (c *stepCluster) run() {
	for len(c.queue) > 0 {
		m := c.queue[0]
		c.queue = c.queue[1:]
		_ = c.reps[m.To].Step(m)
		c.drain(int(m.To))
	}
	c.queue = nil
}

func (c *stepCluster) tick() {
	for i, r := range c.reps {
		r.Tick()
		c.drain(i)
	}
	c.run()
}

// push proposes writes from..from+n-1 at replica 0, keys from key, 64 per
// round, ticking every replica every 1,000 commands.
func (c *stepCluster) push(from, n int, key func(i int) string) {
	for i := from; i < from+n; i++ {
		c.reps[0].Propose(paxos.Command{Client: 1, Seq: uint64(i + 1), Op: paxos.OpPut, Key: key(i), Value: "0123456789abcdef"})
		if i%64 == 63 {
			c.drain(0)
			c.run()
		}
		if i%1000 == 999 {
			c.tick()
		}
	}
	c.drain(0)
	c.run()
}

// With keys reused, the heap of every protocol that snapshots stays flat:
// within 10% between 100,000 and 400,000 writes over 20,000 keys (3
// replicas, batch 64, snapshots every 100 slots).
func TestHeapFlatWithKeyReuseAllProtocols(t *testing.T) {
	longtest.Skip(t, "a long run")
	if raceEnabled {
		t.Skip("heap sizes under the race detector mean little")
	}
	for _, proto := range []string{"basic", "multi", "flexible", "epaxos", "raft", "fastpaxos"} {
		t.Run(proto, func(t *testing.T) {
			c := newStepCluster(t, proto, 3)
			key := func(i int) string { return fmt.Sprintf("key-%05d", i%20_000) }
			c.push(0, 100_000, key)
			early := memtest.HeapMB()
			c.push(100_000, 300_000, key)
			late := memtest.HeapMB()
			t.Logf("%s heap: %.1f MB after 100k commands, %.1f MB after 400k", proto, early, late)
			assert.InDelta(t, early, late, 0.1*early+1, "heap must stay flat with key reuse")
			for i, n := range c.executed {
				assert.GreaterOrEqual(t, n, 390_000, "replica %d executed the writes", i)
			}
			runtime.KeepAlive(c)
		})
	}
}
