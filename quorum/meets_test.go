package quorum

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMeetsEvery(t *testing.T) {
	m, err := NewMajority(5)
	require.NoError(t, err)
	assert.True(t, MeetsEvery(m, Of(1, 2, 3)), "three of five meet every majority")
	assert.False(t, MeetsEvery(m, Of(1, 2)), "the other three form a majority")

	// q1=4, q2=2 over 5: the answering set must meet every pair, so it
	// needs four replicas; three leave a phase-2 quorum outside.
	c, err := NewCounting(5, 4, 2)
	require.NoError(t, err)
	assert.False(t, MeetsEvery(c, Of(0, 1, 2)))
	assert.True(t, MeetsEvery(c, Of(0, 1, 2, 3)))
}
