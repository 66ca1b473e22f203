package epaxos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/longtest"
)

// crashStopRun drives n replicas through a random schedule: every replica
// proposes conflicting commands on one key while messages are delivered in
// random order and some are lost (thrifty on even seeds); then F replicas
// stop for good, leaving their instances half done. The survivors must then
// decide every instance any of them knows. It returns the instances still
// undecided after the survivors settled, how many TryPreAccepts ran, and
// how many of them were deferred.
func crashStopRun(t *testing.T, n int, seed uint64) (stuck []paxos.Instance, tryPreAccepts, deferred uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x11e))
	// Even seeds run thrifty: PreAccepts and Accepts go to the nearest
	// quorum only, and at N = 3 a leader may commit after one reply.
	nw := newNet(t, n, func(c *paxos.Config) { c.Seed, c.Thrifty = seed, seed%2 == 0 })
	f := (n - 1) / 2
	loss := 0.1 + 0.3*rng.Float64()
	steps := 40 + rng.IntN(200)
	client := uint64(0)
	for s := 0; s < steps; s++ {
		switch x := rng.IntN(10); {
		case x < 2:
			client++
			i := rng.IntN(n)
			// Mostly one hot key; some commands on a second key make the
			// dependency graph less uniform.
			key := "k"
			if rng.IntN(4) == 0 {
				key = "j"
			}
			nw.Propose(i, put(client, 1, key, fmt.Sprint(client)))
		case x < 9 && len(nw.Queue) > 0:
			j := rng.IntN(len(nw.Queue))
			m := nw.Queue[j]
			nw.Queue = slices.Delete(nw.Queue, j, j+1)
			if rng.Float64() < loss || !nw.Up[m.To] {
				continue
			}
			nw.Step(m)
		default:
			nw.Tick(rng.IntN(n), 1)
		}
	}
	// F replicas, chosen at random, stop for good.
	perm := rng.Perm(n)
	for _, i := range perm[:f] {
		nw.Crash(i)
	}
	nw.Drop(func(m paxos.Message) bool { return !nw.Up[m.From] || !nw.Up[m.To] })

	var ids []paxos.Instance
	seen := map[paxos.Instance]bool{}
	for i := 0; i < n; i++ {
		if !nw.Up[i] {
			continue
		}
		for q := range nw.rep(i).inst {
			for _, in := range nw.rep(i).inst[q] {
				if !seen[in.id] && in.status >= StatusPreAccepted {
					seen[in.id] = true
					ids = append(ids, in.id)
				}
			}
		}
	}
	done := nw.allDecided(ids...)
	nw.Settle(done, 3000)
	for i := 0; i < n; i++ {
		if nw.Up[i] {
			tryPreAccepts += nw.rep(i).Stats().TryPreAccepts
			deferred += nw.rep(i).Stats().Deferred
		}
	}
	for _, id := range ids {
		if !nw.allDecided(id)() {
			stuck = append(stuck, id)
		}
	}
	slices.SortFunc(stuck, func(a, b paxos.Instance) int {
		if a.Replica != b.Replica {
			return int(a.Replica) - int(b.Replica)
		}
		return int(a.Slot) - int(b.Slot)
	})
	return stuck, tryPreAccepts, deferred
}

// Recovery must stay live when F replicas stop for good in the middle of a
// run with heavy conflicts and loss: the survivors decide every instance
// they know, however the stopped leaders' instances were left, including
// instances whose TryPreAccepts block one another (deferral chains and
// cycles among the stopped leaders' instances).
func TestRecoveryLiveAfterCrashStop(t *testing.T) {
	seeds := 500
	if !longtest.Enabled() {
		seeds = 60
	}
	for _, n := range []int{3, 5, 7} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			t.Parallel()
			var tpa, deferred uint64
			for seed := uint64(1); seed <= uint64(seeds); seed++ {
				stuck, k, d := crashStopRun(t, n, seed)
				tpa += k
				deferred += d
				require.Empty(t, stuck, "n=%d seed=%d: instances never decided after %d replicas stopped", n, seed, (n-1)/2)
			}
			t.Logf("n=%d: %d seeds, %d TryPreAccept rounds, %d deferred", n, seeds, tpa, deferred)
		})
	}
}
