package multi

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/fuzzin"
)

// FuzzStep steps a sequence of multi messages with arbitrary fields from
// arbitrary senders (with ticks and proposals between them) into one
// replica, leader or follower, and checks after every input: no panic, a
// well-formed Ready, and memory bounded by the window: the log holds no
// slot beyond the horizon, and phase 1 collects no more entries than it
// spans. Flexible Paxos runs this same engine (over other quorums), so
// this target covers it too.
func FuzzStep(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte{1, 1, 1, 0, 1, 1, 2, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7, 0, 240, 1})
	f.Add([]byte("\x00\x02\x01\x05\x02\x01\xe5\x01\x00\x02\x04\x01\x01\x00\x06\x00\x03\x02\x02\xf0"))
	samples := fuzzin.Samples("multi.")
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzin.New(data)
		n := 3 + 2*in.Intn(2)
		cfg := paxos.Config{N: n, ID: paxos.NodeID(in.Intn(n)), InitialLeader: paxos.NodeID(in.Intn(n+1) - 1),
			Window: 4, Batch: 2, SnapshotEvery: 4, RetryTicks: 2, ElectionTicks: 4, Seed: 1}
		if in.Bool() {
			cfg.LeaseTicks = 3
		}
		r, err := NewEngine(cfg, Options{Thrifty: in.Bool()})
		require.NoError(t, err)
		for step := 0; step < 400 && !in.Done(); step++ {
			switch c := in.Intn(16); {
			case c == 0:
				r.Tick()
			case c == 1:
				r.Propose(in.Command())
			default:
				to := r.me
				if in.Intn(16) == 0 {
					to = in.Node(n)
				}
				if err := r.Step(paxos.Message{From: in.Node(n), To: to, Body: in.Message(samples)}); err != nil {
					require.ErrorIs(t, err, paxos.ErrMalformed)
				}
			}
			rd := r.Ready()
			require.NoError(t, fuzzin.CheckReady(rd, r.me, n, cfg.Batch))
			require.LessOrEqual(t, r.lastSlot(), r.horizon(), "step %d: log beyond the horizon", step)
			require.LessOrEqual(t, uint64(len(r.p1)), r.ahead(), "step %d", step)
			if r.role == leader {
				require.LessOrEqual(t, r.next, r.horizon()+1, "step %d", step)
			}
		}
	})
}
