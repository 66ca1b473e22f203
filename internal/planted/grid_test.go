package planted

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/quorum"
)

// A short-row grid takes a row without its last member as a phase-1
// quorum, which misses the last column (a phase-2 quorum); phase 2 is the
// grid's own, and protocols skip their intersection check for it.
func TestShortRowsMissLastColumn(t *testing.T) {
	g, err := Grid(2, 3)
	require.NoError(t, err)
	row := quorum.Of(0).Add(1) // row 0 without replica 2
	lastCol := quorum.Of(2).Add(5)
	assert.True(t, g.IsPhase1(row))
	assert.True(t, g.IsPhase2(lastCol))
	assert.Zero(t, row&lastCol, "the phase-1 quorum misses the last column")
	assert.False(t, g.IsPhase2(row))
	assert.True(t, Is(g))
	assert.Contains(t, g.String(), "UNSAFE-")
	_, err = Grid(0, 3)
	assert.Error(t, err)
}
