package check

import (
	"strings"
	"testing"
	"time"

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

// The election watch fails a run the moment two replicas have led one
// term, naming them: Raft's vote forgotten by a late HardState
// (raft/hardstate-after-send) shows there, often before anything is
// decided twice. Correct Raft never trips it (the check lines of CI run it
// on every seed; here a few).
func TestRunStopsAtTwoLeadersOfOneTerm(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		res, err := Run(Options{Protocol: "raft", Replicas: 3, Seed: seed, Faults: AllFaults,
			Replica: paxos.Config{InitialLeader: -1}})
		require.NoError(t, err)
		assert.True(t, res.OK(), "correct raft seed %d: %v", seed, res.Failures)
	}
	m, err := paxos.LookupMutant("raft/hardstate-after-send")
	require.NoError(t, err)
	res, f := firstFailing(t, Options{New: m.New, Replicas: 3, Faults: AllFaults,
		Replica: paxos.Config{InitialLeader: -1}}, "election safety")
	assert.Regexp(t, `replicas \d and \d both led term \d+`, f)
	assert.Less(t, res.Virtual, 3*time.Second+livenessBound, "the run stopped at once")
}

// firstFailing runs opts over seeds 1 to 500 and returns the first run
// with a failure containing want, and that failure; it fails the test
// when none has.
func firstFailing(t *testing.T, opts Options, want string) (Result, string) {
	t.Helper()
	for opts.Seed = 1; opts.Seed <= 500; opts.Seed++ {
		res, err := Run(opts)
		require.NoError(t, err)
		for _, f := range res.Failures {
			if strings.Contains(f, want) {
				t.Logf("seed %d: %s", opts.Seed, f)
				return res, f
			}
		}
	}
	t.Fatalf("no seed of 500 failed with %q", want)
	return Result{}, ""
}

// A run in which no operation completes for stallBound after the faults
// healed is failed for liveness there instead of running on to
// livenessBound (multi/skip-holes: a hole left below decided slots stops
// execution for good).
func TestRunStopsWhenNothingCompletes(t *testing.T) {
	m, err := paxos.LookupMutant("multi/skip-holes")
	require.NoError(t, err)
	res, _ := firstFailing(t, Options{New: m.New, Replicas: 3, Faults: AllFaults,
		Replica: paxos.Config{InitialLeader: -1}}, "no operation completed")
	assert.Less(t, res.Virtual, 3*time.Second+stallBound+5*time.Second, "stopped one stallBound after the last completion")
}
