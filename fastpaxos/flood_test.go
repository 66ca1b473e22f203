package fastpaxos_test

import (
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/fastpaxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
	"github.com/paxos-lab/paxos/sim"
)

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

// TestStaleLeaderFloodConverges is multi's flood scenario
// (replicatest.RunFlood) run on Fast Paxos. Replica 4 leads, is
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
	for _, f := range []replicatest.Flood{{Jumps: 30, Ticks: 512}, {Jumps: 10, Ticks: 2048}} {
		f.Protocol, f.CPU = "fastpaxos", 216*time.Microsecond
		f.Leader = agreedLeader
		f.Leads = func(s *sim.Sim, id paxos.NodeID) bool { return fp(s, id).Leader() == id }
		f.Executed = func(s *sim.Sim, id paxos.NodeID) uint64 { return fp(s, id).Executed() }
		t.Run(f.Name(), func(t *testing.T) { replicatest.RunFlood(t, f) })
	}
}
