package multi_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/paxos-lab/paxos/multi"
	"github.com/paxos-lab/paxos/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lanThroughput runs 5 replicas on the simulator's 0.2 ms LAN with 7 µs of
// CPU per message (the bench harness's latency-throughput setup), 10 clients
// per replica, closed loop when rate is 0 and otherwise open loop at rate
// ops/s in total. It returns the operations per second that returned in
// the 500 ms after a 200 ms warm-up, and the replicas' message counts.
func lanThroughput(t *testing.T, batch int, rate float64) (float64, map[string]int) {
	t.Helper()
	s, err := sim.New(sim.Config{
		Protocol: "multi",
		N:        5,
		Replica:  paxos.Config{HeartbeatTicks: 1, ElectionTicks: 10, RetryTicks: 5, Batch: batch, InitialLeader: 0},
		CPU:      7 * time.Microsecond,
		Seed:     1,
	})
	require.NoError(t, err)
	for site := 0; site < 5; site++ {
		for c := 0; c < 10; c++ {
			k := 0
			_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Rate: rate / 50, Workload: sim.WorkloadFunc(func(*rand.Rand) paxos.Command {
				k++
				return paxos.Command{Op: paxos.OpPut, Key: fmt.Sprintf("s%dc%d-%d", site, c, k%8), Value: fmt.Sprint(k)}
			})})
			require.NoError(t, err)
		}
	}
	const warmup, measure = 200 * time.Millisecond, 500 * time.Millisecond
	s.Run(warmup + measure)
	sent := map[string]int{}
	for id := 0; id < 5; id++ {
		for kind, c := range s.Sent(paxos.NodeID(id)) {
			sent[kind] += int(c)
		}
	}
	return s.Throughput(warmup, warmup+measure), sent
}

// TestOverloadDegradesGracefully offers twice the closed-loop saturation
// throughput open loop. The leader's CPU is the bottleneck; before the fix
// it resent every Accept whose Accepted still sat in its own queue (a
// retransmission storm) and followers forwarded every command at once, so
// commands queued in front of the Accepted replies: 9.6k ops/s delivered
// against 28k at saturation. Now throughput stays near saturation.
func TestOverloadDegradesGracefully(t *testing.T) {
	longtest.Skip(t, "simulates ~60k operations")
	sat, _ := lanThroughput(t, 1, 0)
	require.Greater(t, sat, 20000.0, "closed-loop saturation of the 7 µs LAN setup")
	got, sent := lanThroughput(t, 1, 2*sat)
	t.Logf("saturation %.0f ops/s, at %.0f ops/s offered: %.0f ops/s, messages %v", sat, 2*sat, got, sent)
	assert.GreaterOrEqual(t, got, 0.8*sat, "delivered throughput under 2x overload collapsed")
	// No retransmission storm: Accepts (4 per slot) exceed commits (4 per
	// committed slot, short or not) only by the slots in flight, at most
	// one window.
	assert.LessOrEqual(t, sent["multi.Accept"]-sent["multi.Commit"]-sent["multi.Chosen"], 4*paxos.DefaultWindow, "Accepts resent")
}

// bodies returns the messages of rd addressed to to with a body of type T.
func bodies[T any](rd paxos.Ready, to paxos.NodeID) []T {
	var out []T
	for _, m := range rd.Messages {
		if b, ok := m.Body.(T); ok && m.To == to {
			out = append(out, b)
		}
	}
	return out
}

// TestRetransmitWaitsForEvidenceOfLoss: an unacknowledged Accept is resent
// to a replica only once that replica answered a heartbeat sent after it.
func TestRetransmitWaitsForEvidenceOfLoss(t *testing.T) {
	r, err := multi.New(paxos.Config{N: 3, InitialLeader: 0, RetryTicks: 2})
	require.NoError(t, err)
	r.Ready()
	r.Propose(put(1, 1, "k", "v"))
	rd := r.Ready()
	require.Len(t, bodies[multi.Accept](rd, 1), 1)
	b := multi.Ballot{Round: 1, Node: 0}
	for i := 0; i < 5; i++ { // no answers at all: nothing is resent
		r.Tick()
		assert.Empty(t, bodies[multi.Accept](r.Ready(), 1), "tick %d", i+1)
	}
	// Replica 1 answers the heartbeat of tick 5, sent after the Accept
	// (tick 0): its Accepted must have been lost, so it gets the Accept
	// again; replica 2 answered nothing and gets nothing.
	require.NoError(t, r.Step(paxos.Message{From: 1, To: 0, Body: multi.HeartbeatReply{Ballot: b, Commit: 0, Tick: 5}}))
	r.Tick()
	rd = r.Ready()
	assert.Len(t, bodies[multi.Accept](rd, 1), 1)
	assert.Empty(t, bodies[multi.Accept](rd, 2))
}

// TestFollowerForwardCredit: a follower forwards at most max(Window, Batch)
// unexecuted proposals and sends the rest, batched, as earlier ones execute.
func TestFollowerForwardCredit(t *testing.T) {
	r, err := multi.New(paxos.Config{N: 3, ID: 1, InitialLeader: 0, Window: 2})
	require.NoError(t, err)
	r.Ready()
	var cmds []paxos.Command
	for i := uint64(1); i <= 5; i++ {
		cmds = append(cmds, put(7, i, "k", "v"))
		r.Propose(cmds[i-1])
	}
	var sent []paxos.Command
	for _, f := range bodies[multi.Forward](r.Ready(), 0) {
		sent = append(sent, f.Cmds...)
	}
	assert.Equal(t, cmds[:2], sent, "two forwarded, three held")
	r.Propose(cmds[0]) // a retry of a pending command is not sent again
	assert.Empty(t, bodies[multi.Forward](r.Ready(), 0))

	b := multi.Ballot{Round: 1, Node: 0}
	for s, c := range cmds[:2] {
		require.NoError(t, r.Step(paxos.Message{From: 0, To: 1, Body: multi.Commit{Ballot: b, Slot: uint64(s + 1), Cmds: []paxos.Command{c}}}))
	}
	rd := r.Ready()
	assert.Len(t, rd.Executed, 2)
	assert.Equal(t, []multi.Forward{{Cmds: cmds[2:4]}}, bodies[multi.Forward](rd, 0), "credit returned: one Forward with the next two")
}
