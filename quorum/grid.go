package quorum

import "fmt"

// Grid arranges N = Rows*Cols replicas in a grid, replica id = r*Cols + c
// for row r and column c. By default a phase-1 quorum is any set containing a
// full row and a phase-2 quorum any set containing a full column (so a
// phase-2 quorum has Rows members); the transposed grid swaps the roles. Every
// row meets every column, so the system is always safe. Row-row or
// column-column pairings would not be, and are not offered.
type Grid struct {
	rows, cols int
	transposed bool
}

// NewGrid returns the grid with rows for phase 1 and columns for phase 2.
// rows and cols must be at least 1 and rows*cols at most MaxReplicas.
func NewGrid(rows, cols int) (Grid, error) {
	if rows < 1 || cols < 1 || rows*cols > MaxReplicas {
		return Grid{}, fmt.Errorf("quorum: grid %dx%d: %w: need rows, cols >= 1 and rows*cols <= %d", rows, cols, ErrInvalid, MaxReplicas)
	}
	return Grid{rows: rows, cols: cols}, nil
}

// NewGridTransposed returns the grid with columns for phase 1 and rows for
// phase 2: cheaper elections, a phase-2 quorum of Cols replicas.
func NewGridTransposed(rows, cols int) (Grid, error) {
	g, err := NewGrid(rows, cols)
	g.transposed = err == nil
	return g, err
}

// N implements System.
func (g Grid) N() int { return g.rows * g.cols }

// Rows returns the number of rows.
func (g Grid) Rows() int { return g.rows }

// Cols returns the number of columns.
func (g Grid) Cols() int { return g.cols }

// Transposed reports whether columns are the phase-1 quorums.
func (g Grid) Transposed() bool { return g.transposed }

// Row returns the replicas of row r.
func (g Grid) Row(r int) Set {
	var s Set
	for c := 0; c < g.cols; c++ {
		s = s.Add(r*g.cols + c)
	}
	return s
}

// Col returns the replicas of column c.
func (g Grid) Col(c int) Set {
	var s Set
	for r := 0; r < g.rows; r++ {
		s = s.Add(r*g.cols + c)
	}
	return s
}

func (g Grid) hasRow(s Set) bool {
	for r := 0; r < g.rows; r++ {
		if row := g.Row(r); s&row == row {
			return true
		}
	}
	return false
}

func (g Grid) hasCol(s Set) bool {
	for c := 0; c < g.cols; c++ {
		if col := g.Col(c); s&col == col {
			return true
		}
	}
	return false
}

// IsPhase1 implements System: s contains a full row (a full column when
// transposed).
func (g Grid) IsPhase1(s Set) bool {
	if g.transposed {
		return g.hasCol(s)
	}
	return g.hasRow(s)
}

// IsPhase2 implements System: s contains a full column (a full row when
// transposed).
func (g Grid) IsPhase2(s Set) bool {
	if g.transposed {
		return g.hasRow(s)
	}
	return g.hasCol(s)
}

// Phase2Quorums returns the minimal phase-2 quorums: the columns (the rows
// when transposed).
func (g Grid) Phase2Quorums() []Set {
	var out []Set
	if g.transposed {
		for r := 0; r < g.rows; r++ {
			out = append(out, g.Row(r))
		}
		return out
	}
	for c := 0; c < g.cols; c++ {
		out = append(out, g.Col(c))
	}
	return out
}

// ChoosePhase2 implements System. It returns the minimal phase-2 quorum (a
// column, or a row when transposed) whose worst member comes earliest in
// preference: with preference sorted nearest first, that is the quorum that
// can answer soonest. Ties go to the smaller sum of ranks, then the lower
// index. A leader puts its own id first in preference (rank 0, free), so a
// quorum containing it is favoured when the rest is no worse.
func (g Grid) ChoosePhase2(preference []int) Set {
	rank := ranks(g.N(), preference)
	var best Set
	bestMax, bestSum := -1, -1
	for _, q := range g.Phase2Quorums() {
		mx, sum := 0, 0
		for _, id := range q.IDs() {
			sum += rank[id]
			if rank[id] > mx {
				mx = rank[id]
			}
		}
		if bestMax < 0 || mx < bestMax || (mx == bestMax && sum < bestSum) {
			best, bestMax, bestSum = q, mx, sum
		}
	}
	return best
}

// String implements System, e.g. "grid(2x3)" or "grid(2x3,transposed)".
func (g Grid) String() string {
	if g.transposed {
		return fmt.Sprintf("grid(%dx%d,transposed)", g.rows, g.cols)
	}
	return fmt.Sprintf("grid(%dx%d)", g.rows, g.cols)
}

// ranks gives each id in 0..n-1 its position in preference (first
// occurrence); ids missing from preference rank after all listed ones, in
// increasing order, matching firstK.
func ranks(n int, preference []int) []int {
	rank := make([]int, n)
	for i := range rank {
		rank[i] = -1
	}
	next := 0
	for _, id := range preference {
		if id >= 0 && id < n && rank[id] < 0 {
			rank[id] = next
			next++
		}
	}
	for id := range rank {
		if rank[id] < 0 {
			rank[id] = next
			next++
		}
	}
	return rank
}
