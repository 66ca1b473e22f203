package check_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The default search (every fault, no other flag) catches the two EPaxos
// promises kept in memory only, which survived 500 seeds at N = 3 and 5
// before the split recoveries (search_split_recovery.go). They must stay
// within the 500-seed budget of CI's planted-bug stage; today the first
// seeds that catch them are 1 (N = 3) and 32 (N = 5), as `paxos mutants`
// reports.
func TestDefaultSearchCatchesPromisesInMemory(t *testing.T) {
	for _, name := range []string{"epaxos/promise-not-persisted", "epaxos/volatile-promise"} {
		for _, n := range []int{3, 5} {
			first := firstKill(t, name, n)
			require.Positive(t, first, "%s at N = %d survived 500 seeds", name, n)
			t.Logf("%s n=%d caught at seed %d", name, n, first)
		}
	}
}
