package fastpaxos_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// TestOverloadDrains: seven replicas, every message costing 216 µs of CPU
// (as in the checker's slowest runs), are proposed one command each at
// once every 25 ms for a second: 280 commands, every seven colliding for a
// slot. Once the burst ends, every replica executes every command within
// 10 s. When the leader resent each slot's Recover or Accept, and each
// proposer its Propose, every RetryTicks (25 ms) for as long as the
// answers took, the answers queued behind the burst made every slot resend
// to every replica once the queues held more than 25 ms of work; the
// resends and their answers came faster than the replicas could serve
// them, the queues never drained, and 10 s after the burst the replicas
// had executed 225 of the 280 commands (84 with thrifty recovery) and
// gained nothing more. The checker's rival bursts did this at N = 7 (seeds
// 84 and 148: a leader's resends, and answers to them, grew every
// replica's queue by thousands of messages a second, long after the
// faults healed). With each resend waiting twice as long as the one before
// (resendAfter), they all drain, in 1.4 s (4.2 s thrifty).
func TestOverloadDrains(t *testing.T) {
	for _, thrifty := range []bool{false, true} {
		t.Run(fmt.Sprintf("thrifty=%v", thrifty), func(t *testing.T) {
			const n, gap, burst = 7, 25 * time.Millisecond, time.Second
			s, err := sim.New(sim.Config{Protocol: "fastpaxos", N: n,
				Replica: paxos.Config{InitialLeader: 0, Thrifty: thrifty},
				CPU:     216 * time.Microsecond, Tick: 5 * time.Millisecond, Seed: 7})
			require.NoError(t, err)
			executed := make([]map[paxos.CommandID]bool, n)
			for i := range executed {
				executed[i] = map[paxos.CommandID]bool{}
			}
			s.Observe(func(out sim.Output) {
				for _, e := range out.Ready.Executed {
					if e.Command.Client != 0 && e.Err == "" {
						executed[out.Replica][e.Command.ID()] = true
					}
				}
			})
			proposed := 0
			for at := time.Duration(0); at < burst; at += gap {
				s.At(at, func() {
					for id := range n {
						proposed++
						c := paxos.Command{Client: uint64(proposed), Seq: 1, Op: paxos.OpPut, Key: "k", Value: fmt.Sprint(id)}
						require.NoError(t, s.Propose(paxos.NodeID(id), c))
					}
				})
			}
			s.Run(burst)
			all := func() bool {
				for _, m := range executed {
					if len(m) < proposed {
						return false
					}
				}
				return true
			}
			ok := s.RunUntil(all, burst+10*time.Second)
			got := make([]int, n)
			for id, m := range executed {
				got[id] = len(m)
			}
			require.True(t, ok, "10 s after the burst the replicas executed %v of %d commands", got, proposed)
		})
	}
}
