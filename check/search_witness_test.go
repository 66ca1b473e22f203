package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// The lone witnesses and the stranded proposals, each alone (as they run),
// keep the correct protocols correct (and live once they heal) at N = 5,
// and do act: they cut links in most runs.
func TestWitnessFaultsKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, in := range []injector{{FaultRecovery, injectLoneWitnesses}, {FaultRecovery, injectStrandedProposals}} {
		withInjectors(t, []injector{in}, func() {
			for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
				for _, n := range []int{5} { // the only size where they run (quietInjectors)
					acted := 0
					for seed := uint64(1); seed <= 6; seed++ {
						res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultRecovery},
							Replica: paxos.Config{InitialLeader: -1}})
						require.NoError(t, err)
						assert.True(t, res.OK(), "%s n=%d seed %d: %v", proto, n, seed, res.Failures)
						if res.Partitions > 0 {
							acted++
						}
					}
					assert.Positive(t, acted, "%s n=%d: the fault never acted", proto, n)
				}
			}
		})
	}
}
