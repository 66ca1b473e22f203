package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestVaryThrifty(t *testing.T) {
	thrifty := 0
	for seed := uint64(1); seed <= 200; seed++ {
		assert.True(t, varyThrifty(true, searchRand(seed)), "a configured Thrifty is kept")
		if varyThrifty(false, searchRand(seed)) {
			thrifty++
		}
	}
	assert.InDelta(t, 100, thrifty, 30, "about half the seeds are thrifty")
}

func TestVaryStagger(t *testing.T) {
	staggered := 0
	for seed := uint64(1); seed <= 200; seed++ {
		assert.True(t, varyStagger(true, 0, seed), "a configured StaggerSnapshots is kept")
		assert.False(t, varyStagger(false, 0, seed), "no stagger without routine snapshots")
		if varyStagger(false, 10, seed) {
			staggered++
		}
	}
	assert.InDelta(t, 100, staggered, 30, "about half the seeds with snapshots stagger them")
}

func TestSlowLinksHealWithTheFaults(t *testing.T) {
	// Every seed that draws slow links must still finish its operations
	// once the faults heal (the window resets every link's faults).
	for seed := uint64(1); seed <= 20; seed++ {
		res, err := Run(Options{Protocol: "epaxos", Replicas: 3, Seed: seed, Ops: 60, Faults: []string{FaultRecovery}})
		assert.NoError(t, err)
		assert.Empty(t, res.Failures, "seed %d", seed)
	}
}
