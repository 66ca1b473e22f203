package bench_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/bench"
	"github.com/paxos-lab/paxos/lockservice"
)

// The lock workload opens a session, then acquires and releases, renewing
// every 20th operation; at 100% conflict every lock is the hot one.
func TestLocksWorkload(t *testing.T) {
	w := &bench.Locks{Pct: 100, Own: "mine"}
	rng := rand.New(rand.NewPCG(1, 2))
	var kinds []lockservice.Kind
	for i := 0; i < 40; i++ {
		c := w.Next(rng)
		require.Equal(t, paxos.OpApp, c.Op)
		req, err := lockservice.DecodeRequest(c.Payload)
		require.NoError(t, err)
		kinds = append(kinds, req.Kind)
		if req.Kind == lockservice.KindAcquire || req.Kind == lockservice.KindRelease {
			assert.Equal(t, bench.HotKey, req.Lock)
		}
	}
	assert.Equal(t, lockservice.KindOpen, kinds[0])
	assert.Equal(t, lockservice.KindAcquire, kinds[1])
	assert.Equal(t, lockservice.KindRelease, kinds[2])
	assert.Equal(t, lockservice.KindKeepAlive, kinds[19])
	assert.Equal(t, lockservice.KindKeepAlive, kinds[39])
}

// A simulated run of the lock service completes operations on every
// protocol it is given, and an unknown application is refused.
func TestLockServiceRun(t *testing.T) {
	protos := anyRegistered(t)
	m := preset(t, "epaxos2013")
	s := smallSpec(m, "epaxos2013")
	s.App, s.Protocols, s.Conflicts = bench.AppLockService, protos, []float64{25}
	s.Duration = time.Second
	r, err := bench.Run(context.Background(), s, bench.Options{})
	require.NoError(t, err)
	for _, row := range r.Summary {
		if row.Site == "all" {
			assert.Greater(t, row.Ops, 30, row.Protocol)
		}
	}
	s.App = "counter"
	_, err = bench.Run(context.Background(), s, bench.Options{})
	require.ErrorIs(t, err, bench.ErrSpec)
}

// The lock service live, with replicas in this process.
func TestLockServiceLive(t *testing.T) {
	if testing.Short() {
		t.Skip("live run takes seconds of wall time")
	}
	registered(t, "multi")
	s := bench.DefaultSpec()
	s.Mode, s.App, s.Protocols = bench.ModeLive, bench.AppLockService, []string{"multi"}
	s.Replicas, s.Clients, s.Duration, s.Warmup = 3, 4, time.Second, 300*time.Millisecond
	r, err := bench.Run(context.Background(), s, bench.Options{})
	require.NoError(t, err)
	for _, row := range r.Summary {
		if row.Site == "all" {
			assert.Greater(t, row.Ops, 10, "live lock service")
		}
	}
}
