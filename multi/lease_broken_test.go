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

// TestCheckerCatchesLeaseThatNeverExpires is the negative test for lease
// reads: an old leader that keeps answering Gets locally after it was cut
// off, while the majority elects a new leader and writes, serves stale
// values, and the linearizability check must say so. The same scenario with
// correct leases passes (TestLeaseReads).
func TestCheckerCatchesLeaseThatNeverExpires(t *testing.T) {
	for _, broken := range []bool{false, true} {
		newReplica := New
		if broken {
			m, err := paxos.LookupMutant("multi/lease-never-expires")
			require.NoError(t, err)
			newReplica = m.New
		}
		s, err := sim.New(sim.Config{New: newReplica, N: 3, RTT: sim.Uniform(3, 4), Seed: 5,
			Replica: paxos.Config{InitialLeader: 0, LeaseTicks: 6, SnapshotEvery: -1}})
		require.NoError(t, err)
		writer := sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
			return paxos.Command{Op: paxos.OpPut, Key: "k", Value: fmt.Sprint(rng.Uint64())}
		})
		reader := sim.WorkloadFunc(func(*rand.Rand) paxos.Command { return paxos.Command{Op: paxos.OpGet, Key: "k"} })
		for _, site := range []paxos.NodeID{1, 2} {
			_, err := s.AddClient(sim.ClientConfig{Site: site, Workload: writer, RetryTimeout: 400 * time.Millisecond})
			require.NoError(t, err)
		}
		_, err = s.AddClient(sim.ClientConfig{Site: 0, Rate: 100, Workload: reader, RetryTimeout: 400 * time.Millisecond})
		require.NoError(t, err)
		s.Run(300 * time.Millisecond)
		require.NoError(t, s.Partition([]paxos.NodeID{0}, []paxos.NodeID{1, 2}))
		s.Run(1200 * time.Millisecond)

		verdict, err := check.CheckLinearizable(check.FromSim(s.History()), 30*time.Second)
		require.NoError(t, err)
		if broken {
			assert.Equal(t, check.NotLinearizable, verdict, "a lease that never expires must be caught")
		} else {
			assert.Equal(t, check.Linearizable, verdict)
		}
	}
}
