package check_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
)

// The default search (every fault, no other flag) catches a planted bug
// that survived 500 seeds before the race faults and the swarm over
// injectors (search_race.go, swarm in faults.go): Basic Paxos acceptors
// that do not persist their promises, at N = 5. It must stay within the
// 500-seed budget of CI's planted-bug stage; today the first seed that
// catches it is 17, as `paxos mutants` reports.
func TestDefaultSearchCatchesBasicPromiseNotPersistedAtFive(t *testing.T) {
	first := firstKill(t, "basic/promise-not-persisted", 5)
	require.Positive(t, first, "basic/promise-not-persisted at N = 5 survived 500 seeds")
	t.Logf("caught at seed %d", first)
}

// The correct protocols pass the seeds that catch the planted bugs, under
// the same faults: what the race faults find is the bug, not the faults.
func TestRaceFaultsKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, proto := range []string{"basic", "multi", "epaxos", "raft"} {
		for _, n := range []int{3, 5} {
			opts := check.Options{Protocol: proto, Replicas: n, Faults: check.AllFaults,
				Replica: paxos.Config{InitialLeader: -1}}
			_, failed := runSeeds(t, opts, 10)
			assert.Empty(t, failed, "%s n=%d", proto, n)
		}
	}
}
