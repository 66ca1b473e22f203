package epaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A long commit latency stretches the timeouts, but only up to maxPatience
// retry periods: instances that needed a recovery raise the latency, and an
// unbounded wait would feed on itself (liveness failures found by
// `paxos check` at N = 3 with Thrifty).
func TestPatienceIsCapped(t *testing.T) {
	nw := newNet(t, 3, nil)
	r := nw.rep(0)
	rt := uint64(nw.Config.RetryTicks)
	r.commitLat = 20
	assert.Equal(t, uint64(slowFactor*20), r.patience(1), "below the cap the latency decides")
	r.commitLat = 1e6
	assert.Equal(t, maxPatience*rt, r.patience(1))
	assert.Equal(t, maxPatience*rt, r.patience(recoverAfter))
	r.commitLat = 0
	assert.Equal(t, recoverAfter*rt, r.patience(recoverAfter), "never below k retry periods")
}
