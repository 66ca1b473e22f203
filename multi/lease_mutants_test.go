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
