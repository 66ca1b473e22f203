package quorum

import "fmt"

// EPaxos is the quorum system of Egalitarian Paxos (Moraru, Andersen,
// Kaminsky, SOSP 2013) over N = 2F+1 replicas:
//
//   - the slow-path (Accept) quorum and the recovery (Prepare) quorum are
//     any F+1 replicas; as a System, phase 1 and phase 2 are both this;
//   - the optimized fast-path quorum is F + floor((F+1)/2) replicas
//     including the command leader (N=3: 2, N=5: 3, N=7: 5, N=9: 6).
//
// The optimized fast quorum is safe only together with the TryPreAccept step
// of recovery (CMU-PDL-13-111); it relies on the property checked by
// RecoveryOverlap. Even N is refused: with N=2F+2 two quorums of F+1 can be
// disjoint, and rounding F down would silently give unsafe slow quorums.
type EPaxos struct{ f int }

// NewEPaxos returns the EPaxos system over n replicas; n must be odd and in
// 1..MaxReplicas.
func NewEPaxos(n int) (EPaxos, error) {
	if n < 1 || n > MaxReplicas {
		return EPaxos{}, fmt.Errorf("quorum: epaxos over n=%d replicas: %w: want an odd n in 1..%d", n, ErrInvalid, MaxReplicas-1)
	}
	if n%2 == 0 {
		return EPaxos{}, fmt.Errorf("quorum: epaxos over n=%d replicas: %w: EPaxos needs n = 2F+1 (odd); with n=%d two slow quorums of F+1=%d could be disjoint; use n=%d or n=%d",
			n, ErrInvalid, n, n/2, n-1, n+1)
	}
	return EPaxos{f: (n - 1) / 2}, nil
}

// N implements System.
func (e EPaxos) N() int { return 2*e.f + 1 }

// F returns the number of failures tolerated, (N-1)/2.
func (e EPaxos) F() int { return e.f }

// FastSize returns the optimized fast-path quorum size F + floor((F+1)/2),
// counting the command leader; at least 1 (N=1 gives 1: the leader alone).
func (e EPaxos) FastSize() int {
	if s := e.f + (e.f+1)/2; s > 0 {
		return s
	}
	return 1
}

// SlowSize returns the slow-path and recovery quorum size F+1.
func (e EPaxos) SlowSize() int { return e.f + 1 }

// RecoveryOverlap returns floor((F+1)/2): the fewest replicas that any fast
// quorum Q (which contains its command leader L) shares with any recovery
// quorum R of F+1 replicas not containing L:
//
//	|Q ∩ R| = |(Q \ {L}) ∩ R| >= (F + floor((F+1)/2) - 1) + (F+1) - 2F,
//
// because Q \ {L} and R both lie inside the 2F replicas other than L.
// Recovery is started because L seems to have failed, so its F+1 replies
// normally come from replicas other than L; then, if the command may have
// committed on the fast path, at least floor((F+1)/2) of them report it
// pre-accepted with the fast-path attributes: the threshold at which
// recovery runs TryPreAccept. If L is among the replies, L reports its own
// state directly and the other F replies still share at least
// floor((F+1)/2)-1 members with Q. CheckRecoveryOverlap verifies both cases
// exhaustively.
func (e EPaxos) RecoveryOverlap() int { return (e.f + 1) / 2 }

// IsFast reports whether s holds at least FastSize replicas. s must include
// the command leader: a leader counts its own pre-accept.
func (e EPaxos) IsFast(s Set) bool { return s.Within(e.N()).Len() >= e.FastSize() }

// IsSlow reports whether s holds at least F+1 replicas.
func (e EPaxos) IsSlow(s Set) bool { return s.Within(e.N()).Len() >= e.SlowSize() }

// IsPhase1 implements System: a recovery quorum, F+1 replicas.
func (e EPaxos) IsPhase1(s Set) bool { return e.IsSlow(s) }

// IsPhase2 implements System: a slow-path (Accept) quorum, F+1 replicas.
func (e EPaxos) IsPhase2(s Set) bool { return e.IsSlow(s) }

// ChoosePhase2 implements System: the first F+1 replicas of preference. A
// command leader puts itself first.
func (e EPaxos) ChoosePhase2(preference []int) Set { return firstK(e.N(), e.SlowSize(), preference) }

// ChooseFast returns the first FastSize replicas of preference: where a
// thrifty command leader sends PreAccept. The leader puts itself first.
func (e EPaxos) ChooseFast(preference []int) Set { return firstK(e.N(), e.FastSize(), preference) }

// String implements System, e.g. "epaxos(n=5,fast=3,slow=3)".
func (e EPaxos) String() string {
	return fmt.Sprintf("epaxos(n=%d,fast=%d,slow=%d)", e.N(), e.FastSize(), e.SlowSize())
}

// CheckRecoveryOverlap verifies by enumeration the property RecoveryOverlap
// states. For every command leader L, every fast quorum Q containing L and
// every recovery quorum R of F+1 replicas: if L is not in R, |Q ∩ R| is at
// least RecoveryOverlap; if L is in R, |Q ∩ R \ {L}| is at least
// RecoveryOverlap-1. It also checks that any two slow quorums intersect and
// that every fast quorum meets every recovery quorum. Enumeration is over
// minimal quorums, so the cost grows like C(N, F+1)^2; it refuses N > 13.
func CheckRecoveryOverlap(e EPaxos) error {
	return checkRecoveryOverlap(e.String(), e.N(), e.FastSize(), e.SlowSize(), e.RecoveryOverlap())
}

// checkRecoveryOverlap is CheckRecoveryOverlap for arbitrary sizes, so tests
// can show it rejects an unsafe fast quorum.
func checkRecoveryOverlap(e string, n, fastSize, slowSize, want int) error {
	if n > 13 {
		return fmt.Errorf("quorum: exhaustive EPaxos recovery check of n=%d: %w: too many quorums to enumerate (limit 13)", n, ErrInvalid)
	}
	fast := subsetsOfSize(n, fastSize)
	slow := subsetsOfSize(n, slowSize)
	for _, r := range slow {
		for _, r2 := range slow {
			if r&r2 == 0 {
				return fmt.Errorf("quorum: %s: slow quorums %v and %v are disjoint: %w", e, r, r2, ErrUnsafe)
			}
		}
	}
	for l := 0; l < n; l++ {
		for _, q := range fast {
			if !q.Has(l) {
				continue
			}
			for _, r := range slow {
				if q&r == 0 {
					return fmt.Errorf("quorum: %s: fast quorum %v misses recovery quorum %v: %w", e, q, r, ErrUnsafe)
				}
				need := want
				if r.Has(l) {
					need--
				}
				if got := (q & r).Remove(l).Len(); got < need {
					return fmt.Errorf("quorum: %s: fast quorum %v of leader %d shares only %d replicas besides the leader with recovery quorum %v, want >= %d: %w",
						e, q, l, got, r, need, ErrUnsafe)
				}
			}
		}
	}
	return nil
}

// subsetsOfSize lists every k-subset of {0..n-1} in increasing numeric order.
func subsetsOfSize(n, k int) []Set {
	if k < 0 || k > n {
		return nil
	}
	if k == 0 {
		return []Set{0}
	}
	var out []Set
	// Gosper's hack over n-bit words.
	s := uint64(1)<<uint(k) - 1
	limit := uint64(Full(n))
	for s <= limit && s != 0 {
		out = append(out, Set(s))
		c := s & -s
		r := s + c
		if r == 0 { // overflowed past bit 63
			break
		}
		s = (((r ^ s) >> 2) / c) | r
	}
	return out
}
