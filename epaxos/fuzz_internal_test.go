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
			// Installing a peer's state may take a row far ahead, but
			// creates no more instances than the state holds (at most
			// fuzzin.MaxLen here) and a window. Ending the rebuild creates
			// the slots of this replica's row that a quorum reported
			// unknown.
			installedNow := rebuilding && !installed && r.rb != nil && r.rb.installed
			ended := rebuilding && r.rb == nil
			for q, h := range before {
				limit := fuzzin.AddCapped(h, uint64(cfg.Window))
				if installedNow {
					limit = max(limit, fuzzin.AddCapped(r.gcUpTo[q], r.ahead()+fuzzin.MaxLen))
				}
				if ended && q == int(r.id) {
					continue
				}
				if r.maxSlot[q] > limit {
					return fmt.Errorf("row %d reaches slot %d, beyond %d (horizon before: %d)", q, r.maxSlot[q], limit, h)
				}
			}
			return nil
		}))
	})
}
