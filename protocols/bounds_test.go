package protocols_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/basic"
	"github.com/paxos-lab/paxos/epaxos"
	"github.com/paxos-lab/paxos/fastpaxos"
	"github.com/paxos-lab/paxos/multi"
	"github.com/paxos-lab/paxos/raft"
	"github.com/paxos-lab/paxos/sim"
)

// executedCount is how far a replica has executed: slots for the log
// protocols, instances for EPaxos.
func executedCount(t *testing.T, r paxos.Replica) uint64 {
	switch r := r.(type) {
	case *basic.Replica:
		return r.Executed()
	case *multi.Replica:
		return r.Executed()
	case *epaxos.Replica:
		return r.Stats().Executed
	case *fastpaxos.Replica:
		return r.Executed()
	case *raft.Replica:
		return r.Applied()
	}
	t.Fatalf("no executed count for %T", r)
	return 0
}

// TestFarBehindReplicaCatchesUp cuts the last replica off while the others
// decide more slots (instances) than any window lets a replica accept ahead
// of its own state, heals the cut, and requires that replica to catch up to the
// others anyway, by each protocol's catch-up path: the bound on input must
// not cost liveness. Window is 2 so that the bound is small (multi also
// snapshots every 20 slots, so its bound, which covers two intervals, stays
// small as well).
func TestFarBehindReplicaCatchesUp(t *testing.T) {
	cases := []struct {
		protocol string
		n        int
		thrifty  bool
		sites    int // replicas the commands are proposed at, in turn (EPaxos: rows that depend on each other)
		slots    int // more than the protocol's bound with Window=2
	}{
		{"basic", 3, false, 1, 4*3*2 + 64*64 + 200}, // 4·N·Window + the catch-up scan
		{"multi", 3, false, 1, 4*2 + 2*20 + 2*512 + 200},
		{"multi", 5, true, 1, 4*2 + 2*20 + 2*512 + 200},
		{"flexible", 3, false, 1, 4*2 + 2*20 + 2*512 + 200},
		{"epaxos", 3, false, 1, 4*2 + 2*8 + 200},
		{"epaxos", 3, false, 2, 4*2 + 2*8 + 200},
		{"epaxos", 5, true, 4, 4*2 + 2*8 + 200},
		{"fastpaxos", 3, false, 1, 4*2 + 2*64 + 200},
		{"fastpaxos", 5, false, 2, 4*2 + 2*64 + 200},
		{"raft", 3, false, 1, 2*20 + 200}, // log indexes; behind two snapshots: caught up by MsgSnap
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/n=%d/thrifty=%v/sites=%d", c.protocol, c.n, c.thrifty, c.sites), func(t *testing.T) {
			s, err := sim.New(sim.Config{Protocol: c.protocol, N: c.n, Seed: 3,
				Replica: paxos.Config{InitialLeader: 0, Window: 2, SnapshotEvery: 20, Thrifty: c.thrifty}})
			require.NoError(t, err)
			var majority []paxos.NodeID
			for i := 0; i < c.n-1; i++ {
				majority = append(majority, paxos.NodeID(i))
			}
			behind := paxos.NodeID(c.n - 1)
			require.NoError(t, s.Partition(majority, []paxos.NodeID{behind}))
			// One command per slot: a command every 2 ms at replica 0, so
			// that with Window=2 each is decided before the next (the
			// default RTT is well below that).
			for i := 0; i < c.slots; i++ {
				cmd := paxos.Command{Client: 1, Seq: uint64(i + 1), Op: paxos.OpPut, Key: fmt.Sprint("k", i%7), Value: fmt.Sprint("v", i)}
				site := paxos.NodeID(i % c.sites)
				s.At(time.Duration(i+1)*2*time.Millisecond, func() { require.NoError(t, s.Propose(site, cmd)) })
			}
			end := time.Duration(c.slots+1) * 2 * time.Millisecond
			// Fast Paxos at N=3 with a replica cut off has no fast quorum
			// left: every slot takes a recovery, so give it time.
			s.RunUntil(func() bool { return executedCount(t, s.Replica(0)) >= uint64(c.slots) }, end+time.Minute)
			lead := executedCount(t, s.Replica(0))
			require.GreaterOrEqual(t, lead, uint64(c.slots), "the majority decided every command while replica 2 was cut off")
			require.Less(t, executedCount(t, s.Replica(behind)), uint64(10), "the cut-off replica heard nothing")

			s.Heal()
			healed := s.Now()
			// Keep deciding after the heal, so that replica 2 is sent new
			// slots far beyond its window, which it refuses until caught up.
			const more = 100
			for i := 0; i < more; i++ {
				cmd := paxos.Command{Client: 2, Seq: uint64(i + 1), Op: paxos.OpPut, Key: fmt.Sprint("k", i%7), Value: fmt.Sprint("w", i)}
				site := paxos.NodeID(i % c.sites)
				s.After(time.Duration(i+1)*2*time.Millisecond, func() { require.NoError(t, s.Propose(site, cmd)) })
			}
			caughtUp := s.RunUntil(func() bool {
				return executedCount(t, s.Replica(behind)) >= lead+more
			}, s.Now()+5*time.Minute)
			require.True(t, caughtUp, "replica %d executed %d of %d after the heal", behind, executedCount(t, s.Replica(behind)), lead+more)
			refused := s.Replica(behind).(paxos.CoverageReporter).Coverage()[paxos.CoverageRefused]
			if c.protocol != "raft" { // raft answers a far-ahead append with a rejection, as it must a new leader's probe
				require.Positive(t, refused, "the cut-off replica refused what was beyond its window")
			}
			t.Logf("replica %d refused %d messages and caught up on %d in %v virtual", behind, refused, lead+more, s.Now()-healed)
		})
	}
}
