package quorum

import (
	"errors"
	"fmt"
	"math/bits"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSet(t *testing.T) {
	s := Of(0, 2, 5)
	assert.Equal(t, 3, s.Len())
	assert.True(t, s.Has(2))
	assert.False(t, s.Has(1))
	assert.Equal(t, []int{0, 2, 5}, s.IDs())
	assert.Equal(t, "{0,2,5}", s.String())
	assert.Equal(t, "{}", Set(0).String())
	assert.Equal(t, Of(0, 5), s.Remove(2))
	assert.Equal(t, Of(0, 2), s.Within(5))
	assert.Equal(t, Set(0), Full(0))
	assert.Equal(t, Of(0, 1, 2), Full(3))
	assert.Equal(t, 64, Full(64).Len())
	assert.Equal(t, 64, Full(100).Len())
}

// TestSizesTable is the table of sizes for N = 3..17: majority, EPaxos
// fast and slow, EPaxos refusing even N.
func TestSizesTable(t *testing.T) {
	tests := []struct {
		n, majority, fast, slow int // fast = slow = 0: EPaxos refuses n
	}{
		{3, 2, 2, 2}, {4, 3, 0, 0}, {5, 3, 3, 3}, {6, 4, 0, 0}, {7, 4, 5, 4},
		{8, 5, 0, 0}, {9, 5, 6, 5}, {10, 6, 0, 0}, {11, 6, 8, 6}, {12, 7, 0, 0},
		{13, 7, 9, 7}, {14, 8, 0, 0}, {15, 8, 11, 8}, {16, 9, 0, 0}, {17, 9, 12, 9},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("n=", tt.n), func(t *testing.T) {
			m, err := NewMajority(tt.n)
			require.NoError(t, err)
			assert.Equal(t, tt.majority, m.Size())
			assert.Equal(t, tt.majority, MajoritySize(tt.n))
			assert.True(t, m.IsPhase2(Full(tt.majority)))
			assert.False(t, m.IsPhase2(Full(tt.majority-1)))

			e, err := NewEPaxos(tt.n)
			if tt.fast == 0 {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrInvalid)
				assert.Contains(t, err.Error(), "2F+1")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.n, e.N())
			assert.Equal(t, (tt.n-1)/2, e.F())
			assert.Equal(t, tt.fast, e.FastSize())
			assert.Equal(t, tt.slow, e.SlowSize())
			assert.Equal(t, (e.F()+1)/2, e.RecoveryOverlap())
			assert.True(t, e.IsFast(Full(tt.fast)))
			assert.False(t, e.IsFast(Full(tt.fast-1)))
			assert.True(t, e.IsSlow(Full(tt.slow)))
			assert.False(t, e.IsSlow(Full(tt.slow-1)))
			assert.Equal(t, tt.slow, e.ChoosePhase2(nil).Len())
			assert.Equal(t, tt.fast, e.ChooseFast(nil).Len())
		})
	}
}

func TestEPaxosSmall(t *testing.T) {
	e, err := NewEPaxos(1)
	require.NoError(t, err)
	assert.Equal(t, 1, e.FastSize(), "the leader alone is the fast quorum of one replica")
	assert.Equal(t, 1, e.SlowSize())
	for _, n := range []int{0, -1, 65, 2} {
		_, err := NewEPaxos(n)
		assert.Error(t, err, "n=%d", n)
	}
	e5, err := NewEPaxos(5)
	require.NoError(t, err)
	assert.Equal(t, "epaxos(n=5,fast=3,slow=3)", e5.String())
	assert.Equal(t, Of(4, 2, 0), e5.ChooseFast([]int{4, 2, 0, 1}))
	assert.Equal(t, Of(4, 0, 1), e5.ChooseFast([]int{4}))
	assert.False(t, e5.IsFast(Of(0, 1, 40)), "ids outside 0..N-1 do not count")
}

// TestRecoveryOverlapExhaustive checks, for every odd N <= 13, the
// fast/recovery intersection EPaxos recovery relies on, by enumerating all
// quorums.
func TestRecoveryOverlapExhaustive(t *testing.T) {
	for n := 1; n <= 13; n += 2 {
		if n > 11 && testing.Short() {
			continue
		}
		e, err := NewEPaxos(n)
		require.NoError(t, err)
		require.NoError(t, CheckRecoveryOverlap(e), "n=%d", n)
	}
	_, err := NewEPaxos(15)
	require.NoError(t, err)
	e15, _ := NewEPaxos(15)
	assert.ErrorIs(t, CheckRecoveryOverlap(e15), ErrInvalid)
}

// TestRecoveryOverlapCatchesBadFastQuorum: the pitfall of checking a plain
// majority as the fast quorum is caught, as is a fast quorum that overlaps
// recovery quorums too little.
func TestRecoveryOverlapCatchesBadFastQuorum(t *testing.T) {
	// N=7, F=3: a bare-majority fast quorum (4) shares only 1 replica besides
	// the leader with some recovery quorum; the optimized quorum needs 2.
	err := checkRecoveryOverlap("bad", 7, 4, 4, 2)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnsafe)
	assert.Contains(t, err.Error(), "shares only")
	// Slow quorums of F (not F+1) can be disjoint.
	err = checkRecoveryOverlap("bad", 5, 3, 2, 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "disjoint")
	// The correct sizes pass.
	require.NoError(t, checkRecoveryOverlap("ok", 7, 5, 4, 2))
}

func TestRecoveryOverlapIsTight(t *testing.T) {
	// The bound floor((F+1)/2) is attained: some fast quorum and recovery
	// quorum without the leader share exactly that many replicas.
	for n := 3; n <= 9; n += 2 {
		e, _ := NewEPaxos(n)
		minShared := n
		for _, q := range subsetsOfSize(n, e.FastSize()) {
			if !q.Has(0) {
				continue
			}
			for _, r := range subsetsOfSize(n, e.SlowSize()) {
				if !r.Has(0) && (q&r).Len() < minShared {
					minShared = (q & r).Len()
				}
			}
		}
		assert.Equal(t, e.RecoveryOverlap(), minShared, "n=%d", n)
	}
}

func TestCounting(t *testing.T) {
	c, err := NewCounting(5, 4, 2)
	require.NoError(t, err)
	assert.Equal(t, 5, c.N())
	assert.Equal(t, 4, c.Q1())
	assert.Equal(t, 2, c.Q2())
	assert.Equal(t, "counting(n=5,q1=4,q2=2)", c.String())
	assert.True(t, c.IsPhase1(Of(0, 1, 2, 3)))
	assert.False(t, c.IsPhase1(Of(0, 1, 2)))
	assert.True(t, c.IsPhase2(Of(3, 4)))
	assert.False(t, c.IsPhase2(Of(3)))
	assert.False(t, c.IsPhase2(Of(3, 9)), "id 9 is not a replica of n=5")
	// The leader puts itself first and is in the chosen quorum.
	assert.Equal(t, Of(3, 1), c.ChoosePhase2([]int{3, 1, 0, 2, 4}))
	// Bad ids and repeats in preference are skipped, then lowest ids fill.
	assert.Equal(t, Of(4, 0), c.ChoosePhase2([]int{4, 4, -1, 17}))
}

// TestCountingRejectsUnsafe: every Q1+Q2 <= N is refused, naming the sizes,
// and every Q1+Q2 > N is accepted, for N = 1..9.
func TestCountingRejectsUnsafe(t *testing.T) {
	for n := 1; n <= 9; n++ {
		for q1 := 1; q1 <= n; q1++ {
			for q2 := 1; q2 <= n; q2++ {
				c, err := NewCounting(n, q1, q2)
				if q1+q2 <= n {
					require.Error(t, err)
					assert.ErrorIs(t, err, ErrUnsafe)
					assert.Contains(t, err.Error(), fmt.Sprintf("q1=%d + q2=%d <= n=%d", q1, q2, n))
					continue
				}
				require.NoError(t, err)
				assert.NoError(t, Intersects(c))
			}
		}
	}
	c, err := NewCounting(5, 2, 2)
	require.Error(t, err)
	assert.Equal(t, "quorum: q1=2 + q2=2 <= n=5: a phase-1 quorum could miss a phase-2 quorum; choose q1+q2 > n, e.g. q1=4,q2=2", err.Error())
	assert.Equal(t, Counting{}, c)
}

func TestCountingRejectsInvalid(t *testing.T) {
	for _, tt := range []struct {
		n, q1, q2 int
		want      string
	}{
		{0, 1, 1, "n=0"}, {65, 33, 33, "n=65"}, {5, 0, 5, "q1=0"}, {5, 6, 2, "q1=6"},
		{5, 5, 0, "q2=0"}, {5, 3, 6, "q2=6"}, {-3, 1, 1, "n=-3"},
	} {
		_, err := NewCounting(tt.n, tt.q1, tt.q2)
		require.Error(t, err, "%+v", tt)
		assert.ErrorIs(t, err, ErrInvalid)
		assert.Contains(t, err.Error(), tt.want)
	}
}

func TestGrid(t *testing.T) {
	g, err := NewGrid(2, 3)
	require.NoError(t, err)
	assert.Equal(t, 6, g.N())
	assert.Equal(t, "grid(2x3)", g.String())
	// ids: row 0 = 0 1 2, row 1 = 3 4 5; column c = {c, 3+c}.
	assert.Equal(t, Of(3, 4, 5), g.Row(1))
	assert.Equal(t, Of(1, 4), g.Col(1))
	assert.True(t, g.IsPhase1(Of(3, 4, 5)))
	assert.True(t, g.IsPhase1(Of(0, 3, 4, 5)))
	assert.False(t, g.IsPhase1(Of(0, 1, 5)), "three replicas but no full row")
	assert.True(t, g.IsPhase2(Of(2, 5)))
	assert.False(t, g.IsPhase2(Of(0, 4)), "two replicas but no full column")
	// Every row meets every column.
	for r := 0; r < g.Rows(); r++ {
		for c := 0; c < g.Cols(); c++ {
			assert.Equal(t, 1, (g.Row(r) & g.Col(c)).Len())
		}
	}
	require.NoError(t, Intersects(g))

	tg, err := NewGridTransposed(2, 3)
	require.NoError(t, err)
	assert.Equal(t, "grid(2x3,transposed)", tg.String())
	assert.True(t, tg.Transposed())
	assert.True(t, tg.IsPhase1(Of(2, 5)))
	assert.False(t, tg.IsPhase1(Of(0, 1, 2)))
	assert.True(t, tg.IsPhase2(Of(0, 1, 2)))
	require.NoError(t, Intersects(tg))

	for _, bad := range [][2]int{{0, 3}, {3, 0}, {8, 9}, {-1, -1}} {
		_, err := NewGrid(bad[0], bad[1])
		assert.ErrorIs(t, err, ErrInvalid, "%v", bad)
		_, err = NewGridTransposed(bad[0], bad[1])
		assert.ErrorIs(t, err, ErrInvalid, "%v", bad)
	}
}

func TestGridChoosePhase2(t *testing.T) {
	g, err := NewGrid(3, 3) // columns {0,3,6} {1,4,7} {2,5,8}
	require.NoError(t, err)
	// Leader 4 first, then 1 and 7: column 1 has the best worst rank.
	assert.Equal(t, Of(1, 4, 7), g.ChoosePhase2([]int{4, 1, 7, 0, 2, 3, 5, 6, 8}))
	// Leader 4 first, but column 0 is entirely near: max rank 3 < column 1's.
	assert.Equal(t, Of(0, 3, 6), g.ChoosePhase2([]int{4, 0, 3, 6, 1, 2, 5, 7, 8}))
	// No preference: by id, column 0.
	assert.Equal(t, Of(0, 3, 6), g.ChoosePhase2(nil))
	tg, _ := NewGridTransposed(3, 3)
	assert.Equal(t, Of(6, 7, 8), tg.ChoosePhase2([]int{8, 7, 6}))
}

// allSystems builds every system of this package over n replicas: majority,
// every safe counting pair, every grid factorization in both orientations,
// and EPaxos for odd n.
func allSystems(t *testing.T, n int) []System {
	t.Helper()
	var out []System
	m, err := NewMajority(n)
	require.NoError(t, err)
	out = append(out, m)
	for q1 := 1; q1 <= n; q1++ {
		for q2 := n - q1 + 1; q2 <= n; q2++ {
			c, err := NewCounting(n, q1, q2)
			require.NoError(t, err)
			out = append(out, c)
		}
	}
	for r := 1; r <= n; r++ {
		if n%r == 0 {
			g, err := NewGrid(r, n/r)
			require.NoError(t, err)
			tg, err := NewGridTransposed(r, n/r)
			require.NoError(t, err)
			out = append(out, g, tg)
		}
	}
	if n%2 == 1 {
		e, err := NewEPaxos(n)
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

// TestIntersectionExhaustive enumerates, for every system and N <= 9, every
// pair of subsets and checks that whenever one is a phase-1 quorum and the
// other a phase-2 quorum they share a replica. It is independent of
// Intersects (which it also cross-checks), and checks that ChoosePhase2
// returns a phase-2 quorum.
func TestIntersectionExhaustive(t *testing.T) {
	for n := 1; n <= 9; n++ {
		var p1, p2 []Set
		for _, sys := range allSystems(t, n) {
			p1, p2 = p1[:0], p2[:0]
			for v := Set(0); v <= Full(n); v++ {
				if sys.IsPhase1(v) {
					p1 = append(p1, v)
				}
				if sys.IsPhase2(v) {
					p2 = append(p2, v)
				}
			}
			require.NotEmpty(t, p1, "%s has no phase-1 quorum", sys)
			require.NotEmpty(t, p2, "%s has no phase-2 quorum", sys)
			for _, a := range p1 {
				for _, b := range p2 {
					if a&b == 0 {
						t.Fatalf("%s: phase-1 %v and phase-2 %v disjoint", sys, a, b)
					}
				}
			}
			assert.NoError(t, Intersects(sys), "%s", sys)
			assert.Equal(t, n, sys.N())
			for _, pref := range [][]int{nil, {n - 1}, reverse(n)} {
				q := sys.ChoosePhase2(pref)
				assert.True(t, sys.IsPhase2(q), "%s ChoosePhase2(%v) = %v", sys, pref, q)
				assert.Equal(t, Set(0), q&^Full(n))
			}
		}
	}
}

func reverse(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = n - 1 - i
	}
	return out
}

// TestChoosePhase2Minimal: counting and majority pick exactly their size,
// preferring the listed order, and include the first preferred id.
func TestChoosePhase2Minimal(t *testing.T) {
	for n := 1; n <= 9; n++ {
		for _, sys := range allSystems(t, n) {
			q := sys.ChoosePhase2(reverse(n))
			// No member can be dropped: a minimal quorum.
			for _, id := range q.IDs() {
				assert.False(t, sys.IsPhase2(q.Remove(id)), "%s: %v is not minimal", sys, q)
			}
			if c, ok := sys.(Counting); ok {
				assert.Equal(t, c.Q2(), q.Len())
				assert.True(t, q.Has(n-1), "%s: leader first in preference must be chosen", sys)
			}
		}
	}
}

type brokenSystem struct{ Majority }

// IsPhase2 claims any single replica is a phase-2 quorum while phase 1
// stays a majority.
func (brokenSystem) IsPhase2(s Set) bool { return s != 0 }

func TestIntersectsCatchesBrokenPredicate(t *testing.T) {
	m, _ := NewMajority(3)
	err := Intersects(brokenSystem{m})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnsafe)
	assert.Contains(t, err.Error(), "phase-1 quorum {0,1} and phase-2 quorum {2}")
	// Beyond the enumeration limit an unknown type is refused, not waved through.
	big, _ := NewMajority(40)
	err = Intersects(brokenSystem{big})
	assert.ErrorIs(t, err, ErrInvalid)
	assert.True(t, errors.Is(Intersects(nil), ErrInvalid))
}

func TestIntersectsBySize(t *testing.T) {
	m, _ := NewMajority(64)
	c, _ := NewCounting(50, 40, 11)
	g, _ := NewGrid(8, 8)
	e, _ := NewEPaxos(63)
	for _, sys := range []System{m, c, g, e} {
		assert.NoError(t, Intersects(sys), "%s", sys)
	}
}

func TestParseSystem(t *testing.T) {
	for _, tt := range []struct {
		n    int
		spec string
		want string
	}{
		{5, "", "majority(5)"},
		{5, "majority", "majority(5)"},
		{5, " Majority ", "majority(5)"},
		{5, "epaxos", "epaxos(n=5,fast=3,slow=3)"},
		{5, "q1=4,q2=2", "counting(n=5,q1=4,q2=2)"},
		{5, "q2=2, q1=4", "counting(n=5,q1=4,q2=2)"},
		{5, "q2=2", "counting(n=5,q1=4,q2=2)"},
		{7, "q1=5", "counting(n=7,q1=5,q2=3)"},
		{6, "grid=2x3", "grid(2x3)"},
		{6, "grid=2x3,transposed", "grid(2x3,transposed)"},
	} {
		sys, err := ParseSystem(tt.n, tt.spec)
		require.NoError(t, err, "%q", tt.spec)
		assert.Equal(t, tt.want, sys.String())
	}
	for _, tt := range []struct {
		n         int
		spec      string
		want      string
		wantError error
	}{
		{5, "q1=2,q2=2", "q1=2 + q2=2 <= n=5", ErrUnsafe},
		{5, "q1=3,q1=4", "q1 given twice", ErrInvalid},
		{5, "q3=2", `cannot read "q3=2"`, ErrInvalid},
		{5, "q1=x", `cannot read "q1=x"`, ErrInvalid},
		{5, "q2=0", "q2=0", ErrInvalid},
		{5, "q2=7", "q2=7", ErrInvalid},
		{5, "grid=2x3", "holds 6 replicas, the cluster has n=5", ErrInvalid},
		{6, "grid=2by3", "grid=ROWSxCOLS", ErrInvalid},
		{6, "grid=2x3,sideways", `unknown grid option "sideways"`, ErrInvalid},
		{4, "epaxos", "2F+1", ErrInvalid},
		{0, "majority", "got 0", nil},
		{5, "paxos", `cannot read "paxos"`, ErrInvalid},
	} {
		_, err := ParseSystem(tt.n, tt.spec)
		require.Error(t, err, "%q", tt.spec)
		assert.Contains(t, err.Error(), tt.want)
		if tt.wantError != nil {
			assert.ErrorIs(t, err, tt.wantError)
		}
	}
}

func TestSubsetsOfSize(t *testing.T) {
	for n := 0; n <= 10; n++ {
		for k := 0; k <= n; k++ {
			subs := subsetsOfSize(n, k)
			want := 1
			for i := 0; i < k; i++ {
				want = want * (n - i) / (i + 1)
			}
			require.Len(t, subs, want, "C(%d,%d)", n, k)
			for _, s := range subs {
				require.Equal(t, k, bits.OnesCount64(uint64(s)))
				require.Equal(t, Set(0), s&^Full(n))
			}
		}
	}
	assert.Len(t, subsetsOfSize(64, 63), 64)
	assert.Nil(t, subsetsOfSize(3, 4))
}

func BenchmarkIntersects16(b *testing.B) {
	c, _ := NewCounting(16, 12, 5)
	for b.Loop() {
		if err := Intersects(c); err != nil {
			b.Fatal(err)
		}
	}
}
