// Package planted holds the building blocks of deliberately broken
// replicas: the planted bugs of the catalog (paxos.RegisterMutant, `paxos
// mutants`) and the negative tests that prove the checkers catch them.
//
// It is internal on purpose. Nothing a user of the library can import
// builds an unsafe replica: every public constructor checks its
// configuration, and only a system made here (which code outside this
// module cannot reach) gets past a protocol's quorum check.
package planted

import (
	"fmt"

	"github.com/paxos-lab/paxos/quorum"
)

// Counting is a counting quorum system with no intersection or range
// check: any Q1 replicas form a phase-1 quorum and any Q2 a phase-2 quorum,
// whatever N. A protocol run over one with Q1 + Q2 <= N can choose two
// values for one slot, which is what the negative tests need. Its String
// starts with "UNSAFE-" so it stands out in logs and replay lines.
type Counting struct{ n, q1, q2 int }

// Quorums returns the unchecked counting system over n replicas.
func Quorums(n, q1, q2 int) Counting { return Counting{n: n, q1: q1, q2: q2} }

// Is reports whether sys was made by Quorums or Grid. Protocol constructors skip
// their quorum intersection check for exactly these systems.
func Is(sys quorum.System) bool {
	switch sys.(type) {
	case Counting, ShortRows:
		return true
	}
	return false
}

// N implements quorum.System.
func (c Counting) N() int { return c.n }

// Q1 returns the phase-1 quorum size.
func (c Counting) Q1() int { return c.q1 }

// Q2 returns the phase-2 quorum size.
func (c Counting) Q2() int { return c.q2 }

// IsPhase1 implements quorum.System: s holds at least Q1 of the N replicas.
func (c Counting) IsPhase1(s quorum.Set) bool { return s.Within(c.n).Len() >= c.q1 }

// IsPhase2 implements quorum.System: s holds at least Q2 of the N replicas.
func (c Counting) IsPhase2(s quorum.Set) bool { return s.Within(c.n).Len() >= c.q2 }

// ChoosePhase2 implements quorum.System as quorum.Counting does: the
// first Q2 replicas of preference, then the lowest remaining ids.
func (c Counting) ChoosePhase2(preference []int) quorum.Set {
	switch {
	case c.q2 < 1 || c.n < 1:
		return 0
	case c.q2 >= c.n:
		return quorum.Full(min(c.n, quorum.MaxReplicas))
	}
	// Phase 2 of a counting system depends on N and Q2 only, so a checked
	// system with the same Q2 picks the same set.
	safe, err := quorum.NewCounting(c.n, c.n-c.q2+1, c.q2)
	if err != nil {
		return 0
	}
	return safe.ChoosePhase2(preference)
}

// String implements quorum.System, e.g. "UNSAFE-counting(n=5,q1=2,q2=2)".
func (c Counting) String() string {
	return fmt.Sprintf("UNSAFE-counting(n=%d,q1=%d,q2=%d)", c.n, c.q1, c.q2)
}

// ByMessage is the member a reply from `from` adds to the set of n
// replicas that answered, when replies are tallied by message instead of
// by sender (a planted bug): a repeated reply counts once more, standing
// for the lowest replica that has not answered.
func ByMessage(set quorum.Set, from, n int) int {
	if set.Has(from) {
		for i := 0; i < n; i++ {
			if !set.Has(i) {
				return i
			}
		}
	}
	return from
}
