package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// A configured hot-key share is kept; otherwise about a quarter of the
// seeds draw one of 0.3 to 1.
func TestVaryConflict(t *testing.T) {
	hot := 0
	for seed := uint64(1); seed <= 400; seed++ {
		assert.Equal(t, 0.25, varyConflict(0.25, seed))
		if c := varyConflict(0, seed); c > 0 {
			hot++
			assert.GreaterOrEqual(t, c, 0.3)
			assert.LessOrEqual(t, c, 1.0)
		}
	}
	assert.InDelta(t, 100, hot, 30)
}

// EPaxos replicas that break seq ties inside a strongly connected
// component by putting their own instances first execute interfering
// writes in different orders; a seed whose workload draws a hot key
// (352, one the default search catches at N = 5 on that key) shows it on
// that key, and the correct protocol passes the same seed.
func TestHotKeySeedCatchesExecTieLocalFirst(t *testing.T) {
	const seed = 352
	require.Positive(t, varyConflict(0, seed))
	m, err := paxos.LookupMutant("epaxos/exec-tie-local-first")
	require.NoError(t, err)
	opts := Options{New: m.New, Replicas: 5, Seed: seed, Faults: AllFaults, Replica: paxos.Config{InitialLeader: -1}}
	res, err := Run(opts)
	require.NoError(t, err)
	require.False(t, res.OK(), "seed %d passed", seed)
	assert.Contains(t, res.Failures[0], `key "hot"`)
	opts.New, opts.Protocol = nil, "epaxos"
	res, err = Run(opts)
	require.NoError(t, err)
	assert.True(t, res.OK(), "%v", res.Failures)
}
