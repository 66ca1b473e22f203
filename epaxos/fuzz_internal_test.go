package epaxos

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/fuzzin"
)

// FuzzStep is fuzzin.Drive (arbitrary messages from arbitrary peers, ticks,
// proposals; no panic, well-formed Readys) over one EPaxos replica, thrifty
// or not, now and then rebuilding after a lost disk (fuzzin.Cluster),
// checking that memory stays bounded by the window: no input takes any
// replica's row beyond the horizon it had before the input, give or take the Window instances a
// proposal may start (so one message creates at most ahead instances per
// row, where the probe's forged Commit created 200,000).
func FuzzStep(f *testing.F) {
	fuzzin.AddSeeds(f)
	samples := fuzzin.Samples("epaxos.")
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzin.New(data)
		n, rebuild := in.Cluster()
		cfg := paxos.Config{N: n, ID: paxos.NodeID(in.Intn(n)), Window: 4, Batch: 2, RetryTicks: 2, Thrifty: in.Bool(), Seed: 1, Rebuild: rebuild}
		r, err := NewReplica(cfg)
		require.NoError(t, err)
		before := make([]uint64, n)
		var rebuilding, installed bool
		horizons := func() {
			for q := range before {
				before[q] = r.horizon(paxos.NodeID(q))
			}
			rebuilding, installed = r.rb != nil, r.rb != nil && r.rb.installed
		}
		require.NoError(t, in.Drive(r, n, cfg.Batch, 300, samples, horizons, func(int) error {
			if rebuilding && (r.rb == nil || !installed && r.rb.installed) {
				// A peer's state was installed (checkState bounds what it
				// creates by its own size), or the rebuild ended (it
				// creates the instances of this replica's row that a
				// quorum reported unknown).
				return nil
			}
			for q, h := range before {
				if r.maxSlot[q] > fuzzin.AddCapped(h, uint64(cfg.Window)) {
					return fmt.Errorf("row %d reaches slot %d, beyond the horizon %d", q, r.maxSlot[q], h)
				}
			}
			return nil
		}))
	})
}
