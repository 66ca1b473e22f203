package multi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/paxos-lab/paxos/sim"
	"github.com/stretchr/testify/require"
)

// runMillion proposes total commands (1000 per virtual millisecond, 1% of
// them at followers) to a 3-replica cluster that batches up to batch
// commands per slot and snapshots every snapEvery slots. It returns the
// most log entries any replica retained at any sampled moment, and the
// slots executed.
func runMillion(t testing.TB, total, batch, snapEvery int) (maxRetained int, slots uint64) {
	s, err := sim.New(sim.Config{Protocol: "multi", N: 3, Seed: 1,
		Replica: paxos.Config{InitialLeader: 0, Batch: batch, SnapshotEvery: snapEvery}})
	require.NoError(t, err)
	const perMs = 1000
	seq := make([]uint64, 100)
	for i := 0; i < total/perMs; i++ {
		at := time.Duration(i+1) * time.Millisecond
		s.At(at, func() {
			for k := 0; k < perMs; k++ {
				c := (i*perMs + k) % len(seq)
				seq[c]++
				site := paxos.NodeID(0)
				if k%100 == 0 {
					site = paxos.NodeID(1 + k/100%2)
				}
				_ = s.Propose(site, paxos.Command{Client: uint64(c + 1), Seq: seq[c], Op: paxos.OpPut, Key: fmt.Sprint("k", k%1000), Value: "v"})
			}
			for id := paxos.NodeID(0); id < 3; id++ {
				maxRetained = max(maxRetained, rep(s, id).LogLen())
			}
		})
	}
	s.Run(time.Duration(total/perMs)*time.Millisecond + 2*time.Second)
	for id := paxos.NodeID(0); id < 3; id++ {
		maxRetained = max(maxRetained, rep(s, id).LogLen())
		if id == 0 {
			slots = rep(s, id).Executed()
		} else {
			require.Equal(t, slots, rep(s, id).Executed(), "replica %d executed every slot", id)
		}
	}
	return maxRetained, slots
}

// TestCompactionBoundsLog runs 1,000,000 commands through the simulator
// with snapshots every 100 slots and checks the retained log stays bounded.
func TestCompactionBoundsLog(t *testing.T) {
	total := 1_000_000
	if !longtest.Enabled() {
		total = 50_000
	}
	retained, slots := runMillion(t, total, 100, 100)
	t.Logf("%d commands in %d slots; at most %d log entries retained", total, slots, retained)
	require.GreaterOrEqual(t, slots, uint64(total/100))
	// Bound: one snapshot interval of executed slots kept for catch-up
	// (see TestLogKeepsATailBetweenSnapshots) plus what is in flight.
	require.LessOrEqual(t, retained, 100+200)
}

// BenchmarkCompaction reports the log entries retained while 1,000,000
// commands (batch 1: a million slots) run through the simulator.
func BenchmarkCompaction(b *testing.B) {
	for range b.N {
		retained, slots := runMillion(b, 1_000_000, 1, 1000)
		b.ReportMetric(float64(retained), "retained-entries")
		b.ReportMetric(float64(slots), "slots")
	}
}
