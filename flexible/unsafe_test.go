package flexible

import (
	"fmt"
	"strings"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/stretchr/testify/require"
)

// HandCounting is a counting quorum system a user might write by hand,
// with no checks of its own: any Q1 replicas form a phase-1 quorum, any Q2
// a phase-2 quorum. New must refuse it when Q1 + Q2 <= N. (Exported from
// this test file so the external tests can use it too.)
type HandCounting struct{ N0, Q1, Q2 int }

// N implements quorum.System.
func (c HandCounting) N() int { return c.N0 }

// IsPhase1 implements quorum.System.
func (c HandCounting) IsPhase1(s quorum.Set) bool { return s.Within(c.N0).Len() >= c.Q1 }

// IsPhase2 implements quorum.System.
func (c HandCounting) IsPhase2(s quorum.Set) bool { return s.Within(c.N0).Len() >= c.Q2 }

// ChoosePhase2 implements quorum.System.
func (c HandCounting) ChoosePhase2([]int) quorum.Set { return quorum.Full(c.Q2) }

// String implements quorum.System.
func (c HandCounting) String() string {
	return fmt.Sprintf("hand-counting(n=%d,q1=%d,q2=%d)", c.N0, c.Q1, c.Q2)
}

// unsafeNew builds the flexible engine over planted quorums of 2 out of 5, bypassing
// the intersection check that New performs: the planted bug
// flexible/unsafe-quorums.
func unsafeNew(cfg paxos.Config) (paxos.Replica, error) {
	m, err := paxos.LookupMutant("flexible/unsafe-quorums")
	if err != nil {
		return nil, err
	}
	return m.New(cfg)
}

func TestUnsafeQuorumsAreRefused(t *testing.T) {
	_, err := New(paxos.Config{N: 5, Quorums: HandCounting{5, 2, 2}, InitialLeader: -1})
	require.ErrorIs(t, err, paxos.ErrConfig)
	require.ErrorIs(t, err, quorum.ErrUnsafe)
	require.Contains(t, err.Error(), "q1=2,q2=2")
}

// TestUnsafeQuorumsAreCaught is the Flexible Paxos negative test: with
// Q1 = Q2 = 2 out of 5 a partition lets two leaders choose different values
// for one slot, and the checker must say so within a few seeds.
func TestUnsafeQuorumsAreCaught(t *testing.T) {
	found := uint64(0)
	for seed := uint64(1); seed <= 10 && found == 0; seed++ {
		res, err := check.Run(check.Options{New: unsafeNew, Replicas: 5, Seed: seed, Faults: []string{check.FaultPartition}, Replica: paxos.Config{InitialLeader: -1}})
		require.NoError(t, err)
		for _, f := range res.Failures {
			if strings.Contains(f, "decided twice") {
				t.Logf("seed %d: %.200s", seed, f)
				found = seed
				break
			}
		}
	}
	require.NotZero(t, found, "no two values chosen for one slot in 10 seeds with Q1=Q2=2 of 5")

	// The same seeds with the validated system Q1=4, Q2=2 stay correct.
	for seed := uint64(1); seed <= found; seed++ {
		res, err := check.Run(check.Options{Protocol: "flexible", Replicas: 5, Seed: seed, Faults: []string{check.FaultPartition}, Replica: paxos.Config{InitialLeader: -1},
			Quorums: func(n int) (quorum.System, error) { return quorum.NewCounting(n, 4, 2) }})
		require.NoError(t, err)
		require.Empty(t, res.Failures, "seed %d", seed)
	}
}
