package quorum

import "fmt"

// Fast is the quorum system of Fast Paxos: any Classic replicas form a
// classic quorum (phase 1, and phase 2 of a classic round) and any FastSize
// replicas a fast quorum (phase 2 of a fast round, where proposers send to
// the acceptors directly and several values may compete).
//
// Safety needs two intersections, which NewFast enforces: any two classic
// quorums meet (2·classic > N), and any classic quorum meets any two fast
// quorums (classic + 2·fast > 2N), so that among the members of a classic
// quorum at most one value can have been accepted by all of some fast
// quorum's members there. The second rule implies classic + fast > N.
type Fast struct {
	n, classic, fast int
}

// FastDefaults returns the default sizes for n replicas: classic
// floor(n/2)+1 and fast ceil(3n/4).
func FastDefaults(n int) (classic, fast int) {
	return MajoritySize(n), (3*n + 3) / 4
}

// CheckFast reports whether classic and fast quorums of the given sizes are
// safe for n replicas: sizes in 1..n (else ErrInvalid), 2·classic > n and
// classic + 2·fast > 2n (else ErrUnsafe). The error says what to change.
func CheckFast(n, classic, fast int) error {
	if n < 1 || n > MaxReplicas {
		return fmt.Errorf("quorum: fast system over n=%d replicas: %w: want 1..%d replicas", n, ErrInvalid, MaxReplicas)
	}
	if classic < 1 || classic > n {
		return fmt.Errorf("quorum: classic quorum %d with n=%d: %w: a classic quorum size must be in 1..%d", classic, n, ErrInvalid, n)
	}
	if fast < 1 || fast > n {
		return fmt.Errorf("quorum: fast quorum %d with n=%d: %w: a fast quorum size must be in 1..%d", fast, n, ErrInvalid, n)
	}
	if 2*classic <= n {
		return fmt.Errorf("quorum: classic quorum %d with n=%d: two classic quorums could be disjoint (2*%d <= %d): %w; choose a classic quorum of at least %d",
			classic, n, classic, n, ErrUnsafe, MajoritySize(n))
	}
	if classic+2*fast <= 2*n {
		// The smallest fast size that works with this classic size, and
		// the smallest classic size that works with this fast size.
		minFast := (2*n-classic)/2 + 1
		minClassic := 2*n - 2*fast + 1
		hint := fmt.Sprintf("raise the fast quorum to %d", minFast)
		if minClassic <= n {
			hint += fmt.Sprintf(" or the classic quorum to %d", max(minClassic, MajoritySize(n)))
		}
		return fmt.Errorf("quorum: classic %d + 2*fast %d <= 2n=%d: a classic quorum could miss two fast quorums, so recovery could not tell which value a fast round chose: %w; %s",
			classic, fast, 2*n, ErrUnsafe, hint)
	}
	return nil
}

// NewFast returns the Fast Paxos system over n replicas with classic
// quorums of classic replicas and fast quorums of fast replicas, refusing
// sizes CheckFast refuses.
func NewFast(n, classic, fast int) (Fast, error) {
	if err := CheckFast(n, classic, fast); err != nil {
		return Fast{}, err
	}
	return Fast{n: n, classic: classic, fast: fast}, nil
}

// N implements System.
func (f Fast) N() int { return f.n }

// Classic returns the classic quorum size.
func (f Fast) Classic() int { return f.classic }

// FastSize returns the fast quorum size.
func (f Fast) FastSize() int { return f.fast }

// IsPhase1 implements System: s holds a classic quorum.
func (f Fast) IsPhase1(s Set) bool { return s.Within(f.n).Len() >= f.classic }

// IsPhase2 implements System: s holds a classic quorum (the quorum of a
// classic round's phase 2; see IsFast for fast rounds).
func (f Fast) IsPhase2(s Set) bool { return s.Within(f.n).Len() >= f.classic }

// IsFast reports whether s holds a fast quorum.
func (f Fast) IsFast(s Set) bool { return s.Within(f.n).Len() >= f.fast }

// ChoosePhase2 implements System: the first classic-quorum-many replicas of
// preference.
func (f Fast) ChoosePhase2(preference []int) Set { return firstK(f.n, f.classic, preference) }

// String implements System, e.g. "fast(n=5,classic=3,fast=4)".
func (f Fast) String() string {
	return fmt.Sprintf("fast(n=%d,classic=%d,fast=%d)", f.n, f.classic, f.fast)
}
