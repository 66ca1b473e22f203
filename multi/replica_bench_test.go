package multi_test

import (
	"strconv"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/proccpu"
	"github.com/paxos-lab/paxos/multi"
)

// BenchmarkReplicaBatch64 is the per-command CPU cost of Multi-Paxos at
// N = 3 with batches of 64, summed over the three replicas stepped by hand:
// replica 0 leads, its clients propose puts on new keys, and after every 64
// the messages are delivered until the cluster is quiet (Accept, Accepted,
// Commit or Chosen, execution everywhere). With codec set every message also
// goes through the wire codec (paxos.AppendMessage, paxos.DecodeMessage), as
// between live replicas; records are not encoded. It is the live setting of
// the side-by-side comparison (docs/hot-path.md) without the runtime
// around the replicas.
func BenchmarkReplicaBatch64(b *testing.B) { benchReplicaBatchBoth(b, 3) }

// BenchmarkReplicaBatch64N5 is BenchmarkReplicaBatch64 with five replicas:
// the leader commits on two acknowledgements, so the other two followers'
// Accepted arrive after the commit (they get short commits too, having
// acknowledged earlier slots; see the multi package doc).
func BenchmarkReplicaBatch64N5(b *testing.B) { benchReplicaBatchBoth(b, 5) }

// benchReplicaBatchBoth runs benchReplicaBatch with n replicas without
// the codec ("protocol") and through it ("codec").
func benchReplicaBatchBoth(b *testing.B, n int) {
	for _, codec := range []bool{false, true} {
		name := "protocol"
		if codec {
			name = "codec"
		}
		b.Run(name, func(b *testing.B) { benchReplicaBatch(b, n, codec, false, 1) })
	}
	// 16 slots in flight, as 1024 clients keep them at the live peak: each
	// replica steps every message of a round before its Ready is taken, so
	// one Ready holds the executions of many slots.
	b.Run("codec-slots16", func(b *testing.B) { benchReplicaBatch(b, n, true, false, 16) })
	// Through the codec, every record of every Ready also encoded as the
	// WAL encodes it (paxos.AppendEncode), without writing it anywhere.
	b.Run("codec-wal", func(b *testing.B) { benchReplicaBatch(b, n, true, true, 1) })
}

// benchReplicaBatch proposes slots batches before delivering the messages.
// With one slot, each message is stepped and its receiver's Ready taken at
// once; with more, messages are delivered in rounds (every message queued
// is stepped, then every replica's Ready taken), as a live node steps the
// inputs that queued up before it carries out one Ready. With wal, each
// Ready's records are encoded (and dropped) before its lists are handed
// back.
func benchReplicaBatch(b *testing.B, n int, codec, wal bool, slots int) {
	const batch = 64
	var reps []paxos.Replica
	for i := 0; i < n; i++ {
		r, err := multi.New(paxos.Config{ID: paxos.NodeID(i), N: n, Batch: batch, InitialLeader: 0})
		if err != nil {
			b.Fatal(err)
		}
		reps = append(reps, r)
	}
	var (
		queue  []paxos.Message
		buf    []byte
		walBuf []byte
		done   int
	)
	// drain takes replica i's Ready and hands its lists back, as node.Node
	// does once it has carried a Ready out.
	drain := func(i int) {
		rd := reps[i].Ready()
		if wal {
			for _, rec := range rd.Persist {
				var err error
				if walBuf, err = paxos.AppendEncode(walBuf[:0], rec); err != nil {
					b.Fatal(err)
				}
			}
		}
		queue = append(queue, rd.Messages...)
		if i == 0 {
			done += len(rd.Committed)
		}
		if rc, ok := reps[i].(interface{ RecycleReady(*paxos.Ready) }); ok {
			rc.RecycleReady(&rd)
		}
	}
	step := func(m paxos.Message) {
		if codec {
			var err error
			if buf, err = paxos.AppendMessage(buf[:0], m); err != nil {
				b.Fatal(err)
			}
			if m, err = paxos.DecodeMessage(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := reps[m.To].Step(m); err != nil {
			b.Fatal(err)
		}
	}
	var round []paxos.Message
	deliver := func() {
		for len(queue) > 0 {
			if slots == 1 {
				m := queue[0]
				queue = queue[1:]
				step(m)
				drain(int(m.To))
				continue
			}
			round, queue = append(round[:0], queue...), queue[:0]
			for _, m := range round {
				step(m)
			}
			for j := range reps {
				drain(j)
			}
		}
	}
	for i := range reps {
		drain(i)
	}
	deliver()
	key := []byte("key-")
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := int64(proccpu.Time())
	for i := 0; i < b.N; i++ {
		key = strconv.AppendInt(key[:4], int64(i), 10)
		// 1024 clients, each with its commands in order, as in the live runs.
		reps[0].Propose(paxos.Command{Client: uint64(i%1024 + 1), Seq: uint64(i/1024 + 1), Op: paxos.OpPut, Key: string(key), Value: "0123456789abcdef"})
		if i%(batch*slots) == batch*slots-1 {
			drain(0)
			deliver()
		}
		if i%(100*batch) == 100*batch-1 {
			for j := range reps {
				reps[j].Tick() // heartbeats, as the live leader sends them
				drain(j)
			}
			deliver()
		}
	}
	b.StopTimer()
	// The process's CPU time, the collector's included, varies less than
	// elapsed time on a shared machine.
	b.ReportMetric(float64(int64(proccpu.Time())-cpu0)/float64(b.N), "cpu-ns/cmd")
	if done < b.N-batch*slots {
		b.Fatalf("%d of %d commands committed", done, b.N)
	}
}
