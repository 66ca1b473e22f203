package quorum

import (
	"fmt"
	"strconv"
	"strings"
)

// ExhaustiveLimit is the largest cluster for which Intersects enumerates
// every subset of replicas (2^N of them). Above it, Intersects applies the
// size rule of the systems in this package.
const ExhaustiveLimit = 16

// Intersects checks that every phase-1 quorum of sys meets every phase-2
// quorum, and returns an error wrapping ErrUnsafe that names two disjoint
// minimal quorums if not.
//
// Systems' predicates are monotone ("s contains a quorum"), so the check is:
// no set S is a phase-1 quorum while its complement is a phase-2 quorum. For
// N <= ExhaustiveLimit it enumerates all 2^N sets and so also catches a
// predicate that does not do what its sizes promise. For larger N it applies
// the size rule of Majority, Counting (Q1+Q2 > N), EPaxos (2(F+1) > N) and
// Grid (a row always meets a column), and refuses other systems.
func Intersects(sys System) error {
	if sys == nil {
		return fmt.Errorf("quorum: no quorum system: %w", ErrInvalid)
	}
	n := sys.N()
	if n < 1 || n > MaxReplicas {
		return fmt.Errorf("quorum: %s covers n=%d replicas: %w: want 1..%d", sys, n, ErrInvalid, MaxReplicas)
	}
	if n > ExhaustiveLimit {
		return intersectsBySize(sys)
	}
	full := Full(n)
	for v := uint64(0); v <= uint64(full); v++ {
		s := Set(v)
		if sys.IsPhase1(s) && sys.IsPhase2(full&^s) {
			q1 := shrink(s, sys.IsPhase1)
			q2 := shrink(full&^s, sys.IsPhase2)
			return fmt.Errorf("quorum: %s: phase-1 quorum %v and phase-2 quorum %v are disjoint: %w", sys, q1, q2, ErrUnsafe)
		}
	}
	return nil
}

// shrink removes members of s while it stays a quorum, giving a minimal one.
func shrink(s Set, isQuorum func(Set) bool) Set {
	for _, id := range s.IDs() {
		if t := s.Remove(id); isQuorum(t) {
			s = t
		}
	}
	return s
}

func intersectsBySize(sys System) error {
	switch q := sys.(type) {
	case Majority:
		return nil
	case Grid:
		return nil
	case EPaxos:
		return nil
	case Fast:
		return CheckFast(q.n, q.classic, q.fast)
	case Counting:
		if q.q1 < 1 || q.q2 < 1 || q.q1+q.q2 <= q.n {
			return fmt.Errorf("quorum: %s: q1=%d + q2=%d <= n=%d or a size below 1: %w", q, q.q1, q.q2, q.n, ErrUnsafe)
		}
		return nil
	}
	return fmt.Errorf("quorum: %s: %w: cannot check intersection of this system type over n=%d > %d replicas; add a size rule to quorum.Intersects",
		sys, ErrInvalid, sys.N(), ExhaustiveLimit)
}

// ParseSystem builds a quorum system over n replicas from a spec, as the
// command line takes it:
//
//	"" or "majority"          Majority
//	"epaxos"                  EPaxos (fast and slow quorums; n odd)
//	"q1=4,q2=2"               Counting with both sizes
//	"q2=2"                    Counting with q1 = n-q2+1 (the smallest safe q1)
//	"q1=4"                    Counting with q2 = n-q1+1
//	"grid=2x3"                Grid, rows for phase 1, columns for phase 2
//	"grid=2x3,transposed"     Grid, columns for phase 1, rows for phase 2
//
// Spaces are ignored and case does not matter. Every constructor's check
// applies: an unsafe spec is refused with an error wrapping ErrUnsafe, a
// malformed one with an error wrapping ErrInvalid that names the problem.
func ParseSystem(n int, spec string) (System, error) {
	s := strings.ToLower(strings.ReplaceAll(spec, " ", ""))
	switch s {
	case "", "majority":
		return NewMajority(n)
	case "epaxos":
		return NewEPaxos(n)
	}
	if rest, ok := strings.CutPrefix(s, "grid="); ok {
		dims, opt, _ := strings.Cut(rest, ",")
		if opt != "" && opt != "transposed" {
			return nil, fmt.Errorf("quorum: spec %q: %w: unknown grid option %q (want \"transposed\")", spec, ErrInvalid, opt)
		}
		rs, cs, ok := strings.Cut(dims, "x")
		rows, err1 := strconv.Atoi(rs)
		cols, err2 := strconv.Atoi(cs)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("quorum: spec %q: %w: want grid=ROWSxCOLS, e.g. grid=2x3", spec, ErrInvalid)
		}
		if rows*cols != n {
			return nil, fmt.Errorf("quorum: spec %q: %w: a %dx%d grid holds %d replicas, the cluster has n=%d", spec, ErrInvalid, rows, cols, rows*cols, n)
		}
		if opt == "transposed" {
			return NewGridTransposed(rows, cols)
		}
		return NewGrid(rows, cols)
	}
	q1, q2 := 0, 0
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		x, err := strconv.Atoi(v)
		if !ok || err != nil || (k != "q1" && k != "q2") {
			return nil, fmt.Errorf("quorum: spec %q: %w: cannot read %q; want majority, epaxos, q1=A,q2=B or grid=RxC", spec, ErrInvalid, kv)
		}
		if (k == "q1" && q1 != 0) || (k == "q2" && q2 != 0) {
			return nil, fmt.Errorf("quorum: spec %q: %w: %s given twice", spec, ErrInvalid, k)
		}
		if x < 1 || x > n {
			return nil, fmt.Errorf("quorum: spec %q: %w: %s=%d, a quorum size must be in 1..n=%d", spec, ErrInvalid, k, x, n)
		}
		if k == "q1" {
			q1 = x
		} else {
			q2 = x
		}
	}
	switch {
	case q1 == 0:
		q1 = n - q2 + 1
	case q2 == 0:
		q2 = n - q1 + 1
	}
	return NewCounting(n, q1, q2)
}
