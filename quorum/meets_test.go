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

func TestAnswersAndAlone(t *testing.T) {
	m, err := NewMajority(5)
	require.NoError(t, err)
	var a Answers
	assert.True(t, a.Add(m, 1))
	assert.False(t, a.Add(m, 1), "a second answer from one peer counts once")
	assert.True(t, a.Add(m, 2))
	assert.False(t, a.Enough, "two of five leave a majority outside")
	assert.True(t, a.Add(m, 4))
	assert.True(t, a.Enough)
	assert.False(t, a.Add(m, 3), "answers after enough do not count: the bound is fixed")
	assert.Equal(t, Of(1, 2, 4), a.Set)

	assert.False(t, Alone(m, 0))
	one, err := NewMajority(1)
	require.NoError(t, err)
	assert.True(t, Alone(one, 0))
	c, err := NewCounting(5, 5, 1)
	require.NoError(t, err)
	assert.True(t, Alone(c, 0), "a phase-2 quorum of one")
}
