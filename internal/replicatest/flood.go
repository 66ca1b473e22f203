package replicatest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/sim"
)

// Flood describes a stale-leader flood: a scripted simulator run of a
// leader-based protocol at N = 5 in which replica 4 leads, is cut off
// while the others elect a leader among themselves and commit 40 commands,
// and, once the partition heals, has its clock jump ahead Jumps times by
// Ticks ticks while everything the others send it waits at the links. Each
// jump makes it send a heartbeat to every peer on every tick, and every
// message costs CPU of simulated time at its receiver, so the others spend
// seconds refusing the stale heartbeats. The run passes when all five
// replicas have executed all 50 commands within 10 s after the flood and
// the checker finds nothing wrong. The multi and fastpaxos flood tests
// (the Nack cap, internal/nackcap) run it.
type Flood struct {
	// Protocol is the registered protocol name.
	Protocol string
	// Jumps and Ticks shape the stale leader's clock jumps.
	Jumps, Ticks int
	// CPU is each message's processing time.
	CPU time.Duration
	// Leader returns the replica that leads with the agreement of the
	// others, or -1.
	Leader func(s *sim.Sim) paxos.NodeID
	// Leads reports whether replica id believes it leads.
	Leads func(s *sim.Sim, id paxos.NodeID) bool
	// Executed returns how many commands replica id has executed.
	Executed func(s *sim.Sim, id paxos.NodeID) uint64
}

// Name is a subtest name for f, such as "30x512".
func (f Flood) Name() string { return fmt.Sprintf("%dx%d", f.Jumps, f.Ticks) }

// RunFlood runs the stale-leader flood f and fails t when the cluster does
// not converge within 10 s of simulated time after the flood, or when the
// checker finds a safety or linearizability violation.
func RunFlood(t testing.TB, f Flood) {
	t.Helper()
	const ms = time.Millisecond
	const n, stale = 5, paxos.NodeID(4)
	s, err := sim.New(sim.Config{Protocol: f.Protocol, N: n, Replica: paxos.Config{InitialLeader: stale},
		CPU: f.CPU, Tick: 5 * ms, Seed: 53, Record: true})
	require.NoError(t, err)
	seq := uint64(0)
	propose := func(at paxos.NodeID, k int) {
		for range k {
			seq++
			require.NoError(t, s.Propose(at, paxos.Command{Client: 1, Seq: seq, Op: paxos.OpPut, Key: "k", Value: "v"}))
		}
	}
	others := []paxos.NodeID{0, 1, 2, 3}
	propose(stale, 5)
	s.Run(s.Now() + 200*ms)
	require.Equal(t, uint64(5), f.Executed(s, stale))
	require.NoError(t, s.Partition([]paxos.NodeID{stale}, others))
	propose(0, 40)
	require.True(t, s.RunUntil(func() bool { l := f.Leader(s); return l >= 0 && l != stale }, 2*time.Second),
		"the majority side elected no leader")
	s.Run(s.Now() + 500*ms)
	require.True(t, f.Leads(s, stale), "the cut-off leader no longer believes it leads")
	s.Heal()
	for _, id := range others {
		require.NoError(t, s.Hold(id, stale))
	}
	for range f.Jumps {
		require.NoError(t, s.Advance(stale, f.Ticks))
		s.Run(s.Now() + 10*ms)
	}
	for _, id := range others {
		require.NoError(t, s.Release(id, stale, 0))
	}
	propose(1, 5)
	converged := func() bool {
		for id := range paxos.NodeID(n) {
			if f.Executed(s, id) != seq {
				return false
			}
		}
		return true
	}
	ok := s.RunUntil(converged, s.Now()+10*time.Second)
	ex := make([]uint64, n)
	for id := range ex {
		ex[id] = f.Executed(s, paxos.NodeID(id))
	}
	require.True(t, ok, "no convergence 10 s after the flood: executed %v of %d, leader %d", ex, seq, f.Leader(s))
	require.Empty(t, check.VerifySim(s, 30*time.Second))
}
