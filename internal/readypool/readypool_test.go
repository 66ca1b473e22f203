package readypool

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

func TestSparesReuseClearedLists(t *testing.T) {
	var s Spares
	var rd paxos.Ready
	s.Fill(&rd)
	require.Nil(t, rd.Executed, "nothing kept yet: lists stay nil")

	done := paxos.Ready{
		Persist:  []any{"record"},
		Messages: make([]paxos.Message, 1, 8),
		Executed: []paxos.Execution{{Output: "out"}},
	}
	s.Put(&done)
	require.Equal(t, paxos.Execution{}, done.Executed[0], "a kept list holds on to nothing")

	var next paxos.Ready
	s.Fill(&next)
	require.Nil(t, next.Persist, "Persist is never reused")
	require.Empty(t, next.Messages)
	require.Equal(t, 8, cap(next.Messages))
	require.Empty(t, next.Executed)
	require.Equal(t, 1, cap(next.Executed))
	require.Nil(t, next.Decided)

	var third paxos.Ready
	s.Fill(&third)
	require.Nil(t, third.Messages, "a kept list is handed out once")

	own := make([]paxos.Message, 0, 2)
	third.Messages = own
	s.Put(&paxos.Ready{Messages: make([]paxos.Message, 0, 4)})
	s.Fill(&third)
	require.Equal(t, 2, cap(third.Messages), "a list already set is left alone")
}

func TestSparesKeepTheLargerWithinBound(t *testing.T) {
	var s Spares
	s.Put(&paxos.Ready{Executed: make([]paxos.Execution, 0, 16)})
	s.Put(&paxos.Ready{Executed: make([]paxos.Execution, 0, 4)})
	s.Put(&paxos.Ready{Executed: make([]paxos.Execution, 0, maxKept+1)})
	var rd paxos.Ready
	s.Fill(&rd)
	require.Equal(t, 16, cap(rd.Executed))
}

func TestSparesKeepSeveralListsWithinBounds(t *testing.T) {
	var s Spares
	for i := 1; i <= maxLists+4; i++ {
		s.Put(&paxos.Ready{Committed: make([]paxos.Commit, 0, i)})
	}
	require.Len(t, s.committed.lists, maxLists, "at most maxLists lists of a kind are kept")
	for want := maxLists + 4; want > 4; want-- {
		var rd paxos.Ready
		s.Fill(&rd)
		require.Equal(t, want, cap(rd.Committed), "the largest kept list is handed out first; smaller ones made room for larger")
	}
	var rd paxos.Ready
	s.Fill(&rd)
	require.Nil(t, rd.Committed, "every kept list was handed out")
	require.Zero(t, s.committed.room)

	s.Put(&paxos.Ready{Decided: make([]paxos.Decision, 0, maxKept-10)})
	s.Put(&paxos.Ready{Decided: make([]paxos.Decision, 0, 20)})
	require.Len(t, s.decided.lists, 1, "a list that would exceed the capacity bound and is no larger is not kept")
	s.Put(&paxos.Ready{Decided: make([]paxos.Decision, 0, 5)})
	require.Len(t, s.decided.lists, 2)
	require.Equal(t, maxKept-5, s.decided.room)
}

// Room returns the list itself when it has room, and otherwise a copy of
// its elements in use with at least twice the capacity, or room for n.
func TestRoom(t *testing.T) {
	list := make([]int, 2, 4)
	list[0], list[1] = 1, 2
	same := Room(list, 2)
	require.Equal(t, &list[:cap(list)][0], &same[:cap(same)][0], "room enough: the same array")

	full := append(list, 3, 4)
	grown := Room(full, 1)
	require.Equal(t, []int{1, 2, 3, 4}, grown)
	require.Equal(t, 8, cap(grown), "doubled")
	require.Equal(t, 20, cap(Room(full, 16)), "room for n when more than double")
}
