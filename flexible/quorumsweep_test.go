package flexible_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/paxos-lab/paxos/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sweepRun is one point of the bench harness's fpaxos experiment: n
// replicas 20 ms apart, leader 0, 10 closed-loop clients at replica 0, 250
// µs of CPU per message, thrifty counting quorums Q1 = n-q2+1. It returns
// the operations per second returned after a 500 ms warm-up and the
// messages each replica sent, by body type.
func sweepRun(t *testing.T, n, q2 int, jitter time.Duration, seed uint64) (float64, []map[string]int) {
	t.Helper()
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, n)
		for j := range m[i] {
			if i != j {
				m[i][j] = 20
			}
		}
	}
	s, err := sim.New(sim.Config{
		Protocol: "flexible",
		N:        n,
		Replica:  paxos.Config{HeartbeatTicks: 1, ElectionTicks: 10, RetryTicks: 5, InitialLeader: 0, Quorums: mustCounting(t, n, n-q2+1, q2)},
		RTT:      m,
		Jitter:   jitter,
		CPU:      250 * time.Microsecond,
		Seed:     seed,
	})
	require.NoError(t, err)
	for c := 0; c < 10; c++ {
		k := 0
		_, err := s.AddClient(sim.ClientConfig{Site: 0, Workload: sim.WorkloadFunc(func(*rand.Rand) paxos.Command {
			k++
			return paxos.Command{Op: paxos.OpPut, Key: fmt.Sprint("c", c), Value: fmt.Sprint(k)}
		})})
		require.NoError(t, err)
	}
	const warmup, measure = 500 * time.Millisecond, 1500 * time.Millisecond
	s.Run(warmup + measure)
	sent := make([]map[string]int, n)
	for id := range sent {
		sent[id] = map[string]int{}
		for kind, c := range s.Sent(paxos.NodeID(id)) {
			sent[id][kind] = int(c)
		}
	}
	return s.Throughput(warmup, warmup+measure), sent
}

// TestThriftyQ2SweepN9 covers the fpaxos experiment's outlier, N = 9 with
// Q2 = 4 (333 ops/s and 30 ms against ~470 ops/s and 21 ms for the other
// Q2). The engine does what it should there: each slot's Accept goes to
// exactly Q2-1 replicas, the nearest by id, none is resent or widened, and
// only those replicas answer. The outlier is a convoy of the jitter-free
// simulation: with seed 1 the ten closed-loop clients lock into step with
// the leader's per-tick heartbeat replies, and each batch of proposals
// waits in the leader's FIFO CPU queue behind the previous batch's Accepted
// replies, a 30 ms cycle that nothing perturbs. Other seeds, or 10 µs of
// link jitter, give ~450 ops/s; so the throughput check uses jitter.
func TestThriftyQ2SweepN9(t *testing.T) {
	longtest.Skip(t, "simulates 2 s of the 9-replica fpaxos setup for three Q2")
	const n = 9
	tput := map[int]float64{}
	for _, q2 := range []int{3, 4, 5} {
		got, sent := sweepRun(t, n, q2, 0, 1)
		slots := (sent[0]["multi.Commit"] + sent[0]["multi.Chosen"]) / (n - 1)
		require.Positive(t, slots)
		assert.InDelta(t, (q2-1)*slots, sent[0]["multi.Accept"], float64(10*(q2-1)), "Q2=%d: Accepts per slot, none resent", q2)
		for id := 1; id < n; id++ {
			if id < q2 {
				assert.InDelta(t, slots, sent[id]["multi.Accepted"], 10, "Q2=%d: replica %d is in the thrifty quorum", q2, id)
			} else {
				assert.Zero(t, sent[id]["multi.Accepted"], "Q2=%d: replica %d is outside the thrifty quorum", q2, id)
			}
		}
		tput[q2], _ = sweepRun(t, n, q2, 10*time.Microsecond, 1)
		t.Logf("Q2=%d: %.0f ops/s jitter-free (seed 1), %.0f ops/s with 10 µs jitter", q2, got, tput[q2])
	}
	assert.Greater(t, tput[4], 0.9*tput[3], "Q2=4 against Q2=3")
	assert.Greater(t, tput[4], 0.97*tput[5], "Q2=4 against Q2=5")
}
