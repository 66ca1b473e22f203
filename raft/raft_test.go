package raft_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/raft"
	"github.com/paxos-lab/paxos/rtt"
	"github.com/paxos-lab/paxos/sim"
)

const ms = time.Millisecond

func TestConfigRefused(t *testing.T) {
	for name, cfg := range map[string]paxos.Config{
		"rebuild alone":    {ID: 0, N: 1, Rebuild: true},
		"heartbeat":        {ID: 0, N: 3, HeartbeatTicks: 10, ElectionTicks: 10},
		"grid quorums":     {ID: 0, N: 4, Quorums: mustGrid(t)},
		"id out of range":  {ID: 3, N: 3},
		"negative leader":  {ID: 0, N: 3, InitialLeader: -2},
		"negative tunable": {ID: 0, N: 3, Batch: -1},
	} {
		_, err := raft.New(cfg)
		require.Error(t, err, name)
		assert.ErrorIs(t, err, paxos.ErrConfig, name)
	}
	m, err := quorum.NewMajority(3)
	require.NoError(t, err)
	_, err = raft.New(paxos.Config{ID: 1, N: 3, Quorums: m})
	require.NoError(t, err, "majorities are raft's own quorums")
}

func mustGrid(t *testing.T) quorum.System {
	g, err := quorum.NewGrid(2, 2)
	require.NoError(t, err)
	return g
}

func TestStepRefusesMalformed(t *testing.T) {
	r, err := raft.New(paxos.Config{ID: 1, N: 3})
	require.NoError(t, err)
	for _, m := range []paxos.Message{
		{From: 0, To: 2, Body: raft.Msg{}},
		{From: 1, To: 1, Body: raft.Msg{}},
		{From: 7, To: 1, Body: raft.Msg{}},
		{From: 0, To: 1, Body: "not raft"},
		{From: 0, To: 1, Body: raft.Msg{Data: []byte{0xff, 0xff, 0xff}}},
		{From: 0, To: 1, Body: raft.Msg{}}, // decodes to a message from raft id 0
	} {
		assert.ErrorIs(t, r.Step(m), raft.ErrMalformed, "%+v", m)
	}
	r.Tick()
	_ = r.Ready()
}

func runChecks(t *testing.T, opts check.Options, seeds int) {
	t.Helper()
	for seed := 1; seed <= seeds; seed++ {
		opts.Seed = uint64(seed)
		res, err := check.Run(opts)
		require.NoError(t, err)
		assert.True(t, res.OK(), "seed %d n=%d: %v (completed %d/%d)", seed, opts.Replicas, res.Failures, res.Completed, res.Ops)
	}
}

// The checker's randomized runs with every fault, with and without an
// initial leader, with ReadIndex reads (LeaseTicks) and frequent
// snapshots; wipes included (see rebuild_test.go).
func TestCheckRaft(t *testing.T) {
	seeds := 10
	if testing.Short() {
		seeds = 4
	}
	for _, n := range []int{3, 5} {
		for _, rc := range []paxos.Config{{InitialLeader: 0}, {InitialLeader: -1}, {InitialLeader: -1, LeaseTicks: 4, SnapshotEvery: 5}} {
			runChecks(t, check.Options{Protocol: "raft", Replicas: n, Faults: check.AllFaults, Replica: rc}, seeds)
		}
	}
}

// run drives a 5-replica raft cluster through a crash, a restart, a
// partition, jitter, drops and duplicates, and returns its trace, history
// and executions.
func run(t *testing.T, seed uint64) (string, []sim.Operation, []sim.Execution) {
	t.Helper()
	var buf bytes.Buffer
	m := [][]float64{{0, 10, 20, 30, 40}, {10, 0, 15, 25, 35}, {20, 15, 0, 12, 22}, {30, 25, 12, 0, 8}, {40, 35, 22, 8, 0}}
	s, err := sim.New(sim.Config{Protocol: "raft", N: 5, RTT: m, Jitter: 2 * ms, CPU: 20 * time.Microsecond,
		Replica: paxos.Config{InitialLeader: -1, SnapshotEvery: 20, LeaseTicks: 3}, Seed: seed, Record: true, Trace: &buf})
	require.NoError(t, err)
	require.NoError(t, s.SetFaults(sim.Faults{Drop: 0.02, Duplicate: 0.05, Reorder: 0.1}))
	k := 0
	for site := 0; site < 5; site++ {
		_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Ops: 30, RetryTimeout: 300 * ms,
			Workload: sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
				k++
				if rng.IntN(3) == 0 {
					return paxos.Command{Op: paxos.OpGet, Key: fmt.Sprint("k", rng.IntN(3))}
				}
				return paxos.Command{Op: paxos.OpPut, Key: fmt.Sprint("k", rng.IntN(3)), Value: fmt.Sprint(k)}
			})})
		require.NoError(t, err)
	}
	s.At(300*ms, func() { require.NoError(t, s.Crash(2)) })
	s.At(500*ms, func() { require.NoError(t, s.Restart(2)) })
	s.At(600*ms, func() { require.NoError(t, s.Partition([]paxos.NodeID{0, 1}, []paxos.NodeID{2, 3, 4})) })
	s.At(1200*ms, s.Heal)
	s.Run(5 * time.Second)
	require.NoError(t, s.TraceErr())
	return buf.String(), s.History(), s.Executions()
}

// Determinism: etcd's raft draws its election timeouts from a global
// crypto/rand source, which the wrapper never lets decide anything (only a
// leader's RawNode is ticked; elections follow the replica's seeded
// timer). Two runs of one seed give the same trace, byte for byte, and
// the same history; another seed gives another run.
func TestSameSeedSameTrace(t *testing.T) {
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
	assert.Equal(t, len(h1), done, "every operation completes")
	tr3, _, _ := run(t, 43)
	assert.NotEqual(t, tr1, tr3)

	// The checker's runs, every fault included, repeat too.
	opts := check.Options{Protocol: "raft", Replicas: 5, Faults: check.AllFaults, Seed: 7, Replica: paxos.Config{InitialLeader: -1}}
	a, err := check.Run(opts)
	require.NoError(t, err)
	b, err := check.Run(opts)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.Positive(t, a.Coverage["campaigns"])
}

// A crash of the leader: the others elect a new one and the restarted
// replica catches up from what it persisted and from the new leader.
func TestLeaderCrashRestart(t *testing.T) {
	s, err := sim.New(sim.Config{Protocol: "raft", N: 3, Replica: paxos.Config{InitialLeader: 0, SnapshotEvery: 4}, Seed: 5, Record: true})
	require.NoError(t, err)
	put := func(at paxos.NodeID, seq uint64) {
		require.NoError(t, s.Propose(at, paxos.Command{Client: 9, Seq: seq, Op: paxos.OpPut, Key: "x", Value: fmt.Sprint(seq)}))
	}
	put(1, 1)
	s.Run(200 * ms)
	require.True(t, rep(s, 0).IsLeader())
	require.NoError(t, s.Crash(0))
	for seq := uint64(2); seq <= 10; seq++ {
		put(1, seq)
	}
	s.Run(s.Now() + time.Second)
	l := rep(s, 1).Leader()
	require.True(t, l == 1 || l == 2, "a new leader among the survivors, got %d", l)
	require.NoError(t, s.Restart(0))
	put(2, 11)
	s.Run(s.Now() + time.Second)
	for id := paxos.NodeID(0); id < 3; id++ {
		assert.Equal(t, rep(s, 1).Applied(), rep(s, id).Applied(), "replica %d applied", id)
	}
	var last []string
	for _, e := range s.Executions() {
		if e.Replica == 0 && !e.Duplicate {
			last = append(last, e.Command.Value)
		}
	}
	require.NotEmpty(t, last)
	assert.Equal(t, "11", last[len(last)-1], "the restarted replica executed every write")
}

func rep(s *sim.Sim, id paxos.NodeID) *raft.Replica {
	r, _ := s.Replica(id).(*raft.Replica)
	return r
}

// optimum returns the textbook latency at site for a leader at l with
// majority quorums: at l, l's RTT to its (majority-1)-th nearest other
// replica; elsewhere RTT(site, l) plus that (Multi-Paxos's optimum).
func optimum(m [][]float64, site, l int) float64 {
	var d []float64
	for j := range m {
		if j != l {
			d = append(d, m[l][j])
		}
	}
	sort.Float64s(d)
	q := d[len(m)/2-1]
	if site == l {
		return q
	}
	return m[site][l] + q
}

// In steady state, with no jitter or CPU cost, raft reaches Multi-Paxos's
// textbook latency at every site: a follower's proposal goes to the
// leader, which appends and replicates it at once and announces the
// commit with its next append.
func TestLatencyOptimal(t *testing.T) {
	for _, c := range []struct{ preset, leader string }{{"epaxos2013", "CA"}, {"aws2020", "VA"}} {
		m, err := rtt.Preset(c.preset)
		require.NoError(t, err)
		l, ok := m.Index(c.leader)
		require.True(t, ok)
		n := len(m.MS)
		// Election timeout above the largest RTT, so the leader keeps its term.
		s, err := sim.New(sim.Config{Protocol: "raft", N: n, RTT: m.MS, Seed: 3,
			Replica: paxos.Config{InitialLeader: paxos.NodeID(l), ElectionTicks: 50}})
		require.NoError(t, err)
		for site := 0; site < n; site++ {
			k := 0
			_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Ops: 21, Workload: sim.WorkloadFunc(func(*rand.Rand) paxos.Command {
				k++
				return paxos.Command{Op: paxos.OpPut, Key: fmt.Sprint("site", site), Value: fmt.Sprint(k)}
			})})
			require.NoError(t, err)
		}
		s.Run(30 * time.Second)
		lat := make([][]float64, n)
		for _, o := range s.History() {
			require.True(t, o.Done)
			lat[o.Site] = append(lat[o.Site], float64(o.Return-o.Call)/float64(time.Millisecond))
		}
		for site, ls := range lat {
			sort.Float64s(ls)
			med, want := ls[len(ls)/2], optimum(m.MS, site, l)
			t.Logf("%s leader %s: %s median %.1f ms, optimum %.1f ms", c.preset, c.leader, m.Name(site), med, want)
			assert.InDelta(t, want, med, want*0.01+0.01, "%s at %s", c.preset, m.Name(site))
		}
	}
}

// A follower that was down while the leader snapshotted and compacted its
// log catches up by the leader's snapshot, whose state the leader encodes
// only for that message (its storage holds snapshots without their data).
func TestLaggingFollowerCatchesUpBySnapshot(t *testing.T) {
	s, err := sim.New(sim.Config{Protocol: "raft", N: 3, Replica: paxos.Config{InitialLeader: 0, SnapshotEvery: 4}, Seed: 3, Record: true})
	require.NoError(t, err)
	put := func(seq uint64) {
		require.NoError(t, s.Propose(0, paxos.Command{Client: 9, Seq: seq, Op: paxos.OpPut, Key: fmt.Sprint("k", seq), Value: fmt.Sprint(seq)}))
	}
	put(1)
	s.Run(200 * ms)
	require.NoError(t, s.Crash(2))
	for seq := uint64(2); seq <= 80; seq++ {
		put(seq)
		s.Run(s.Now() + 20*ms)
	}
	require.Positive(t, rep(s, 0).Coverage()["snapshots"])
	require.NoError(t, s.Restart(2))
	s.Run(s.Now() + 2*time.Second)
	assert.Equal(t, rep(s, 0).Applied(), rep(s, 2).Applied())
	assert.Positive(t, rep(s, 2).Coverage()["snapshot-installs"], "the follower installed the leader's snapshot")
	// The installed state holds what the leader wrote: a write through the
	// follower executes there after it, and it holds every key.
	require.NoError(t, s.Propose(2, paxos.Command{Client: 10, Seq: 1, Op: paxos.OpPut, Key: "k2", Value: "again"}))
	require.NoError(t, s.Propose(2, paxos.Command{Client: 11, Seq: 1, Op: paxos.OpGet, Key: "k40"}))
	s.Run(s.Now() + time.Second)
	assert.Equal(t, rep(s, 0).Applied(), rep(s, 2).Applied())
	outputs := map[uint64]string{}
	for _, e := range s.Executions() {
		if e.Replica == 2 && e.Command.Client >= 10 {
			outputs[e.Command.Client] = e.Output
		}
	}
	assert.Equal(t, map[uint64]string{10: "", 11: "40"}, outputs, "the follower executes after the snapshot, on its state")
}
