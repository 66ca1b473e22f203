package kv_test

import (
	"strconv"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/proccpu"
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
		if ex := e.Apply(&cmd); ex.Duplicate {
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
		if ex := e.Apply(&cmd); ex.Duplicate {
			b.Fatal("duplicate")
		}
		if snapshots && i == next {
			_ = e.Snapshot()
			next *= 2
		}
	}
}

// batchKeys is how many distinct keys BenchmarkExecutorBatchDistinct
// writes into one executor before it starts over with an empty one, so the
// benchmark's memory stays bounded (about 1M keys, as after 1M commands of
// the live distinct-key workload).
const batchKeys = 1 << 20

// BenchmarkExecutorBatchDistinct: one op is a batch of 64 puts of keys
// never written before, applied through the executor one by one as a
// Multi-Paxos replica applies a chosen slot, from 1024 clients each with
// its next seq (exactly-once sessions included). The store grows to
// batchKeys keys and then starts over empty.
func BenchmarkExecutorBatchDistinct(b *testing.B) {
	keys := make([]string, batchKeys)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	benchBatches(b, keys, true)
}

// BenchmarkExecutorBatchReuse: as BenchmarkExecutorBatchDistinct, but the
// puts cycle over 4096 keys, so after warm-up every put overwrites a key.
func BenchmarkExecutorBatchReuse(b *testing.B) {
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	benchBatches(b, keys, false)
}

func benchBatches(b *testing.B, keys []string, restart bool) {
	const batch, clients = 64, 1024
	e := kv.NewExecutor(paxos.Config{})
	seqs := make([]uint64, clients)
	cmds := make([]paxos.Command, batch)
	next, c := 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := proccpu.Time()
	for i := 0; i < b.N; i++ {
		if next+batch > len(keys) {
			next = 0
			if restart {
				e = kv.NewExecutor(paxos.Config{})
				clear(seqs)
			}
		}
		for j := range cmds {
			seqs[c]++
			cmds[j] = paxos.Command{Client: uint64(c + 1), Seq: seqs[c], Op: paxos.OpPut, Key: keys[next], Value: "0123456789abcdef"}
			next++
			c = (c + 1) % clients
		}
		for _, cmd := range cmds {
			if ex := e.Apply(&cmd); ex.Duplicate {
				b.Fatal("duplicate")
			}
		}
	}
	cpu := proccpu.Time() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/cmd")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*batch), "cpu-ns/cmd")
}

// BenchmarkSnapshotDecode: decoding a snapshot of a store of 100k distinct
// keys (what a replica does when it installs a peer's snapshot or
// recovers from its own).
func BenchmarkSnapshotDecode(b *testing.B) {
	e := kv.NewExecutor(paxos.Config{})
	for i := 0; i < 100_000; i++ {
		e.Apply(&paxos.Command{Client: 1, Seq: uint64(i + 1), Op: paxos.OpPut, Key: "key-" + strconv.Itoa(i), Value: "0123456789abcdef"})
	}
	data, err := msgpack.Marshal(e.Snapshot())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var snap kv.Snapshot
		if err := msgpack.Unmarshal(data, &snap); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstBatchAfterSnapshot: one op takes a snapshot of a store of
// 1M distinct keys and applies the next batch of 64 puts of new keys, the
// batch that pays for copying, on write, what the snapshot shares (B/op:
// the bytes it copies). A replica executes that batch on its loop, so
// what it copies there stalls every command behind it.
func BenchmarkFirstBatchAfterSnapshot(b *testing.B) {
	const batch, clients = 64, 1024
	e := kv.NewExecutor(paxos.Config{})
	seqs := make([]uint64, clients)
	next := 0
	put := func() {
		c := next % clients
		seqs[c]++
		e.Apply(&paxos.Command{Client: uint64(c + 1), Seq: seqs[c], Op: paxos.OpPut, Key: "key-" + strconv.Itoa(next), Value: "0123456789abcdef"})
		next++
	}
	for next < 1<<20 {
		put()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = e.Snapshot()
		for j := 0; j < batch; j++ {
			put()
		}
	}
}
