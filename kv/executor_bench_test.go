package kv_test

import (
	"strconv"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// BenchmarkExecutorApply: the per-command cost of executing committed
// key-value commands through the executor (sessions and store): 50
// clients, each with its next seq, alternating puts and gets on 1000 keys.
func BenchmarkExecutorApply(b *testing.B) {
	e := kv.NewExecutor(paxos.Config{})
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	seqs := make([]uint64, 50)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := i % len(seqs)
		seqs[c]++
		cmd := paxos.Command{Client: uint64(c + 1), Seq: seqs[c], Op: paxos.OpPut, Key: keys[i%len(keys)], Value: "v"}
		if i%2 == 1 {
			cmd.Op, cmd.Value = paxos.OpGet, ""
		}
		if ex := e.Apply(cmd); ex.Duplicate {
			b.Fatal("duplicate")
		}
	}
}

// BenchmarkExecutorApplyDistinct: as BenchmarkExecutorApply, but every
// command a put of a key never written before (the live benchmark's 0%
// conflict workload), so the store grows as it runs.
func BenchmarkExecutorApplyDistinct(b *testing.B) { benchDistinct(b, false) }

// BenchmarkExecutorApplyDistinctSnapshots: BenchmarkExecutorApplyDistinct
// with a snapshot taken each time the store has doubled (as Multi-Paxos
// does with distinct keys), so the store copies each shard once after
// each snapshot (copy on write).
func BenchmarkExecutorApplyDistinctSnapshots(b *testing.B) { benchDistinct(b, true) }

func benchDistinct(b *testing.B, snapshots bool) {
	e := kv.NewExecutor(paxos.Config{})
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	seqs := make([]uint64, 1024)
	next := 1024
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := i % len(seqs)
		seqs[c]++
		cmd := paxos.Command{Client: uint64(c + 1), Seq: seqs[c], Op: paxos.OpPut, Key: keys[i], Value: "0123456789abcdef"}
		if ex := e.Apply(cmd); ex.Duplicate {
			b.Fatal("duplicate")
		}
		if snapshots && i == next {
			_ = e.Snapshot()
			next *= 2
		}
	}
}
