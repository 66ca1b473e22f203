package flexible_test

import (
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	_ "github.com/paxos-lab/paxos/flexible"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/stretchr/testify/require"
)

func counting(q1, q2 int) func(n int) (quorum.System, error) {
	return func(n int) (quorum.System, error) { return quorum.NewCounting(n, q1, q2) }
}

func grid(rows, cols int) func(n int) (quorum.System, error) {
	return func(n int) (quorum.System, error) { return quorum.NewGrid(rows, cols) }
}

func TestCheckFlexible(t *testing.T) {
	seeds := 20
	if !longtest.Enabled() {
		seeds = 4
	}
	cases := []struct {
		name string
		n    int
		q    func(int) (quorum.System, error)
	}{
		{"majority-3", 3, nil},
		{"q1=4,q2=2", 5, counting(4, 2)},
		{"q1=3,q2=3", 5, counting(3, 3)},
		{"grid2x3", 6, grid(2, 3)},
		{"grid3x3", 9, grid(3, 3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for seed := 1; seed <= seeds; seed++ {
				for _, il := range []paxos.NodeID{0, -1} {
					res, err := check.Run(check.Options{Protocol: "flexible", Replicas: c.n, Seed: uint64(seed), Faults: check.AllFaults,
						Quorums: c.q, Replica: paxos.Config{InitialLeader: il}})
					require.NoError(t, err)
					require.Empty(t, res.Failures, "seed %d leader %d: completed %d/%d", seed, il, res.Completed, res.Ops)
				}
			}
		})
	}
}
