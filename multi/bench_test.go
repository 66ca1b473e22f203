package multi_test

import (
	"fmt"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/multi"
)

// BenchmarkLeader measures the leader's CPU cost per command, stepping it in
// memory: propose a batch, collect the Accepts, deliver a phase-2 quorum of
// Accepted, collect the Commits and executions. Reported ns/op is per
// command.
func BenchmarkLeader(b *testing.B) {
	for _, n := range []int{3, 5} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("n=%d/batch=%d", n, batch), func(b *testing.B) {
				r, err := multi.New(paxos.Config{N: n, InitialLeader: 0, Batch: batch})
				if err != nil {
					b.Fatal(err)
				}
				r.Ready()
				keys := make([]string, 64)
				for i := range keys {
					keys[i] = fmt.Sprint("key", i)
				}
				b.ReportAllocs()
				b.ResetTimer()
				seq := uint64(0)
				for done := 0; done < b.N; done += batch {
					for k := 0; k < batch; k++ {
						seq++
						r.Propose(paxos.Command{Client: 1, Seq: seq, Op: paxos.OpPut, Key: keys[seq%64], Value: "v"})
					}
					rd := r.Ready()
					for _, m := range rd.Messages {
						a, ok := m.Body.(multi.Accept)
						if !ok {
							continue
						}
						if m.To <= paxos.NodeID(n/2) { // a majority with the leader
							if err := r.Step(paxos.Message{From: m.To, To: 0, Body: multi.Accepted{Ballot: a.Ballot, Slot: a.Slot}}); err != nil {
								b.Fatal(err)
							}
						}
					}
					rd = r.Ready()
					if len(rd.Executed) != batch {
						b.Fatalf("executed %d commands, want %d", len(rd.Executed), batch)
					}
				}
			})
		}
	}
}
