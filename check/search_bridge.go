package check

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos/sim"
)

// injectBridgeBounces adds, when crashes are among the faults, split
// brains whose only shared replica keeps restarting. Three to eight times
// per run (one split at a time), the replicas other than a bridge (a
// random replica) are split into two halves that lose each other both
// ways for 100 to 700 ms, so that each half is a majority only with the
// bridge, and the two quorums that decide anything meanwhile intersect in
// the bridge alone. In half the splits the bridge starts them down for 20
// to 300 ms: neither side can decide, so both pile up proposals (retries,
// new commands, recoveries) for the same slots and instances, which meet
// at the bridge when it is back. While the split lasts, whenever the
// bridge answers a peer alone (a promise or a vote for a proposer, leader
// or recoverer on one side) it may crash right after that step: with
// probability 0.5 to 1 when its previous answer went to the other side
// (it just switched sides), a third of that otherwise, up to 2 to 10
// times per split. It restarts 1 to 10 ms later, and for 5 to 60 ms after the restart hears only the other side,
// whose requests (prepared, proposed or recovered from what the bridge
// said before) then reach it first. Whatever the bridge answered without
// making it durable (a promise above all, at any ballot, in phase 1 or in
// a recovery) is then forgotten exactly when the side it refused comes
// back with an older ballot; since no other replica is in both quorums,
// nothing else stops both sides from deciding. Answer bounces
// (injectAnswerBounces) restart a replica after it answers someone new,
// but with every replica reachable the two quorums usually share more
// than the bounced replica; gray splits bounce their bridge once. A
// quarter of the runs have none. It draws from its own random stream.
func injectBridgeBounces(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x6272696467656270))
	if n < 3 || rng.IntN(4) == 0 {
		return
	}
	p := 0.5 + 0.5*rng.Float64()
	type split struct {
		bridge int
		side   [2][]int
		until  time.Duration
		budget int
		last   int // the side the bridge answered last, -1 at first
	}
	var cur *split
	for k := 3 + rng.IntN(6); k > 0; k-- {
		t := dur(rng, 20*time.Millisecond, window)
		hold := dur(rng, 100*time.Millisecond, 700*time.Millisecond)
		perm := rng.Perm(n)
		budget := 2 + rng.IntN(9)
		away := time.Duration(0)
		if rng.IntN(2) == 0 {
			away = dur(rng, 20*time.Millisecond, 300*time.Millisecond)
		}
		s.At(t, func() {
			if cur != nil && s.Now() < cur.until {
				return // one split at a time
			}
			rest := perm[1:]
			half := len(rest) / 2
			sp := &split{bridge: perm[0], side: [2][]int{rest[:half], rest[half:]},
				until: min(s.Now()+hold, window), budget: budget, last: -1}
			cuts := e.cut(between(sp.side[0], sp.side[1]))
			e.counts.partitions++
			cur = sp
			if away > 0 && e.crash(sp.bridge) {
				// The bridge starts the split down: neither side can
				// decide, so both pile up proposals (retries, new
				// commands, recoveries) for the same slots and
				// instances, and meet at the bridge when it is back.
				s.At(min(s.Now()+away, sp.until), func() { e.restart(sp.bridge) })
			}
			s.At(sp.until, func() { e.heal(cuts) })
		})
	}
	e.observers = append(e.observers, func(o sim.Output) {
		sp := cur
		if sp == nil || int(o.Replica) != sp.bridge || s.Now() >= sp.until || sp.budget == 0 ||
			e.down[sp.bridge] || !answersAlone(o) {
			return
		}
		from := int(o.Input.From)
		which := -1
		for i := range sp.side {
			if slices.Contains(sp.side[i], from) {
				which = i
			}
		}
		if which < 0 {
			return
		}
		switched := sp.last >= 0 && sp.last != which
		sp.last = which
		if rng.Float64() >= p || (!switched && rng.IntN(3) != 0) {
			return
		}
		sp.budget--
		id := sp.bridge
		back := time.Duration(1+rng.IntN(10)) * time.Millisecond
		deafFor := dur(rng, 5*time.Millisecond, 60*time.Millisecond)
		answered := sp.side[which]
		s.At(s.Now(), func() {
			if !e.crash(id) {
				return
			}
			var in []link
			for _, q := range answered {
				in = append(in, link{q, id})
			}
			in = e.cut(in)
			s.At(s.Now()+back, func() { e.restart(id) })
			s.At(s.Now()+back+deafFor, func() { e.heal(in) })
		})
	})
}
