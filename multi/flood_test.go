package multi_test

import (
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
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
	replicatest.RunFlood(t, replicatest.Flood{Protocol: "multi", Jumps: 30, Ticks: 512, CPU: 216 * time.Microsecond,
		Leader:   leaderOf,
		Leads:    func(s *sim.Sim, id paxos.NodeID) bool { return rep(s, id).IsLeader() },
		Executed: func(s *sim.Sim, id paxos.NodeID) uint64 { return rep(s, id).Executed() }})
}
