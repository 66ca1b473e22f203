package multi

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/fuzzin"
)

// FuzzStep is fuzzin.Drive over one Multi-Paxos replica, leader or
// follower, with leases or not, thrifty or not, snapshotting every 4 slots,
// now and then rebuilding after a lost disk (fuzzin.Cluster).
// Beyond what Drive checks, memory stays bounded by the window: the log holds no
// slot beyond the horizon, a leader assigns none, and phase 1 collects no
// more entries than the window spans. Flexible Paxos runs this same engine
// (over other quorums), so this target covers it too.
func FuzzStep(f *testing.F) {
	fuzzin.AddSeeds(f)
	samples := fuzzin.Samples("multi.")
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzin.New(data)
		n, rebuild := in.Cluster()
		cfg := paxos.Config{N: n, ID: paxos.NodeID(in.Intn(n)), InitialLeader: paxos.NodeID(in.Intn(n+1) - 1),
			Window: 4, Batch: 2, SnapshotEvery: 4, RetryTicks: 2, ElectionTicks: 4, Seed: 1, Rebuild: rebuild}
		if in.Bool() {
			cfg.LeaseTicks = 3
		}
		r, err := NewEngine(cfg, Options{Thrifty: in.Bool()})
		require.NoError(t, err)
		require.NoError(t, in.Drive(r, n, cfg.Batch, 400, samples, nil, func(int) error {
			switch h := r.horizon(); {
			case r.lastSlot() > h:
				return fmt.Errorf("log up to slot %d, beyond the horizon %d", r.lastSlot(), h)
			case uint64(len(r.p1)) > r.ahead():
				return fmt.Errorf("phase 1 holds %d entries, more than the window %d", len(r.p1), r.ahead())
			case r.role == leader && r.next > fuzzin.AddCapped(h, 1):
				return fmt.Errorf("leader assigns slot %d, beyond the horizon %d", r.next, h)
			}
			return nil
		}))
	})
}
