package multi_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/multi"
	"github.com/paxos-lab/paxos/sim"
	"github.com/stretchr/testify/require"
)

const ms = time.Millisecond

func newSim(t testing.TB, n int, rc paxos.Config, rtt [][]float64) *sim.Sim {
	t.Helper()
	s, err := sim.New(sim.Config{Protocol: "multi", N: n, Replica: rc, RTT: rtt, Seed: 7, Record: true})
	require.NoError(t, err)
	return s
}

func rep(s *sim.Sim, id paxos.NodeID) *multi.Replica {
	r, _ := s.Replica(id).(*multi.Replica)
	return r
}

// leaderOf returns the replica that leads, or -1.
func leaderOf(s *sim.Sim) paxos.NodeID {
	for id := 0; id < s.N(); id++ {
		if s.Alive(paxos.NodeID(id)) && rep(s, paxos.NodeID(id)).IsLeader() {
			return paxos.NodeID(id)
		}
	}
	return -1
}

func put(client, seq uint64, key, value string) paxos.Command {
	return paxos.Command{Client: client, Seq: seq, Op: paxos.OpPut, Key: key, Value: value}
}

// putter is a workload of puts with unique values over a few keys.
func putter(keys int) sim.Workload {
	k := 0
	return sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
		k++
		if rng.IntN(3) == 0 {
			return paxos.Command{Op: paxos.OpGet, Key: fmt.Sprint("k", rng.IntN(keys))}
		}
		return paxos.Command{Op: paxos.OpPut, Key: fmt.Sprint("k", rng.IntN(keys)), Value: fmt.Sprintf("v%d-%d", rng.Uint32(), k)}
	})
}

// verify runs the checker's verdicts on a finished simulation: linearizable
// history, one value per slot, agreeing execution orders.
func verify(t *testing.T, s *sim.Sim) {
	t.Helper()
	require.Empty(t, check.VerifySim(s, 30*time.Second))
}

// verifyCompacted is verify for runs with snapshots: a replica that
// installs a snapshot skips executing the slots it covers, which the
// checker's execution-order comparison (written for whole incarnations)
// would flag; so it checks linearizability and one value per slot only.
// That replicas execute in slot order holds by construction (executeReady).
func verifyCompacted(t *testing.T, s *sim.Sim) {
	t.Helper()
	var learned []check.Learned
	for _, d := range s.Decisions() {
		learned = append(learned, check.Learned{Replica: d.Replica, Incarnation: d.Incarnation, Decision: d.Decision})
	}
	require.Empty(t, check.OneValuePerInstance(learned))
	v, err := check.CheckLinearizable(check.FromSim(s.History()), 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, check.Linearizable, v)
}

// slotsExecuted returns, per (replica, incarnation), the commands executed in
// order (Nops included, duplicates excluded).
func executedBy(s *sim.Sim, id paxos.NodeID, inc int) []paxos.Command {
	var out []paxos.Command
	for _, e := range s.Executions() {
		if e.Replica == id && e.Incarnation == inc && !e.Duplicate && !e.LocalRead {
			out = append(out, e.Command)
		}
	}
	return out
}

func completed(s *sim.Sim) (done, total int) {
	for _, o := range s.History() {
		total++
		if o.Done {
			done++
		}
	}
	return
}
