package multi_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/paxos-lab/paxos/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readMostly(rng *rand.Rand) paxos.Command {
	k := fmt.Sprint("k", rng.IntN(2))
	if rng.IntN(2) == 0 {
		return paxos.Command{Op: paxos.OpGet, Key: k}
	}
	return paxos.Command{Op: paxos.OpPut, Key: k, Value: fmt.Sprint(rng.Uint64())}
}

// Scenario 7: reads served under a lease never return stale values across
// leader changes and partitions.
func TestLeaseReads(t *testing.T) {
	rc := paxos.Config{InitialLeader: 0, LeaseTicks: 6, SnapshotEvery: -1}
	s := newSim(t, 3, rc, sim.Uniform(3, 4))
	for site := 0; site < 3; site++ {
		_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: sim.WorkloadFunc(readMostly), RetryTimeout: 400 * ms})
		require.NoError(t, err)
	}
	// A read-only client at the first leader: it keeps reading there while
	// the partition isolates that leader from the writers' majority.
	_, err := s.AddClient(sim.ClientConfig{Site: 0, Rate: 100, RetryTimeout: 400 * ms, Workload: sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
		return paxos.Command{Op: paxos.OpGet, Key: fmt.Sprint("k", rng.IntN(2))}
	})})
	require.NoError(t, err)
	s.Run(300 * ms)
	cut := s.Now()
	require.NoError(t, s.Partition([]paxos.NodeID{0}, []paxos.NodeID{1, 2}))
	s.Run(cut + 800*ms)
	require.True(t, rep(s, 1).IsLeader() || rep(s, 2).IsLeader(), "the majority side elected a leader")
	s.Heal()
	s.Run(cut + 1500*ms)
	require.NoError(t, s.Partition([]paxos.NodeID{0, 1}, []paxos.NodeID{2}))
	s.Run(cut + 2500*ms)
	s.Heal()
	s.Run(cut + 3500*ms)

	local, late, early := 0, 0, 0
	leaseEnd := cut + time.Duration(rc.LeaseTicks)*10*ms
	for _, o := range s.History() {
		if o.LocalRead {
			local++
			if o.Replica == 0 && o.Return > leaseEnd && o.Return < cut+800*ms {
				late++
			}
			if o.Replica == 0 && o.Return < cut {
				early++
			}
		}
	}
	assert.Positive(t, local, "leases served local reads")
	assert.Positive(t, early, "the first leader served local reads before the partition")
	assert.Zero(t, late, "the isolated old leader served local reads after its lease ran out")
	t.Logf("%d local reads", local)
	verify(t, s)
}

func TestCheckLeases(t *testing.T) {
	seeds := 15
	if !longtest.Enabled() {
		seeds = 4
	}
	for _, n := range []int{3, 5} {
		runChecks(t, check.Options{Protocol: "multi", Replicas: n, Faults: check.AllFaults, Conflict: 0.5,
			Replica: paxos.Config{InitialLeader: 0, LeaseTicks: 6, Batch: 4}}, seeds)
	}
}

func TestLeaseConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  paxos.Config
		want string
	}{
		{paxos.Config{N: 3, LeaseTicks: 10}, "LeaseTicks=10 must be shorter than ElectionTicks=10"},
		{paxos.Config{N: 3, LeaseTicks: 2}, "safety margin"},
		{paxos.Config{N: 3, Window: -1}, "Window=-1"},
		{paxos.Config{N: 3, Batch: -5}, "Batch=-5"},
		{paxos.Config{N: 3, ID: 3}, "replica id 3"},
	} {
		_, err := paxos.New("multi", c.cfg)
		require.ErrorIs(t, err, paxos.ErrConfig)
		assert.Contains(t, err.Error(), c.want)
	}
}
