package planted_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/internal/planted"
	"github.com/paxos-lab/paxos/quorum"
)

func TestQuorumsFailIntersects(t *testing.T) {
	u := planted.Quorums(5, 2, 2)
	assert.Equal(t, "UNSAFE-counting(n=5,q1=2,q2=2)", u.String())
	assert.True(t, planted.Is(u))
	safe, _ := quorum.NewCounting(5, 4, 2)
	assert.False(t, planted.Is(safe))
	assert.False(t, planted.Is(nil))
	err := quorum.Intersects(u)
	require.Error(t, err)
	assert.ErrorIs(t, err, quorum.ErrUnsafe)
	// The witness pair is minimal: two disjoint pairs.
	assert.Contains(t, err.Error(), "phase-1 quorum {0,1} and phase-2 quorum {3,4} are disjoint")
	// It still works as a system.
	assert.True(t, u.IsPhase1(quorum.Of(0, 1)))
	assert.True(t, u.IsPhase2(quorum.Of(2, 3)))
	assert.Equal(t, quorum.Of(4, 0), u.ChoosePhase2([]int{4}))
	assert.Equal(t, quorum.Set(0), planted.Quorums(3, 1, 0).ChoosePhase2(nil))
	assert.Equal(t, quorum.Full(3), planted.Quorums(3, 1, 4).ChoosePhase2(nil))
}

func TestByMessageCountsARepeatedReplyAsAnotherReplica(t *testing.T) {
	set := quorum.Of(0, 2)
	assert.Equal(t, 1, planted.ByMessage(set, 1, 3), "a first reply counts as its sender")
	assert.Equal(t, 1, planted.ByMessage(set, 2, 3), "a repeated reply stands for the lowest replica missing")
	assert.Equal(t, 2, planted.ByMessage(quorum.Of(0, 1, 2), 2, 3), "with every replica in, nothing is added")
}
