package multi_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/paxos-lab/paxos"
	_ "github.com/paxos-lab/paxos/multi"
	"github.com/paxos-lab/paxos/sim"
	"github.com/stretchr/testify/require"
)

func TestSmoke(t *testing.T) {
	for _, il := range []paxos.NodeID{0, -1} {
		s, err := sim.New(sim.Config{Protocol: "multi", N: 3, Replica: paxos.Config{InitialLeader: il}, Seed: 1, Record: true})
		require.NoError(t, err)
		for c := 0; c < 3; c++ {
			k := 0
			_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(c), Ops: 50, Workload: sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
				k++
				return paxos.Command{Op: paxos.OpPut, Key: "k", Value: fmt.Sprint(c, k)}
			})})
			require.NoError(t, err)
		}
		s.Run(5e9)
		h := s.History()
		done := 0
		for _, o := range h {
			if o.Done {
				done++
			}
		}
		t.Log(il, len(h), done, s.Now(), s.StepErrors())
		require.Equal(t, 150, done)
	}
}
