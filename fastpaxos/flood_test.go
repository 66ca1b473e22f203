package fastpaxos_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/fastpaxos"
	"github.com/paxos-lab/paxos/sim"
)

const ms = time.Millisecond

func fp(s *sim.Sim, id paxos.NodeID) *fastpaxos.Replica {
	r, _ := s.Replica(id).(*fastpaxos.Replica)
	return r
}

// agreedLeader returns the replica that a classic quorum of replicas
// believes leads, or -1.
func agreedLeader(s *sim.Sim) paxos.NodeID {
	votes := map[paxos.NodeID]int{}
	for id := 0; id < s.N(); id++ {
		if l := fp(s, paxos.NodeID(id)).Leader(); l >= 0 {
			votes[l]++
		}
	}
	for l, k := range votes {
		if 2*k > s.N() && fp(s, l).Leader() == l {
			return l
		}
	}
	return -1
}

func floodPut(seq uint64) paxos.Command {
	return paxos.Command{Client: 1, Seq: seq, Op: paxos.OpPut, Key: "k", Value: "v"}
}

// flood is a stale-leader scenario: its clock jumps ahead jumps times by
// ticks ticks, and each message costs cpu.
type flood struct {
	jumps, ticks int
	cpu          time.Duration
}

func runFlood(t *testing.T, f flood) {
	s, err := sim.New(sim.Config{Protocol: "fastpaxos", N: 5, Replica: paxos.Config{InitialLeader: 4},
		CPU: f.cpu, Tick: 5 * ms, Seed: 53, Record: true})
	require.NoError(t, err)
	seq := uint64(0)
	propose := func(at paxos.NodeID, k int) {
		for range k {
			seq++
			require.NoError(t, s.Propose(at, floodPut(seq)))
		}
	}
	propose(4, 5)
	s.Run(s.Now() + 200*ms)
	require.Equal(t, uint64(5), fp(s, 4).Executed())
	require.NoError(t, s.Partition([]paxos.NodeID{4}, []paxos.NodeID{0, 1, 2, 3}))
	propose(0, 40)
	require.True(t, s.RunUntil(func() bool { l := agreedLeader(s); return l >= 0 && l < 4 }, 2*time.Second))
	s.Run(s.Now() + 500*ms)
	require.Equal(t, paxos.NodeID(4), fp(s, 4).Leader(), "the cut-off leader still believes it leads")
	s.Heal()
	for id := paxos.NodeID(0); id < 4; id++ {
		require.NoError(t, s.Hold(id, 4))
	}
	for range f.jumps {
		require.NoError(t, s.Advance(4, f.ticks))
		s.Run(s.Now() + 10*ms)
	}
	for id := paxos.NodeID(0); id < 4; id++ {
		require.NoError(t, s.Release(id, 4, 0))
	}
	propose(1, 5)
	converged := func() bool {
		e := fp(s, 0).Executed()
		for id := paxos.NodeID(1); id < 5; id++ {
			if fp(s, id).Executed() != e {
				return false
			}
		}
		return e == 50
	}
	start := s.Now()
	ok := s.RunUntil(converged, start+10*time.Second)
	ex := make([]uint64, 5)
	for id := range ex {
		ex[id] = fp(s, paxos.NodeID(id)).Executed()
	}
	require.True(t, ok, "no convergence 10 s after the flood: executed %v, leader %d", ex, agreedLeader(s))
	require.Empty(t, check.VerifySim(s, 30*time.Second))
}

// TestStaleLeaderFloodConverges is multi's flood scenario
// (multi/flood_test.go) run on Fast Paxos, scripted. Replica 4 leads, is
// cut off while the others elect and commit without it, and once they hear
// each other again its clock jumps ahead 30 times 512 ticks, an Any (its
// heartbeat) to each peer on every tick, before the answers reach it (they
// wait at the links). Every message costs 216 µs of CPU, so the others
// take 3.5 s to refuse the stale Anys and commit nothing meanwhile. When
// each refusal was answered with a Nack, replica 4's queue then still held
// 13 s of them: its election timer (ticks are not queued) kept starting
// ballots whose Promises it served only after it had moved on, each
// Prepare deposing the others' leader (three changes of leader and 200
// elections in the next 10 s), and it executed nothing new for 14 s. With
// at most nackcap.PerTick equal Nacks per peer and tick, all converge after
// the 3.5 s and the elections stop. Ten jumps of 2048 ticks: 18.5 s
// before, 5 s with the cap.
func TestStaleLeaderFloodConverges(t *testing.T) {
	for _, f := range []flood{{jumps: 30, ticks: 512, cpu: 216 * time.Microsecond}, {jumps: 10, ticks: 2048, cpu: 216 * time.Microsecond}} {
		t.Run(fmt.Sprintf("%dx%d", f.jumps, f.ticks), func(t *testing.T) { runFlood(t, f) })
	}
}
