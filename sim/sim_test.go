package sim_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

const ms = time.Millisecond

func cmd(client, seq uint64) paxos.Command {
	return paxos.Command{Client: client, Seq: seq, Op: paxos.OpPut, Key: "k", Value: fmt.Sprintf("v%d.%d", client, seq)}
}

// putWorkload writes unique values to a few keys, reading now and then.
var putWorkload = sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
	key := fmt.Sprintf("k%d", rng.IntN(3))
	if rng.IntN(4) == 0 {
		return paxos.Command{Op: paxos.OpGet, Key: key}
	}
	return paxos.Command{Op: paxos.OpPut, Key: key, Value: fmt.Sprintf("v%d", rng.Uint32())}
})

func newSim(t testing.TB, cfg sim.Config) *sim.Sim {
	t.Helper()
	s, err := sim.New(cfg)
	require.NoError(t, err)
	return s
}

// execs returns, for replica r, the executions it reported as "seq@time".
func execs(s *sim.Sim, r paxos.NodeID) []string {
	var out []string
	for _, e := range s.Executions() {
		if e.Replica == r {
			out = append(out, fmt.Sprintf("%d@%v", e.Command.Seq, e.At))
		}
	}
	return out
}

func TestConfigErrors(t *testing.T) {
	ok := sim.Config{New: newEcho, N: 3}
	cases := map[string]func(c *sim.Config){
		"zero replicas":     func(c *sim.Config) { c.N = 0 },
		"too many replicas": func(c *sim.Config) { c.N = 65 },
		"no protocol":       func(c *sim.Config) { c.New = nil },
		"unknown protocol":  func(c *sim.Config) { c.New = nil; c.Protocol = "no-such-protocol" },
		"rtt rows":          func(c *sim.Config) { c.RTT = sim.Uniform(2, 1) },
		"rtt columns":       func(c *sim.Config) { c.RTT = [][]float64{{0, 1, 1}, {1, 0}, {1, 1, 0}} },
		"negative rtt":      func(c *sim.Config) { c.RTT = sim.Uniform(3, -1) },
		"nan rtt":           func(c *sim.Config) { c.RTT = sim.Uniform(3, math.NaN()) },
		"negative jitter":   func(c *sim.Config) { c.Jitter = -1 },
		"negative cpu":      func(c *sim.Config) { c.CPU = -1 },
		"negative tick":     func(c *sim.Config) { c.Tick = -1 },
		"replica refuses":   func(c *sim.Config) { c.Replica.ElectionTicks = -3 },
		"constructor errors": func(c *sim.Config) {
			c.New = func(paxos.Config) (paxos.Replica, error) { return nil, errors.New("nope") }
		},
		"constructor nil": func(c *sim.Config) { c.New = func(paxos.Config) (paxos.Replica, error) { return nil, nil } },
		"wrong id": func(c *sim.Config) {
			c.New = func(cfg paxos.Config) (paxos.Replica, error) { cfg.ID = 0; return newEcho(cfg) }
		},
	}
	_, err := sim.New(ok)
	require.NoError(t, err)
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			mutate(&cfg)
			s, err := sim.New(cfg)
			require.Error(t, err)
			assert.Nil(t, s)
			if name != "constructor errors" {
				assert.ErrorIs(t, err, paxos.ErrConfig)
			}
		})
	}
}

func TestUniform(t *testing.T) {
	m := sim.Uniform(3, 7.5)
	require.Equal(t, [][]float64{{0, 7.5, 7.5}, {7.5, 0, 7.5}, {7.5, 7.5, 0}}, m)
	assert.Empty(t, sim.Uniform(0, 1))
}

func TestReplicaConfigFilledIn(t *testing.T) {
	var got []paxos.Config
	rtt := [][]float64{{0, 10, 40}, {10, 0, 30}, {40, 30, 0}}
	s := newSim(t, sim.Config{N: 3, RTT: rtt, Seed: 9, Replica: paxos.Config{ElectionTicks: 7},
		New: func(cfg paxos.Config) (paxos.Replica, error) { got = append(got, cfg); return newEcho(cfg) }})
	require.Len(t, got, 3)
	for i, c := range got {
		assert.Equal(t, paxos.NodeID(i), c.ID)
		assert.Equal(t, 3, c.N)
		assert.Equal(t, 7, c.ElectionTicks)
		assert.Equal(t, sim.ReplicaSeed(9, c.ID, 0), c.Seed)
		assert.Equal(t, rtt[i], c.Distances)
		assert.Nil(t, c.Restore)
	}
	assert.NotEqual(t, got[0].Seed, got[1].Seed)
	require.NoError(t, s.Crash(1))
	require.NoError(t, s.Restart(1))
	require.Len(t, got, 4)
	assert.Equal(t, sim.ReplicaSeed(9, 1, 1), got[3].Seed)
	assert.NotEqual(t, got[1].Seed, got[3].Seed, "a new incarnation draws new random numbers")
	require.NotNil(t, got[3].Restore)
}

// run is a randomized scenario with every feature on: jitter, CPU, faults,
// crashes, partitions, closed- and open-loop clients.
func run(t *testing.T, seed uint64) (trace string, hist []sim.Operation, execs []sim.Execution) {
	t.Helper()
	var buf bytes.Buffer
	rtt := [][]float64{{0, 10, 20, 30, 40}, {10, 0, 15, 25, 35}, {20, 15, 0, 12, 22}, {30, 25, 12, 0, 8}, {40, 35, 22, 8, 0}}
	s := newSim(t, sim.Config{New: newToy(7), N: 5, RTT: rtt, Jitter: 2 * ms, CPU: 50 * time.Microsecond,
		Seed: seed, Record: true, Trace: &buf})
	require.NoError(t, s.SetFaults(sim.Faults{Drop: 0.02, Duplicate: 0.05, Reorder: 0.1}))
	for site := 0; site < 5; site++ {
		_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: putWorkload, Ops: 20, RetryTimeout: 300 * ms})
		require.NoError(t, err)
	}
	_, err := s.AddClient(sim.ClientConfig{Site: 3, Workload: putWorkload, Ops: 50, Rate: 100})
	require.NoError(t, err)
	s.At(200*ms, func() { require.NoError(t, s.Crash(2)) })
	s.At(400*ms, func() { require.NoError(t, s.Restart(2)) })
	s.At(500*ms, func() { require.NoError(t, s.Partition([]paxos.NodeID{0, 1, 2}, []paxos.NodeID{3, 4})) })
	s.At(700*ms, func() { require.NoError(t, s.Cut(4, 0)) })
	s.At(900*ms, s.Heal)
	s.Run(3 * time.Second)
	require.NoError(t, s.TraceErr())
	return buf.String(), s.History(), s.Executions()
}

func TestSameSeedSameTraceAndHistory(t *testing.T) {
	tr1, h1, e1 := run(t, 42)
	tr2, h2, e2 := run(t, 42)
	require.Greater(t, len(tr1), 10000, "the trace should record the run")
	require.True(t, tr1 == tr2, "same seed, different traces")
	require.Equal(t, h1, h2)
	require.Equal(t, e1, e2)
	done := 0
	for _, op := range h1 {
		if op.Done {
			done++
		}
	}
	assert.Greater(t, done, 50, "most operations complete")

	tr3, h3, _ := run(t, 43)
	assert.NotEqual(t, tr1, tr3, "a different seed should give a different run")
	assert.NotEqual(t, h1, h3)
}

func TestDelaysFollowTheMatrix(t *testing.T) {
	rtt := [][]float64{{0, 10, 40}, {10, 0, 30}, {40, 30, 0}}
	s := newSim(t, sim.Config{New: newEcho, N: 3, RTT: rtt, Record: true})
	require.NoError(t, s.Propose(0, cmd(1, 1)))
	s.Run(time.Second)
	assert.Equal(t, []string{"1@0s"}, execs(s, 0), "a message to oneself takes no time")
	assert.Equal(t, []string{"1@5ms"}, execs(s, 1))
	assert.Equal(t, []string{"1@20ms"}, execs(s, 2))
	assert.Equal(t, time.Second, s.Now())
}

// SetDelay changes one link's delay, one way, for messages sent from then
// on; a bad link or delay is refused.
func TestSetDelayChangesOneLink(t *testing.T) {
	rtt := [][]float64{{0, 10, 40}, {10, 0, 30}, {40, 30, 0}}
	s := newSim(t, sim.Config{New: newEcho, N: 3, RTT: rtt, Record: true})
	require.NoError(t, s.SetDelay(0, 2, 2*ms))
	assert.Equal(t, 2*ms, s.Delay(0, 2))
	assert.Equal(t, 20*ms, s.Delay(2, 0), "the other way keeps its delay")
	require.NoError(t, s.Propose(0, cmd(1, 1)))
	s.Run(time.Second)
	assert.Equal(t, []string{"1@5ms"}, execs(s, 1))
	assert.Equal(t, []string{"1@2ms"}, execs(s, 2))

	assert.ErrorIs(t, s.SetDelay(0, 0, ms), sim.ErrReplica)
	assert.ErrorIs(t, s.SetDelay(0, 1, 0), sim.ErrReplica)
	assert.ErrorIs(t, s.SetDelay(0, 3, ms), sim.ErrReplica)
}

func TestJitterStaysInRange(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 2, RTT: sim.Uniform(2, 10), Jitter: 3 * ms, Record: true})
	for i := 1; i <= 200; i++ {
		s.At(time.Duration(i)*100*ms, func() { require.NoError(t, s.Propose(0, cmd(1, uint64(i)))) })
	}
	s.Run(time.Minute)
	var lo, hi time.Duration = time.Hour, 0
	n := 0
	for _, e := range s.Executions() {
		if e.Replica != 1 {
			continue
		}
		n++
		d := e.At - time.Duration(e.Command.Seq)*100*ms
		lo, hi = min(lo, d), max(hi, d)
	}
	require.Equal(t, 200, n)
	assert.GreaterOrEqual(t, lo, 5*ms)
	assert.Less(t, hi, 8*ms)
	assert.Greater(t, hi-lo, 2*ms, "jitter should spread delays over its range")
}

func TestCPUQueue(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 3, RTT: sim.Uniform(3, 10), CPU: ms, Record: true})
	require.NoError(t, s.Propose(0, cmd(1, 1)))
	require.NoError(t, s.Propose(1, cmd(2, 1)))
	s.Run(time.Second)
	// Each proposal costs 1 ms at its replica, so both pings leave at 1 ms
	// and reach replica 2 together at 6 ms; its single server finishes them
	// at 7 ms and 8 ms.
	got := execs(s, 2)
	require.Len(t, got, 2)
	assert.Equal(t, []string{"1@7ms", "1@8ms"}, got)
	// Replica 0 serves its own proposal (0..1 ms), its own ping (1..2 ms)
	// and replica 1's ping (arrives 6 ms, done 7 ms).
	assert.Equal(t, []string{"1@2ms", "1@7ms"}, execs(s, 0))
}

func TestCrashRestartKeepsOnlyDurableState(t *testing.T) {
	s := newSim(t, sim.Config{New: newToy(5), N: 3, RTT: sim.Uniform(3, 10), Record: true})
	for i := uint64(1); i <= 12; i++ {
		require.NoError(t, s.Propose(0, cmd(9, i)))
	}
	s.Run(500 * ms)
	r1 := s.Replica(1).(*toy)
	require.Len(t, r1.log, 12)
	require.Greater(t, r1.ticks, 40)
	before := s.Persisted(1)
	// 12 records with a snapshot every 5: the snapshot holds 10 and two
	// records follow it.
	require.NotNil(t, before.Snapshot)
	assert.Len(t, before.Snapshot.(toySnap).Log, 10)
	assert.Len(t, before.Records, 2)

	require.NoError(t, s.Crash(1))
	assert.Nil(t, s.Replica(1))
	assert.False(t, s.Alive(1))
	require.Error(t, s.Crash(1), "crashing a crashed replica is refused")
	require.Error(t, s.Propose(1, cmd(9, 99)))
	s.Run(time.Second)
	assert.Equal(t, before, s.Persisted(1), "durable storage survives the crash")

	require.NoError(t, s.Restart(1))
	require.Error(t, s.Restart(1), "restarting a running replica is refused")
	assert.Equal(t, 1, s.Incarnation(1))
	r1b := s.Replica(1).(*toy)
	assert.NotSame(t, r1, r1b)
	assert.Equal(t, 12, r1b.restored, "the new incarnation is rebuilt from snapshot and records")
	assert.Zero(t, r1b.ticks, "volatile state is gone")
	assert.Zero(t, r1b.executed)
	s.Run(1100 * ms)
	assert.InDelta(t, 10, r1b.ticks, 1, "the new incarnation ticks")
	old := r1.ticks
	s.Run(2 * time.Second)
	assert.Equal(t, old, r1.ticks, "a crashed incarnation's ticks stop")

	// Decisions carry the incarnation: the new one caught up through the
	// leader after the restart.
	per := map[int]int{}
	for _, d := range s.Decisions() {
		if d.Replica != 1 {
			continue
		}
		per[d.Incarnation]++
		if d.Incarnation == 0 {
			assert.Less(t, d.At, 500*ms)
		} else {
			assert.GreaterOrEqual(t, d.At, time.Second)
		}
	}
	assert.Equal(t, map[int]int{0: 12, 1: 12}, per)
}

func TestMessagesInFlightToACrashedReplicaAreLost(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 2, RTT: sim.Uniform(2, 10), Record: true})
	require.NoError(t, s.Propose(0, cmd(1, 1)))
	s.At(ms, func() { require.NoError(t, s.Crash(1)) })
	s.At(2*ms, func() { require.NoError(t, s.Restart(1)) })
	s.At(10*ms, func() { require.NoError(t, s.Propose(0, cmd(1, 2))) })
	s.Run(time.Second)
	assert.Equal(t, []string{"2@15ms"}, execs(s, 1), "the ping sent to the first incarnation is lost")
	assert.Equal(t, uint64(1), s.Dropped())
}

func TestPartitionCutHeal(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 3, RTT: sim.Uniform(3, 10), Record: true})
	at := func(t0 time.Duration, r paxos.NodeID, seq uint64) {
		s.At(t0, func() { require.NoError(t, s.Propose(r, cmd(uint64(r)+1, seq))) })
	}
	// Symmetric partition {0} | {1, 2}.
	s.At(0, func() { require.NoError(t, s.Partition([]paxos.NodeID{0})) })
	at(ms, 0, 1)
	at(ms, 1, 2)
	// Heal, then cut 0 -> 2 one way.
	s.At(100*ms, func() { s.Heal(); require.NoError(t, s.Cut(0, 2)) })
	at(101*ms, 0, 3)
	at(101*ms, 2, 4)
	s.At(200*ms, s.Heal)
	at(201*ms, 0, 5)
	s.Run(time.Second)

	seqs := func(r paxos.NodeID) []uint64 {
		var out []uint64
		for _, e := range s.Executions() {
			if e.Replica == r {
				out = append(out, e.Command.Seq)
			}
		}
		return out
	}
	assert.Equal(t, []uint64{1, 3, 4, 5}, seqs(0), "0 hears only itself while partitioned, 2 after the one-way cut")
	assert.Equal(t, []uint64{2, 3, 4, 5}, seqs(1))
	assert.Equal(t, []uint64{2, 4, 5}, seqs(2), "2 misses 0's ping across the partition and the cut")

	require.Error(t, s.Partition([]paxos.NodeID{0, 1}, []paxos.NodeID{1}))
	require.Error(t, s.Partition([]paxos.NodeID{5}))
	require.Error(t, s.Cut(0, 3))
}

func countAt(s *sim.Sim, r paxos.NodeID) int {
	n := 0
	for _, e := range s.Executions() {
		if e.Replica == r {
			n++
		}
	}
	return n
}

func pingMany(t *testing.T, s *sim.Sim, n int, gap time.Duration) {
	for i := 1; i <= n; i++ {
		s.At(time.Duration(i)*gap, func() { require.NoError(t, s.Propose(0, cmd(1, uint64(i)))) })
	}
}

func TestDropAndDuplicate(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 2, RTT: sim.Uniform(2, 10), Record: true, Seed: 3})
	require.NoError(t, s.SetFaults(sim.Faults{Drop: 0.5}))
	pingMany(t, s, 1000, ms)
	s.Run(2 * time.Second)
	got := countAt(s, 1)
	assert.InDelta(t, 500, got, 80, "about half the pings are dropped")
	assert.Equal(t, 1000, countAt(s, 0), "messages to oneself are never faulted")
	assert.Equal(t, uint64(1000-got), s.Dropped())

	s = newSim(t, sim.Config{New: newEcho, N: 2, RTT: sim.Uniform(2, 10), Record: true, Seed: 3})
	require.NoError(t, s.SetFaults(sim.Faults{Duplicate: 1}))
	pingMany(t, s, 100, ms)
	s.Run(2 * time.Second)
	assert.Equal(t, 200, countAt(s, 1), "every ping arrives twice")

	// Per-link faults: only 0 -> 1 drops everything.
	s = newSim(t, sim.Config{New: newEcho, N: 3, RTT: sim.Uniform(3, 10), Record: true})
	require.NoError(t, s.SetLinkFaults(0, 1, sim.Faults{Drop: 1}))
	pingMany(t, s, 10, ms)
	s.Run(time.Second)
	assert.Equal(t, 0, countAt(s, 1))
	assert.Equal(t, 10, countAt(s, 2))

	for _, bad := range []sim.Faults{{Drop: -0.1}, {Duplicate: 1.5}, {Reorder: math.NaN()}, {ReorderDelay: -1}} {
		assert.ErrorIs(t, s.SetFaults(bad), sim.ErrFaults)
	}
}

func TestReorder(t *testing.T) {
	order := func(f sim.Faults) (inversions int) {
		s := newSim(t, sim.Config{New: newEcho, N: 2, RTT: sim.Uniform(2, 10), Record: true, Seed: 5})
		require.NoError(t, s.SetFaults(f))
		pingMany(t, s, 200, 100*time.Microsecond)
		s.Run(time.Second)
		var last uint64
		n := 0
		for _, e := range s.Executions() {
			if e.Replica != 1 {
				continue
			}
			n++
			if e.Command.Seq < last {
				inversions++
			}
			last = e.Command.Seq
		}
		require.Equal(t, 200, n, "reordering loses nothing")
		return inversions
	}
	assert.Zero(t, order(sim.Faults{}), "without faults a link is FIFO")
	assert.Greater(t, order(sim.Faults{Reorder: 0.3}), 10, "reordered messages are overtaken")
	assert.Greater(t, order(sim.Faults{Reorder: 0.3, ReorderDelay: 50 * ms}), 10)
}

func TestTicksHavePhases(t *testing.T) {
	s := newSim(t, sim.Config{New: newEcho, N: 4, Tick: 10 * ms, Seed: 1})
	s.Run(time.Second)
	for i := 0; i < 4; i++ {
		assert.InDelta(t, 100, s.Replica(paxos.NodeID(i)).(*echo).ticks, 1)
	}
	// Phases differ: record the first tick time of every replica.
	var buf bytes.Buffer
	s = newSim(t, sim.Config{New: newEcho, N: 4, Tick: 10 * ms, Seed: 1, Trace: &buf})
	s.Run(10 * ms)
	assert.Equal(t, 4, bytes.Count(buf.Bytes(), []byte("tick")))
	assert.Len(t, uniqueLines(buf.String()), 4)
}

func uniqueLines(s string) map[string]bool {
	out := map[string]bool{}
	var t string
	for _, line := range bytes.Split([]byte(s), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		t = string(bytes.Fields(line)[0])
		out[t] = true
	}
	return out
}

func TestClosedLoopClient(t *testing.T) {
	s := newSim(t, sim.Config{New: newToy(0), N: 3, RTT: sim.Uniform(3, 10), Record: true})
	id1, err := s.AddClient(sim.ClientConfig{Site: 1, Workload: putWorkload, Ops: 5})
	require.NoError(t, err)
	id2, err := s.AddClient(sim.ClientConfig{Site: 0, Workload: putWorkload, Ops: 3})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), id1)
	assert.Equal(t, uint64(2), id2)
	s.Run(time.Second)
	h := s.History()
	require.Len(t, h, 8)
	assert.Equal(t, 8, s.Operations())
	assert.Equal(t, 8, s.Completed())
	var seq1, seq2 uint64
	for _, op := range h {
		require.True(t, op.Done)
		assert.Equal(t, 1, op.Attempts)
		assert.True(t, op.Committed)
		switch op.Client {
		case id1:
			seq1++
			assert.Equal(t, seq1, op.Seq)
			assert.Equal(t, paxos.NodeID(1), op.Site)
			// forward 5 ms + accept 5 + ack 5 + commit 5
			assert.Equal(t, 20*ms, op.Latency())
			assert.Equal(t, op.Return, op.Commit)
			assert.Equal(t, time.Duration(seq1-1)*20*ms, op.Call, "closed loop: the next op goes out when the last returns")
		case id2:
			seq2++
			assert.Equal(t, seq2, op.Seq)
			// at the leader: accept 5 + ack 5 + commit (to itself) 0
			assert.Equal(t, 10*ms, op.Latency())
		default:
			t.Fatalf("unknown client %d", op.Client)
		}
	}
	assert.Equal(t, uint64(5), seq1)
	assert.Equal(t, uint64(3), seq2)
	for i := 1; i < len(h); i++ {
		assert.LessOrEqual(t, h[i-1].Call, h[i].Call, "history is in call order")
	}

	_, err = s.AddClient(sim.ClientConfig{Site: 3, Workload: putWorkload})
	assert.ErrorIs(t, err, sim.ErrClient)
	_, err = s.AddClient(sim.ClientConfig{Site: 0})
	assert.ErrorIs(t, err, sim.ErrClient)
	_, err = s.AddClient(sim.ClientConfig{Site: 0, Workload: putWorkload, Rate: -1})
	assert.ErrorIs(t, err, sim.ErrClient)
	_, err = s.AddClient(sim.ClientConfig{Site: 0, Workload: putWorkload, Ops: -1})
	assert.ErrorIs(t, err, sim.ErrClient)
}

func TestClientRetriesAfterItsReplicaCrashes(t *testing.T) {
	s := newSim(t, sim.Config{New: newToy(0), N: 3, RTT: sim.Uniform(3, 10), Record: true})
	_, err := s.AddClient(sim.ClientConfig{Site: 2, Workload: putWorkload, Ops: 2, RetryTimeout: 100 * ms})
	require.NoError(t, err)
	// The command commits (the commit reaches replica 2 at 20 ms) but
	// replica 2 crashes at 12 ms, before it can answer.
	s.At(12*ms, func() { require.NoError(t, s.Crash(2)) })
	s.Run(time.Second)
	h := s.History()
	require.Len(t, h, 2)
	op := h[0]
	require.True(t, op.Done)
	assert.Equal(t, 2, op.Attempts)
	assert.Equal(t, paxos.NodeID(0), op.Replica, "the retry goes to the next replica")
	// retry at 100 ms reaches the leader at 105 ms; accept to replica 1 and
	// its ack take 10 ms, and the reply 5 ms more.
	assert.Equal(t, 120*ms, op.Return)
	// The retry executed as a duplicate at replica 0: the client still
	// gets its answer, and the command took effect once.
	var dups, firsts int
	for _, e := range s.Executions() {
		if e.Replica == 0 && e.Command.ID() == (paxos.CommandID{Client: op.Client, Seq: op.Seq}) {
			if e.Duplicate {
				dups++
			} else {
				firsts++
			}
		}
	}
	assert.Equal(t, 1, firsts)
	assert.Equal(t, 1, dups)
	// The second op is sent to the crashed site replica and retried too.
	assert.True(t, h[1].Done)
	assert.Equal(t, 2, h[1].Attempts)
	assert.Equal(t, 100*ms, h[1].Return-h[1].Call-20*ms)
}

func TestOpenLoopFollowsItsSchedule(t *testing.T) {
	calls := func(cpu time.Duration) ([]time.Duration, []sim.Operation) {
		s := newSim(t, sim.Config{New: newEcho, N: 2, RTT: sim.Uniform(2, 10), CPU: cpu, Seed: 11})
		_, err := s.AddClient(sim.ClientConfig{Site: 0, Workload: putWorkload, Ops: 2000, Rate: 1000, RetryTimeout: time.Hour})
		require.NoError(t, err)
		s.Run(time.Minute)
		h := s.History()
		out := make([]time.Duration, len(h))
		for i := range h {
			out[i] = h[i].Call
		}
		return out, h
	}
	fast, hf := calls(0)
	slow, hs := calls(2 * ms) // each op costs 2 ms of CPU twice: the replica is overloaded
	require.Len(t, fast, 2000)
	require.Equal(t, fast, slow, "the schedule does not depend on how fast the system answers")
	mean := float64(fast[len(fast)-1]) / float64(len(fast)) / float64(ms)
	assert.InDelta(t, 1.0, mean, 0.08, "mean inter-arrival is 1/Rate")
	for i := 1; i < len(fast); i++ {
		require.LessOrEqual(t, fast[i-1], fast[i])
	}
	// With echo the site answers itself at once; under overload latency
	// grows because the schedule kept sending.
	assert.Equal(t, time.Duration(0), hf[10].Latency())
	assert.Greater(t, hs[len(hs)-1].Latency(), time.Second)
}

func TestRunUntil(t *testing.T) {
	s := newSim(t, sim.Config{New: newToy(0), N: 3, RTT: sim.Uniform(3, 10)})
	_, err := s.AddClient(sim.ClientConfig{Site: 1, Workload: putWorkload, Ops: 3})
	require.NoError(t, err)
	done := func() bool {
		h := s.History()
		return len(h) == 3 && h[2].Done
	}
	require.True(t, s.RunUntil(done, time.Second))
	assert.Equal(t, 60*ms, s.Now(), "stops at the event that made cond true")
	assert.False(t, s.RunUntil(func() bool { return false }, 2*time.Second))
	assert.Equal(t, 2*time.Second, s.Now())
	assert.Greater(t, s.Events(), uint64(100))
	assert.Empty(t, s.Executions(), "nothing is recorded without Config.Record")
	assert.Empty(t, s.Decisions())
	ev := s.Events()
	require.True(t, s.Next())
	assert.Equal(t, ev+1, s.Events())

	fired := time.Duration(-1)
	want := s.Now() + 5*ms
	s.After(5*ms, func() { fired = s.Now() })
	s.At(0, nil) // ignored
	s.Run(3 * time.Second)
	assert.Equal(t, want, fired)
}
