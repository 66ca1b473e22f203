package check

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	_ "github.com/paxos-lab/paxos/protocols"
)

// A run that decides an instance twice stops there, and reports as its
// first failure the very message the full run reports first (the replay
// line names the same seed): stopping early changes only how long a
// failing seed takes, not what it says.
func TestRunStopsAtFirstDoubleDecision(t *testing.T) {
	for _, c := range []struct {
		mutant string
		n      int
	}{
		{"multi/promise-not-persisted", 3},
		{"basic/promise-not-persisted", 5},
		{"multi/accept-stale-ballot", 5},
	} {
		m, err := paxos.LookupMutant(c.mutant)
		require.NoError(t, err)
		opts := Options{New: m.New, Replicas: c.n, Faults: AllFaults,
			Replica: paxos.Config{InitialLeader: -1}}
		// The first seed whose run stops at a double decision (which seed
		// that is moves with any change to the search).
		var stopped Result
		for seed := uint64(1); seed <= 500; seed++ {
			opts.Seed = seed
			stopped, err = Run(opts)
			require.NoError(t, err)
			if !stopped.OK() && strings.Contains(stopped.Failures[0], "decided twice") {
				break
			}
		}
		stopAtDoubleDecision = false
		full, err := Run(opts)
		stopAtDoubleDecision = true
		require.NoError(t, err)
		require.False(t, full.OK(), "%s n=%d seed %d", c.mutant, c.n, opts.Seed)
		require.False(t, stopped.OK(), "%s n=%d seed %d", c.mutant, c.n, opts.Seed)
		assert.Contains(t, stopped.Failures[0], "decided twice")
		assert.Equal(t, full.Failures[0], stopped.Failures[0], "%s n=%d seed %d", c.mutant, c.n, opts.Seed)
		assert.Less(t, stopped.Events, full.Events, "%s n=%d seed %d", c.mutant, c.n, opts.Seed)
		for _, f := range stopped.Failures {
			assert.NotContains(t, f, "liveness", "a stopped run judges no liveness")
		}
		t.Logf("%s n=%d seed %d: %d events, %s virtual (full run: %d events, %s)", c.mutant, c.n, opts.Seed,
			stopped.Events, stopped.Virtual, full.Events, full.Virtual)
	}
}
