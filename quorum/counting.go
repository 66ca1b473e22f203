package quorum

import (
	"errors"
	"fmt"
)

// ErrUnsafe is wrapped by every error about a quorum system in which some
// phase-1 quorum could miss some phase-2 quorum. Such a system can choose two
// different values for one slot.
var ErrUnsafe = errors.New("a phase-1 quorum could miss a phase-2 quorum")

// ErrInvalid is wrapped by errors about quorum parameters that make no sense
// at all (a size outside 1..n, a cluster outside 1..MaxReplicas, a spec that
// does not parse).
var ErrInvalid = errors.New("invalid quorum system")

// Counting is the Flexible Paxos counting system: any Q1 replicas form a
// phase-1 quorum and any Q2 replicas a phase-2 quorum. It is safe exactly when
// Q1 + Q2 > N, which NewCounting enforces. Phase-2 quorums need not intersect
// each other, so Q2 may be well below a majority.
type Counting struct {
	n, q1, q2 int
}

// NewCounting returns the counting system over n replicas with phase-1
// quorums of q1 and phase-2 quorums of q2 replicas. It refuses n outside
// 1..MaxReplicas and sizes outside 1..n (wrapping ErrInvalid), and
// q1 + q2 <= n (wrapping ErrUnsafe), naming the sizes.
func NewCounting(n, q1, q2 int) (Counting, error) {
	if n < 1 || n > MaxReplicas {
		return Counting{}, fmt.Errorf("quorum: counting system over n=%d replicas: %w: want 1..%d replicas", n, ErrInvalid, MaxReplicas)
	}
	if q1 < 1 || q1 > n {
		return Counting{}, fmt.Errorf("quorum: q1=%d with n=%d: %w: a phase-1 quorum size must be in 1..%d", q1, n, ErrInvalid, n)
	}
	if q2 < 1 || q2 > n {
		return Counting{}, fmt.Errorf("quorum: q2=%d with n=%d: %w: a phase-2 quorum size must be in 1..%d", q2, n, ErrInvalid, n)
	}
	if q1+q2 <= n {
		return Counting{}, fmt.Errorf("quorum: q1=%d + q2=%d <= n=%d: %w; choose q1+q2 > n, e.g. q1=%d,q2=%d",
			q1, q2, n, ErrUnsafe, n-q2+1, q2)
	}
	return Counting{n: n, q1: q1, q2: q2}, nil
}

// N implements System.
func (c Counting) N() int { return c.n }

// Q1 returns the phase-1 quorum size.
func (c Counting) Q1() int { return c.q1 }

// Q2 returns the phase-2 quorum size.
func (c Counting) Q2() int { return c.q2 }

// IsPhase1 implements System: s holds at least Q1 of the N replicas.
func (c Counting) IsPhase1(s Set) bool { return s.Within(c.n).Len() >= c.q1 }

// IsPhase2 implements System: s holds at least Q2 of the N replicas.
func (c Counting) IsPhase2(s Set) bool { return s.Within(c.n).Len() >= c.q2 }

// ChoosePhase2 implements System: it takes the first Q2 replicas of
// preference (then the lowest remaining ids). A leader that counts its own
// acceptance must put its own id first in preference, so that the quorum
// includes it and it waits for only Q2-1 remote replies.
func (c Counting) ChoosePhase2(preference []int) Set { return firstK(c.n, c.q2, preference) }

// String implements System, e.g. "counting(n=5,q1=4,q2=2)".
func (c Counting) String() string {
	return fmt.Sprintf("counting(n=%d,q1=%d,q2=%d)", c.n, c.q1, c.q2)
}
