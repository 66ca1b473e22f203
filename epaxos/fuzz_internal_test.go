package epaxos

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/fuzzin"
)

// FuzzStep steps a sequence of EPaxos messages with arbitrary fields from
// arbitrary senders (with ticks and proposals between them) into one
// replica and checks after every input: no panic, a well-formed Ready, and
// memory bounded by the window: no input makes any replica's row reach
// beyond the horizon it had before the input (so one message creates at
// most ahead instances per row, where the probe's forged Commit created
// 200,000).
func FuzzStep(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte{1, 1, 1, 0, 1, 1, 2, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7, 0, 240, 1})
	f.Add([]byte("\x00\x02\x01\x05\x02\x01\xe5\x01\x00\x02\x04\x01\x01\x00\x06\x00\x03\x02\x02\xf0"))
	samples := fuzzin.Samples("epaxos.")
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzin.New(data)
		n := 3 + 2*in.Intn(2)
		cfg := paxos.Config{N: n, ID: paxos.NodeID(in.Intn(n)), Window: 4, Batch: 2, RetryTicks: 2, Thrifty: in.Bool(), Seed: 1}
		r, err := NewWithOptions(cfg, Options{})
		require.NoError(t, err)
		before := make([]uint64, n)
		for step := 0; step < 300 && !in.Done(); step++ {
			for q := range before {
				before[q] = r.horizon(paxos.NodeID(q))
			}
			switch c := in.Intn(16); {
			case c == 0:
				r.Tick()
			case c == 1:
				r.Propose(in.Command())
			default:
				to := r.id
				if in.Intn(16) == 0 {
					to = in.Node(n)
				}
				if err := r.Step(paxos.Message{From: in.Node(n), To: to, Body: in.Message(samples)}); err != nil {
					require.ErrorIs(t, err, paxos.ErrMalformed)
				}
			}
			rd := r.Ready()
			require.NoError(t, fuzzin.CheckReady(rd, r.id, n, cfg.Batch))
			for q := range before {
				require.LessOrEqual(t, r.maxSlot[q], before[q]+uint64(cfg.Window), "step %d: row %d beyond the horizon", step, q)
			}
		}
	})
}
