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

// leaseScenario is a three-replica run with leases (6 ticks) and leader 0:
// writers of one key at writerSites and a reader at site 0 (readRate Gets
// a second). After 300 ms of warm-up each step runs in turn (a fault,
// then how long to run after it). The run is checked for
// linearizability with the correct protocol, which must pass, and with
// the planted bug mutant, which must be caught.
type leaseScenario struct {
	seed        uint64
	rtt         [][]float64
	writerSites []paxos.NodeID
	readRate    float64
	steps       []leaseStep
}

type leaseStep struct {
	fault func(*sim.Sim) error
	run   time.Duration
}

func (sc leaseScenario) check(t *testing.T, mutant string) {
	t.Helper()
	for _, broken := range []bool{false, true} {
		newReplica := New
		if broken {
			m, err := paxos.LookupMutant(mutant)
			require.NoError(t, err)
			newReplica = m.New
		}
		s, err := sim.New(sim.Config{New: newReplica, N: 3, RTT: sc.rtt, Seed: sc.seed,
			Replica: paxos.Config{InitialLeader: 0, LeaseTicks: 6, SnapshotEvery: -1}})
		require.NoError(t, err)
		writer := sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
			return paxos.Command{Op: paxos.OpPut, Key: "k", Value: fmt.Sprint(rng.Uint64())}
		})
		reader := sim.WorkloadFunc(func(*rand.Rand) paxos.Command { return paxos.Command{Op: paxos.OpGet, Key: "k"} })
		for _, site := range sc.writerSites {
			_, err := s.AddClient(sim.ClientConfig{Site: site, Workload: writer, RetryTimeout: 400 * time.Millisecond})
			require.NoError(t, err)
		}
		_, err = s.AddClient(sim.ClientConfig{Site: 0, Rate: sc.readRate, Workload: reader, RetryTimeout: 400 * time.Millisecond})
		require.NoError(t, err)
		s.Run(300 * time.Millisecond)
		for _, st := range sc.steps {
			require.NoError(t, st.fault(s))
			s.Run(st.run)
		}

		verdict, err := check.CheckLinearizable(check.FromSim(s.History()), 30*time.Second)
		require.NoError(t, err)
		if broken {
			assert.Equal(t, check.NotLinearizable, verdict, "%s must be caught", mutant)
		} else {
			assert.Equal(t, check.Linearizable, verdict)
		}
	}
}

// TestCheckerCatchesLeaseThatNeverExpires is the negative test for lease
// reads: an old leader that keeps answering Gets locally after it was cut
// off, while the majority elects a new leader and writes, serves stale
// values, and the linearizability check must say so. The same scenario with
// correct leases passes (TestLeaseReads).
func TestCheckerCatchesLeaseThatNeverExpires(t *testing.T) {
	leaseScenario{seed: 5, rtt: sim.Uniform(3, 4), writerSites: []paxos.NodeID{1, 2}, readRate: 100,
		steps: []leaseStep{{run: 1200 * time.Millisecond, fault: func(s *sim.Sim) error {
			return s.Partition([]paxos.NodeID{0}, []paxos.NodeID{1, 2})
		}}},
	}.check(t, "multi/lease-never-expires")
}
