package basic

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/fuzzin"
)

// FuzzStep steps a sequence of basic messages with arbitrary fields from
// arbitrary senders (with ticks and proposals between them) into one
// replica, now and then rebuilding after a lost disk (fuzzin.Cluster), and
// checks after every input: no panic, a well-formed Ready, and
// memory bounded by the window: no slot beyond the horizon, except the slots
// this replica's own proposals took (each takes the slot after the highest
// known).
func FuzzStep(f *testing.F) {
	fuzzin.AddSeeds(f)
	samples := fuzzin.Samples("basic.")
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzin.New(data)
		n, rebuild := in.Cluster()
		cfg := paxos.Config{N: n, ID: paxos.NodeID(in.Intn(n)), Window: 4, Batch: 2, RetryTicks: 2, Seed: 1, Rebuild: rebuild}
		rep, err := New(cfg)
		require.NoError(t, err)
		r := rep.(*Replica)
		require.NoError(t, in.Drive(r, n, cfg.Batch, 400, samples, nil, func(int) error {
			limit := fuzzin.AddCapped(r.horizon(), uint64(r.stats.proposals))
			if r.maxSlot > limit {
				return fmt.Errorf("highest slot %d beyond the horizon %d", r.maxSlot, limit)
			}
			for s := range r.slots {
				if s > limit {
					return fmt.Errorf("slot %d beyond the horizon %d", s, limit)
				}
			}
			return nil
		}))
	})
}
