package multi

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/sim"
)

// TestFollowerIgnoringLeaseServesStaleReads is the scripted scenario of
// the planted bug multi/follower-ignores-lease, which the random search
// does not reach within its budget: leader 0 holds a read lease, the link
// between 0 and 1 fails both ways while 2 still hears both. Replica 1
// times out and asks 2 for a promise; a correct 2 refuses while it grants
// 0 the lease, the broken one promises, so 1 leads and commits writes
// while 0 still believes its lease and answers reads from its stale state.
func TestFollowerIgnoringLeaseServesStaleReads(t *testing.T) {
	for _, broken := range []bool{false, true} {
		newReplica := New
		if broken {
			m, err := paxos.LookupMutant("multi/follower-ignores-lease")
			require.NoError(t, err)
			newReplica = m.New
		}
		s, err := sim.New(sim.Config{New: newReplica, N: 3, RTT: sim.Uniform(3, 4), Seed: 7,
			Replica: paxos.Config{InitialLeader: 0, LeaseTicks: 6, SnapshotEvery: -1}})
		require.NoError(t, err)
		writer := sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
			return paxos.Command{Op: paxos.OpPut, Key: "k", Value: fmt.Sprint(rng.Uint64())}
		})
		reader := sim.WorkloadFunc(func(*rand.Rand) paxos.Command { return paxos.Command{Op: paxos.OpGet, Key: "k"} })
		_, err = s.AddClient(sim.ClientConfig{Site: 1, Workload: writer, RetryTimeout: 400 * time.Millisecond})
		require.NoError(t, err)
		_, err = s.AddClient(sim.ClientConfig{Site: 0, Rate: 500, Workload: reader, RetryTimeout: 400 * time.Millisecond})
		require.NoError(t, err)
		s.Run(300 * time.Millisecond)
		require.NoError(t, s.Cut(0, 1))
		require.NoError(t, s.Cut(1, 0))
		s.Run(1200 * time.Millisecond)

		verdict, err := check.CheckLinearizable(check.FromSim(s.History()), 30*time.Second)
		require.NoError(t, err)
		if broken {
			assert.Equal(t, check.NotLinearizable, verdict, "a follower that ignores the lease must be caught")
		} else {
			assert.Equal(t, check.Linearizable, verdict)
		}
	}
}

// TestLeaseFromAckArrivalServesStaleReads is the scripted scenario of the
// planted bug multi/lease-from-ack-arrival: the link between leader 0 and
// replica 2 is slow (160 ms round trips, longer than the 60 ms lease), the
// one between 0 and 1 fails. A correct leader never holds a lease, since
// no acknowledged heartbeat is recent enough; the broken one counts from a
// reply's arrival, 80 ms after 2 promised, and believes its lease for 40 ms
// more. When 0's heartbeats stop reaching 2, 2's promise expires about 60
// ms before 0's belief does: 1 is elected with 2 in that window, commits
// writes, and 0 answers reads from its stale state.
func TestLeaseFromAckArrivalServesStaleReads(t *testing.T) {
	for _, broken := range []bool{false, true} {
		newReplica := New
		if broken {
			m, err := paxos.LookupMutant("multi/lease-from-ack-arrival")
			require.NoError(t, err)
			newReplica = m.New
		}
		rtt := sim.Uniform(3, 4)
		rtt[0][2], rtt[2][0] = 160, 160
		s, err := sim.New(sim.Config{New: newReplica, N: 3, RTT: rtt, Seed: 7,
			Replica: paxos.Config{InitialLeader: 0, LeaseTicks: 6, SnapshotEvery: -1}})
		require.NoError(t, err)
		writer := sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
			return paxos.Command{Op: paxos.OpPut, Key: "k", Value: fmt.Sprint(rng.Uint64())}
		})
		reader := sim.WorkloadFunc(func(*rand.Rand) paxos.Command { return paxos.Command{Op: paxos.OpGet, Key: "k"} })
		_, err = s.AddClient(sim.ClientConfig{Site: 1, Workload: writer, RetryTimeout: 400 * time.Millisecond})
		require.NoError(t, err)
		_, err = s.AddClient(sim.ClientConfig{Site: 0, Rate: 500, Workload: reader, RetryTimeout: 400 * time.Millisecond})
		require.NoError(t, err)
		s.Run(300 * time.Millisecond)
		require.NoError(t, s.Cut(0, 1))
		require.NoError(t, s.Cut(1, 0))
		s.Run(500 * time.Millisecond)
		require.NoError(t, s.Cut(0, 2))
		s.Run(1200 * time.Millisecond)

		verdict, err := check.CheckLinearizable(check.FromSim(s.History()), 30*time.Second)
		require.NoError(t, err)
		if broken {
			assert.Equal(t, check.NotLinearizable, verdict, "a lease counted from the replies' arrival must be caught")
		} else {
			assert.Equal(t, check.Linearizable, verdict)
		}
	}
}
