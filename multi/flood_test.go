package multi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// TestStaleLeaderFloodConverges replays, scripted, the livelock the
// checker's followed narrow rounds found (seed 53 at N = 5 with uncapped
// clock jumps). Replica 4 leads, is cut off while the others elect and
// commit without it, and once they hear each other again its clock jumps
// ahead 30 times 512 ticks, a heartbeat to each peer on every tick, before
// the answers reach it (they wait at the links). Every message costs CPU
// time. The others refuse the stale heartbeats; when each was answered
// with a Nack, the stale leader's queue held seconds of them, its election
// timer (ticks are not queued) kept starting ballots whose Promises it
// served only after it had moved on, and each of its Prepares deposed the
// others' leader: nobody led until the backlog drained, past the 10 s the
// checker allows. With at most two Nacks per tick and promise the cluster converges.
func TestStaleLeaderFloodConverges(t *testing.T) {
	s, err := sim.New(sim.Config{Protocol: "multi", N: 5, Replica: paxos.Config{InitialLeader: 4},
		CPU: 216 * time.Microsecond, Tick: 5 * ms, Seed: 53, Record: true})
	require.NoError(t, err)
	seq := uint64(0)
	propose := func(at paxos.NodeID, k int) {
		for range k {
			seq++
			require.NoError(t, s.Propose(at, put(1, seq, "k", "v")))
		}
	}
	propose(4, 5)
	s.Run(s.Now() + 200*ms)
	require.Equal(t, uint64(5), rep(s, 4).Executed())
	require.NoError(t, s.Partition([]paxos.NodeID{4}, []paxos.NodeID{0, 1, 2, 3}))
	propose(0, 40)
	require.True(t, s.RunUntil(func() bool { l := leaderOf(s); return l >= 0 && l < 4 }, 2*time.Second))
	s.Run(s.Now() + 500*ms)
	require.True(t, rep(s, 4).IsLeader(), "the cut-off leader still believes it leads")
	s.Heal()
	for id := paxos.NodeID(0); id < 4; id++ {
		require.NoError(t, s.Hold(id, 4))
	}
	for range 30 {
		require.NoError(t, s.Advance(4, 512))
		s.Run(s.Now() + 10*ms)
	}
	for id := paxos.NodeID(0); id < 4; id++ {
		require.NoError(t, s.Release(id, 4, 0))
	}
	propose(1, 5)
	converged := func() bool {
		e := rep(s, 0).Executed()
		for id := paxos.NodeID(1); id < 5; id++ {
			if rep(s, id).Executed() != e {
				return false
			}
		}
		return e == 50
	}
	ok := s.RunUntil(converged, 10*time.Second)
	ex := make([]uint64, 5)
	for id := range ex {
		ex[id] = rep(s, paxos.NodeID(id)).Executed()
	}
	require.True(t, ok, "no convergence 10 s after the flood: executed %v, leader %d, ballot of 4 %v", ex, leaderOf(s), rep(s, 4).Ballot())
	verify(t, s)
}
