package multi

import (
	"math/rand/v2"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/stretchr/testify/require"
)

// TestPendingProposalsMatchesMapAndList drives pendingProposals with random
// adds, changes, removals (in order and out of order) and tidies, beside the
// map and id list it replaced, and compares what each holds and the order
// each visits.
func TestPendingProposalsMatchesMapAndList(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		q := newPendingProposals()
		ref := map[paxos.CommandID]proposal{}
		var order []paxos.CommandID
		next := uint64(1)
		for step := 0; step < 3000; step++ {
			op := rng.IntN(10)
			if step >= 2000 && op < 4 {
				op += 4 // drain: no more adds
			}
			switch {
			case op < 4:
				id := paxos.CommandID{Client: 1 + next%7, Seq: next}
				next++
				p := proposal{cmd: paxos.Command{Client: id.Client, Seq: id.Seq, Op: paxos.OpPut, Key: "k"}, sentAt: uint64(step)}
				q.add(id, p)
				ref[id], order = p, append(order, id)
			case op < 7 && len(order) > 0:
				// remove: the oldest live one, or any (always at even seeds)
				i := 0
				if seed%2 == 0 || rng.IntN(3) == 0 {
					i = rng.IntN(len(order))
					for try := 0; try < 20; try++ {
						if _, ok := ref[order[i]]; ok {
							break
						}
						i = rng.IntN(len(order))
					}
				}
				for ; i < len(order); i++ {
					if _, ok := ref[order[i]]; ok {
						break
					}
				}
				if i == len(order) {
					continue
				}
				id := order[i]
				got, ok := q.remove(id)
				require.True(t, ok)
				require.Equal(t, ref[id], got)
				delete(ref, id)
				_, ok = q.remove(id)
				require.False(t, ok, "removed twice")
			case op < 8 && len(order) > 0:
				id := order[rng.IntN(len(order))]
				_, pending := ref[id]
				require.Equal(t, pending, q.get(id) != nil, "get finds exactly the pending ids")
				if p := q.get(id); p != nil {
					p.committed, p.forwarded = true, !p.forwarded
					r := ref[id]
					r.committed, r.forwarded = true, !r.forwarded
					ref[id] = r
				} else {
					require.NotContains(t, ref, id)
				}
			default:
				q.tidy()
			}
			require.Equal(t, len(ref), q.len())
			if step%50 != 0 {
				continue
			}
			var visited []paxos.CommandID
			q.each(func(id paxos.CommandID, p *proposal) {
				visited = append(visited, id)
				require.Equal(t, ref[id], *p)
			})
			var want []paxos.CommandID
			for _, id := range order {
				if _, ok := ref[id]; ok {
					want = append(want, id)
				}
			}
			require.Equal(t, want, visited, "seed %d step %d", seed, step)
		}
		for _, id := range order {
			q.remove(id)
		}
		q.tidy()
		require.Empty(t, q.list, "seed %d: every entry dropped after the last removal", seed)
	}
}
