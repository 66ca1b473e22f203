package sim_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// TestBasicPaxosIsDeterministic runs the real Basic Paxos through every
// fault twice and compares the traces byte for byte.
func TestBasicPaxosIsDeterministic(t *testing.T) {
	if !slices.Contains(paxos.Protocols(), "basic") {
		t.Skip("protocol basic is not registered")
	}
	run := func(seed uint64) (string, []sim.Operation) {
		var buf bytes.Buffer
		s := newSim(t, sim.Config{Protocol: "basic", N: 5, RTT: sim.Uniform(5, 4), Jitter: ms, CPU: 20 * time.Microsecond,
			Seed: seed, Record: true, Trace: &buf})
		require.NoError(t, s.SetFaults(sim.Faults{Drop: 0.05, Duplicate: 0.05, Reorder: 0.1}))
		for site := 0; site < 5; site++ {
			_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: putWorkload, Ops: 10, RetryTimeout: 200 * ms})
			require.NoError(t, err)
		}
		s.At(100*ms, func() { require.NoError(t, s.Crash(4)) })
		s.At(300*ms, func() { require.NoError(t, s.Partition([]paxos.NodeID{0, 1})) })
		s.At(500*ms, func() {
			s.Heal()
			require.NoError(t, s.Restart(4))
			require.NoError(t, s.SetFaults(sim.Faults{}))
		})
		done := s.RunUntil(func() bool { return s.Operations() == 50 && s.Completed() == 50 }, 30*time.Second)
		require.True(t, done, "every operation completes once the faults heal")
		require.Greater(t, s.Now(), 500*ms, "the run lasted through the faults")
		t.Logf("seed %d: %d events, %v virtual, %d dropped", seed, s.Events(), s.Now(), s.Dropped())
		return buf.String(), s.History()
	}
	tr1, h1 := run(7)
	tr2, h2 := run(7)
	require.True(t, tr1 == tr2, "same seed, different traces")
	require.Equal(t, h1, h2)
	require.Len(t, h1, 50)
	tr3, _ := run(8)
	require.NotEqual(t, tr1, tr3)
}

// TestSentAndThroughput checks the simulator's own counters against what
// Basic Paxos must do: one proposer, one client, no faults. Every command
// costs the proposer a Prepare and an Accept to each of its 2 peers, and a
// closed-loop client at 4 ms per round trip (two rounds) completes an
// operation every 8 ms.
func TestSentAndThroughput(t *testing.T) {
	if !slices.Contains(paxos.Protocols(), "basic") {
		t.Skip("protocol basic is not registered")
	}
	s := newSim(t, sim.Config{Protocol: "basic", N: 3, RTT: sim.Uniform(3, 4), Seed: 1})
	_, err := s.AddClient(sim.ClientConfig{Site: 0, Workload: putWorkload, Ops: 10})
	require.NoError(t, err)
	require.True(t, s.RunUntil(func() bool { return s.Completed() == 10 }, 10*time.Second))
	sent := s.Sent(0)
	require.Equal(t, uint64(20), sent["basic.Prepare"], "%v", sent)
	require.Equal(t, uint64(20), sent["basic.Accept"], "%v", sent)
	// The window is half open: the 10th operation returns at exactly 80 ms.
	require.Equal(t, 9/0.08, s.Throughput(0, 80*ms))
	require.Equal(t, 10/0.081, s.Throughput(0, 81*ms))
	require.Zero(t, s.Throughput(80*ms, 80*ms))
	require.Empty(t, s.Sent(7), "no such replica")
}
