package check

import (
	"fmt"

	"github.com/paxos-lab/paxos"
)

// Elections records which replica led each term, for election safety: at
// most one replica leads a term. Only replicas that implement
// paxos.ElectionReporter (Raft) are judged. The randomized checker and the
// explorer both use it, so the rule lives in one place.
type Elections struct {
	leaders map[uint64]paxos.NodeID // the first replica seen leading each term
}

// NewElections returns an empty record.
func NewElections() *Elections {
	return &Elections{leaders: map[uint64]paxos.NodeID{}}
}

// Observe looks at replica id's current leadership. It returns a failure
// message when id leads a term another replica led before, and "" otherwise
// (also when r does not report its elections). reports is false when r does
// not implement paxos.ElectionReporter.
func (e *Elections) Observe(id paxos.NodeID, r paxos.Replica) (failure string, reports bool) {
	er, ok := r.(paxos.ElectionReporter)
	if !ok {
		return "", false
	}
	term, leads := er.LeaderTerm()
	if !leads {
		return "", true
	}
	first, seen := e.leaders[term]
	if !seen {
		e.leaders[term] = id
		return "", true
	}
	if first != id {
		return fmt.Sprintf("election safety: replicas %d and %d both led term %d", first, id, term), true
	}
	return "", true
}
