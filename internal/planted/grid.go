package planted

import (
	"fmt"

	"github.com/paxos-lab/paxos/quorum"
)

// ShortRows is a grid quorum system whose phase-1 check builds each row
// one column short (a loop bound written with < cols-1): any row without
// its last member counts as a phase-1 quorum, so a phase-1 quorum can miss
// the last column, a phase-2 quorum. Phase 2 is the grid's own (columns).
type ShortRows struct{ quorum.Grid }

// Grid returns the grid of rows x cols replicas with short rows.
func Grid(rows, cols int) (ShortRows, error) {
	g, err := quorum.NewGrid(rows, cols)
	return ShortRows{g}, err
}

// IsPhase1 implements quorum.System: s holds a row but for its last member.
func (g ShortRows) IsPhase1(s quorum.Set) bool {
	for r := 0; r < g.Rows(); r++ {
		var row quorum.Set
		for c := 0; c < g.Cols()-1; c++ {
			row = row.Add(r*g.Cols() + c)
		}
		if s&row == row {
			return true
		}
	}
	return false
}

// String implements quorum.System, e.g. "UNSAFE-grid(2x3,short-rows)".
func (g ShortRows) String() string {
	return fmt.Sprintf("UNSAFE-grid(%dx%d,short-rows)", g.Rows(), g.Cols())
}
