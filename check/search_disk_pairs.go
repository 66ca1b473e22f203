package check

import (
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// injectDiskPairs makes disk losses come in pairs, or more: replicas that
// voted together lose their disks at the same time, as disks of one batch
// or one rack do. Each episode (one every 0.6 to 1.2 s while the window
// lasts, from N = 5: it needs two replicas without their disk and a quorum
// of the others) runs when every replica is up and none is rebuilding:
//
//  1. The busiest replica of the last interval L (by messages sent: a
//     leader) and N - F - 1 others form a quorum Q; for 15 to 50 ms what Q
//     sends the F others, R, is lost (R still reaches Q), so that what Q
//     decides rests on Q's votes alone and R hears none of it.
//  2. Then L and one more replica of Q lose their disks at once
//     (sim.Wipe, L last) and restart rebuilding, and the cut heals. For 5
//     to 40 ms the survivors of Q, S, and the wiped replicas do not hear
//     each other, so that the wiped replicas first hear each other and R. One replica of S has a timeout fire 0 to 5 ms after the
//     loss, and again twice as long and three times as long after it
//     unless S moved a round on by then (it stands first).
//  3. When a replica of S moves a round on (having handled a peer's
//     message, it persists something and sends to two peers or more: it
//     gathered a quorum), what it sends R from then on is lost with a
//     probability of 0.5 to 0.95 per message, so that its round reaches
//     some of R and not others.
//  4. When a wiped replica ends its rebuild (paxos.Rebuilder), the
//     survivors of Q (among them the leader it learned from) crash at
//     once, busiest since step 2 first, as long as at most F replicas are
//     then crashed or rebuilding, for 100 to 400 ms, and the lossy links
//     heal; they heal 800 ms after step 2 if no rebuild ends by then.
//
// Two replicas lose their disk at once, at most F as the model allows, and
// the crash in step 4 keeps at most F replicas crashed or rebuilding. (An
// earlier draft wiped up to F at once; at N = 7 three EPaxos replicas
// rebuilding together then never finished in one seed of 300, an EPaxos
// liveness gap since closed: see "Slow path when the fast one is lost" in
// epaxos/doc.go.) A
// replica that counts the answer of a peer rebuilding like itself learns
// too little from R and the other wiped replicas, ends its rebuild early
// and, once the replicas that held what S held are gone, votes with R
// against it. Nothing here names a message type. It needs clocks that may
// jump (no leader leases), runs alone in a share of the runs that lose
// disks (see diskPairsAlone) and draws from its own random stream.
func injectDiskPairs(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	f := (n - 1) / 2
	if f < 2 || !e.clockJumps {
		return
	}
	if _, ok := s.Replica(0).(paxos.Rebuilder); !ok {
		return
	}
	rng := rand.New(rand.NewPCG(e.seed, 0x6469736b70616972))
	ms := time.Millisecond
	last := make([]uint64, n)
	busiest := func(ids []int) []int {
		delta := make([]uint64, n)
		for id := 0; id < n; id++ {
			now := messagesSent(s, id)
			delta[id], last[id] = now-last[id], now
		}
		out := append([]int(nil), ids...)
		sort.SliceStable(out, func(i, j int) bool { return delta[out[i]] > delta[out[j]] })
		return out
	}
	rebuilds := func(id int) bool {
		rb, ok := s.Replica(paxos.NodeID(id)).(paxos.Rebuilder)
		return ok && s.Alive(paxos.NodeID(id)) && rb.Rebuilding()
	}
	// The episode under way, if any: the lossy links to heal and who may
	// crash when a wiped replica ends its rebuild.
	var (
		active              bool
		epoch               int // episodes begun
		wiped, surv, others []int
		lossy               []link
		loss                float64
		down                time.Duration
	)
	setLoss := func(p float64) {
		for _, l := range lossy {
			_ = s.SetLinkFaults(paxos.NodeID(l.from), paxos.NodeID(l.to), sim.Faults{Drop: p})
		}
	}
	finish := func() {
		if active {
			active = false
			setLoss(0)
			lossy = nil
		}
	}
	e.watchJumps()
	e.observers = append(e.observers, func(o sim.Output) {
		if !active {
			return
		}
		id := int(o.Replica)
		if lossy == nil && slices.Contains(surv, id) && o.Input != nil && len(o.Ready.Persist) > 0 && broadcasts(o) {
			// A survivor gathered a quorum and moves its round on: what it
			// sends R from now on may be lost.
			for _, b := range others {
				if !slices.Contains(surv, b) {
					lossy = append(lossy, link{id, b})
				}
			}
			setLoss(loss)
			return
		}
		if !slices.Contains(wiped, id) || rebuilds(id) {
			return
		}
		finish()
		for _, c := range busiest(surv) {
			if e.crash(c) {
				s.At(min(s.Now()+down, window), func() { e.restart(c) })
			}
		}
	})
	for t := dur(rng, 150*ms, 400*ms); t < window-100*ms; t += dur(rng, 600*ms, 1200*ms) {
		alone := dur(rng, 15*ms, 50*ms)
		held := dur(rng, 5*ms, 40*ms)
		stand := dur(rng, 0, 5*ms)
		p := 0.5 + 0.45*rng.Float64()
		d := dur(rng, 100*ms, 400*ms)
		order := rng.Perm(n)
		first := rng.IntN(n)
		s.At(t, func() {
			all := make([]int, n)
			for id := range all {
				all[id] = id
				if !s.Alive(paxos.NodeID(id)) || e.down[id] || rebuilds(id) {
					busiest(nil)
					return
				}
			}
			l := busiest(all)[0]
			q := []int{l}
			var r []int
			for _, id := range order {
				switch {
				case id == l:
				case len(q) < n-f:
					q = append(q, id)
				default:
					r = append(r, id)
				}
			}
			var toR []link
			for _, a := range q {
				for _, b := range r {
					toR = append(toR, link{a, b})
				}
			}
			cut := e.cut(toR)
			at := min(t+alone, window-1)
			s.At(at, func() {
				e.heal(cut)
				finish()
				w := q[:2]
				if !quorumsLeft(s, n, w...) {
					// The others must hold both quorums of the
					// cluster's quorum system for the rebuilds to end
					// (Flexible Paxos with Q1 = 4 of 5 tolerates one).
					return
				}
				surv = q[2:]
				for k := len(w) - 1; k >= 0; k-- {
					if s.Wipe(paxos.NodeID(w[k])) == nil {
						e.counts.crashes++
					}
				}
				deaf := e.cut(between(surv, w))
				s.At(at+held, func() { e.heal(deaf) })
				x := surv[first%len(surv)]
				for k := time.Duration(1); k <= 3; k++ {
					s.At(at+k*stand, func() {
						if active && lossy == nil {
							e.fireTimeout(x)
						}
					})
				}
				active, wiped, down, loss, lossy = true, w, d, p, nil
				epoch++
				others = append(append([]int(nil), surv...), r...)
				busiest(nil)
				ep := epoch
				s.At(min(at+800*ms, window-1), func() {
					if epoch == ep {
						finish()
					}
				})
			})
		})
	}
}

// diskPairsAlone runs the paired disk losses alone in one run in
// diskPairsShare of those that lose disks, without leases (whose
// faults are search_lease.go's), from N = 5.
func diskPairsAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	if !moreQuietRuns || leaseTicks > 0 || n < 5 || !has[FaultWipe] || len(on) == 0 {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x6469736b616c6e65)).IntN(diskPairsShare) != 0 {
		return on
	}
	return []injector{{FaultWipe, injectDiskPairs}}
}

// diskPairsShare: diskPairsAlone takes one run in this many.
const diskPairsShare = 3

// messagesSent is how many messages replica id has sent so far, of every
// type.
func messagesSent(s *sim.Sim, id int) uint64 {
	var t uint64
	for _, c := range s.Sent(paxos.NodeID(id)) {
		t += c
	}
	return t
}
