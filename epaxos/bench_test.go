package epaxos_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/epaxos"
	"github.com/paxos-lab/paxos/internal/proccpu"
	"github.com/paxos-lab/paxos/sim"

	_ "github.com/paxos-lab/paxos/protocols" // multi, for the throughput comparison
)

// memCluster steps n replicas in memory, delivering messages FIFO at once.
type memCluster struct {
	reps  []*epaxos.Replica
	queue []paxos.Message
	done  int
	snaps int // snapshots taken, all replicas together
}

func newMemCluster(b *testing.B, n int) *memCluster { return newMemClusterEvery(b, n, -1) }

// newMemClusterEvery is newMemCluster with Config.SnapshotEvery = every.
func newMemClusterEvery(b testing.TB, n, every int) *memCluster {
	c := &memCluster{}
	for i := 0; i < n; i++ {
		r, err := epaxos.NewReplica(paxos.Config{ID: paxos.NodeID(i), N: n, SnapshotEvery: every})
		if err != nil {
			b.Fatal(err)
		}
		c.reps = append(c.reps, r)
	}
	return c
}

func (c *memCluster) drain(i int) {
	rd := c.reps[i].Ready()
	c.queue = append(c.queue, rd.Messages...)
	c.done += len(rd.Committed)
	if rd.Snapshot != nil {
		c.snaps++
	}
}

func (c *memCluster) run() {
	for len(c.queue) > 0 {
		m := c.queue[0]
		c.queue = c.queue[1:]
		_ = c.reps[m.To].Step(m)
		c.drain(int(m.To))
	}
}

// benchCommands measures the CPU cost per command of the whole 5-replica
// cluster (the command leaders and their acceptors), proposing rounds of one
// command at every replica. conflict is the share of commands writing one
// shared key; the others write a key of their own.
func benchCommands(b *testing.B, conflict float64) {
	c := newMemCluster(b, 5)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		leader := i % 5
		key := fmt.Sprintf("k%d", i)
		if rng.Float64() < conflict {
			key = "hot"
		}
		c.reps[leader].Propose(paxos.Command{Client: uint64(leader + 1), Seq: uint64(i/5 + 1), Op: paxos.OpPut, Key: key, Value: "v"})
		c.drain(leader)
		if leader == 4 {
			c.run()
		}
		if i%1000 == 999 {
			for j := range c.reps {
				c.reps[j].Tick() // lets watermarks flow so GC keeps memory flat
				c.drain(j)
			}
			c.run()
		}
	}
	c.run()
	b.StopTimer()
	var fast, slow uint64
	for _, r := range c.reps {
		s := r.Stats()
		fast += s.FastPath
		slow += s.SlowPath
	}
	b.ReportMetric(float64(slow)/float64(max(1, fast+slow)), "slow-share")
}

// BenchmarkCommand0 is the per-command CPU cost at 0% conflicts (fast path).
func BenchmarkCommand0(b *testing.B) { benchCommands(b, 0) }

// BenchmarkCommand100 is the per-command CPU cost at 100% conflicts (five
// concurrent commands on one key: mostly the slow path, with dependency
// cycles to execute).
func BenchmarkCommand100(b *testing.B) { benchCommands(b, 1) }

// BenchmarkLiveInstances runs 1,000,000 commands through 5 simulated LAN
// replicas and reports the peak number of live instances per replica.
func BenchmarkLiveInstances(b *testing.B) {
	for i := 0; i < b.N; i++ {
		peak := longRun(b, 1_000_000, 0.02)
		b.ReportMetric(float64(peak), "peak-live")
	}
}

// throughput runs closed-loop clients against protocol at N=5 on a LAN with
// a CPU cost per message and returns completed operations per second.
func throughput(b *testing.B, protocol string, conflict float64) float64 {
	s, err := sim.New(sim.Config{Protocol: protocol, N: 5, Seed: 4, CPU: 20 * time.Microsecond,
		Replica: paxos.Config{InitialLeader: 0, SnapshotEvery: -1}})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		n := 0
		wl := sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
			n++
			key := fmt.Sprintf("c%d-%d", i, n)
			if rng.Float64() < conflict {
				key = "hot"
			}
			return paxos.Command{Op: paxos.OpPut, Key: key, Value: "v"}
		})
		if _, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(i % 5), Workload: wl}); err != nil {
			b.Fatal(err)
		}
	}
	s.Run(500 * time.Millisecond)
	start := s.Completed()
	s.Run(2500 * time.Millisecond)
	return float64(s.Completed()-start) / 2
}

// BenchmarkThroughputVsMulti compares simulated throughput at N=5 with a
// 20 µs CPU cost per message: EPaxos at 0% conflicts spreads the load over
// all replicas, Multi-Paxos funnels it through its leader.
func BenchmarkThroughputVsMulti(b *testing.B) {
	for i := 0; i < b.N; i++ {
		e0 := throughput(b, "epaxos", 0)
		e100 := throughput(b, "epaxos", 1)
		m := throughput(b, "multi", 0)
		b.ReportMetric(e0, "epaxos0-ops/s")
		b.ReportMetric(e100, "epaxos100-ops/s")
		b.ReportMetric(m, "multi-ops/s")
	}
}

// BenchmarkReplicaBatch64 is the per-command CPU cost of the protocol at
// N = 3 with batches of 64, summed over the three replicas: every replica
// leads a batch of 64 puts on new keys in turn, and the messages are
// delivered until the cluster is quiet (PreAccept, its replies, the fast
// path's Commit, execution everywhere). With codec set every message also
// goes through the wire codec (paxos.AppendMessage, paxos.DecodeMessage),
// as between live replicas. It is the live setting of the side-by-side
// comparison (docs/hot-path.md) without the runtime around the
// replicas.
func BenchmarkReplicaBatch64(b *testing.B) {
	b.Run("protocol", func(b *testing.B) { benchReplicaBatch(b, 3, false) })
	b.Run("codec", func(b *testing.B) { benchReplicaBatch(b, 3, true) })
}

// BenchmarkReplicaBatch64N5 is BenchmarkReplicaBatch64 with five replicas:
// every PreAccept goes to the four others, and the command leader commits
// on the fast path after two unchanged replies.
func BenchmarkReplicaBatch64N5(b *testing.B) {
	b.Run("protocol", func(b *testing.B) { benchReplicaBatch(b, 5, false) })
	b.Run("codec", func(b *testing.B) { benchReplicaBatch(b, 5, true) })
}

func benchReplicaBatch(b *testing.B, n int, codec bool) {
	const batch = 64
	c := &memCluster{}
	for i := 0; i < n; i++ {
		r, err := epaxos.NewReplica(paxos.Config{ID: paxos.NodeID(i), N: n, Batch: batch, SnapshotEvery: -1})
		if err != nil {
			b.Fatal(err)
		}
		c.reps = append(c.reps, r)
	}
	var buf []byte
	var msgs, wire int // messages delivered, and their encoded bytes (codec)
	// drain is memCluster.drain handing the Ready's lists back, as node.Node
	// does once it has carried a Ready out.
	drain := func(i int) {
		rd := c.reps[i].Ready()
		c.queue = append(c.queue, rd.Messages...)
		c.done += len(rd.Committed)
		c.reps[i].RecycleReady(&rd)
	}
	deliver := func() {
		for len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			msgs++
			if codec {
				var err error
				if buf, err = paxos.AppendMessage(buf[:0], m); err != nil {
					b.Fatal(err)
				}
				wire += len(buf)
				if m, err = paxos.DecodeMessage(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := c.reps[m.To].Step(m); err != nil {
				b.Fatal(err)
			}
			drain(int(m.To))
		}
	}
	key := []byte("key-")
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := int64(proccpu.Time())
	for i := 0; i < b.N; i++ {
		leader := i / batch % n
		key = strconv.AppendInt(key[:4], int64(i), 10)
		// 1024 clients, each with its commands in order, as in the live runs.
		c.reps[leader].Propose(paxos.Command{Client: uint64(i%1024 + 1), Seq: uint64(i/1024 + 1), Op: paxos.OpPut, Key: string(key), Value: "0123456789abcdef"})
		if i%batch == batch-1 {
			drain(leader)
			deliver()
		}
		if i%(100*batch) == 100*batch-1 {
			for j := range c.reps {
				c.reps[j].Tick() // watermarks flow, so instances are collected
				drain(j)
			}
			deliver()
		}
	}
	b.StopTimer()
	// The process's CPU time, the collector's included, varies less than
	// elapsed time on a shared machine.
	b.ReportMetric(float64(int64(proccpu.Time())-cpu0)/float64(b.N), "cpu-ns/cmd")
	b.ReportMetric(float64(msgs)/float64(b.N), "msgs/cmd")
	if codec {
		b.ReportMetric(float64(wire)/float64(b.N), "wire-B/cmd")
	}
	if c.done < b.N-batch {
		b.Fatalf("%d of %d commands committed", c.done, b.N)
	}
}
