package check

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// injectTornRounds adds torn second phases followed by a competing filler
// and a third proposer whose answers are ordered by sender. One schedule
// per run, from a start drawn in [10, 300) ms:
//
//  1. the torn round: the first replica P that advances (it handled a
//     peer's message and moves its round on to two peers or more, see
//     advances) after the start has that step reach at most a minority
//     less one of the cluster together with itself: 0 to n/2-1 of its
//     addressees, the torn set T being P and those; P crashes right after
//     (or, if it may not, is cut off both ways), and each addressee kept
//     is cut off both ways right after it handles what P sent it. What P
//     started is left with replicas that are too few to have decided it;
//  2. the silent filler: the first replica Q outside T that announces a
//     decision holding a Nop (it completed something left behind, through
//     a quorum without T) loses everything it sends in that step and is
//     cut off both ways for 0.5 to 1.5 s, so that nobody learns that
//     decision; within 0 to 30 ms the cuts of T heal and P restarts;
//  3. the third proposer: 20 to 300 ms later, a replica R (in two thirds
//     of the runs one of T, otherwise any live replica but Q) has its
//     clock run ahead until a timeout fires (fireTimeout), once or twice
//     30 to 200 ms apart, so that it goes over what was left behind
//     through a quorum that mixes T with the filler's voters; for 400 ms
//     the answers R gets are ordered by sender: those of one group (the
//     replicas outside T in most runs when R is in T, otherwise T or the
//     rest, half and half) are each held back by up to 2 to 30 ms.
//
// A proposer must then take the value accepted at the highest ballot
// among the answers, not the first or the last reported nor the oldest.
// Nothing here names a message type. It needs a quiet cluster, so it runs
// alone (see moreQuietInjectors). It draws from its own random stream.
func injectTornRounds(e *faultEnv) {
	tornRounds(e, rand.New(rand.NewPCG(e.seed, 0x746f726e726f756e)), nil)
}

// tornRounds runs injectTornRounds' schedule with rng; with tears set,
// only a replica it accepts may be the torn proposer P.
func tornRounds(e *faultEnv, rng *rand.Rand, tears func(id int) bool) {
	s, n := e.s, e.n
	if n < 3 {
		return
	}
	ms := time.Millisecond
	start := dur(rng, 10*ms, 300*ms)
	keep := rng.IntN(n / 2) // addressees P's torn step reaches
	down := dur(rng, 500*ms, 1500*ms)
	heal := upTo(rng, 30*ms)
	third := dur(rng, 20*ms, 300*ms)
	fires := 1 + rng.IntN(2)
	hold := dur(rng, 2*ms, 30*ms)
	fromT := rng.IntN(3) != 0
	holdTorn := rng.IntN(8) == 0

	const (
		idle = iota
		torn
		third1
		done
	)
	phase := idle
	p, q := -1, -1
	inT := make([]bool, n)
	var cuts [][]link // the torn set's cuts, healed at the filler's decision
	pDown := false
	isolate := func(id int) []link {
		var ls []link
		for x := 0; x < n; x++ {
			ls = append(ls, link{id, x}, link{x, id})
		}
		return e.cut(ls)
	}
	e.watchJumps()
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		now := s.Now()
		if e.down[id] || now >= e.window {
			return
		}
		switch phase {
		case idle:
			if now < start || !advances(o) || tears != nil && !tears(id) {
				return
			}
			// (1) P's step reaches keep of its addressees; P goes down.
			p, phase = id, torn
			inT[p] = true
			var lost []link
			kept := 0
			for _, i := range rng.Perm(len(o.Ready.Messages)) {
				to := int(o.Ready.Messages[i].To)
				if to == p || inT[to] || slices.Contains(lost, link{p, to}) {
					continue
				}
				if kept < keep {
					kept++
					inT[to] = true
					continue
				}
				lost = append(lost, link{p, to})
			}
			e.cut(lost)
			s.At(now, func() {
				e.heal(lost)
				if e.crash(p) {
					pDown = true
				} else {
					cuts = append(cuts, isolate(p))
				}
			})
		case torn:
			if id != p && inT[id] && o.Input != nil && int(o.Input.From) == p {
				s.At(now, func() { cuts = append(cuts, isolate(id)) })
				return
			}
			if inT[id] || !announces(o.Ready) || !decidesNop(o.Ready) {
				return
			}
			// (2) Q filled something with a Nop: nobody hears it.
			q, phase = id, third1
			var all []link
			for x := 0; x < n; x++ {
				all = append(all, link{q, x})
			}
			e.cut(all)
			s.At(now, func() {
				e.heal(all)
				qCut := isolate(q)
				s.At(now+down, func() { e.heal(qCut) })
			})
			s.At(now+heal, func() {
				for _, ls := range cuts {
					e.heal(ls)
				}
				cuts = nil
				if pDown {
					pDown = false
					e.restart(p)
				}
				s.At(s.Now()+third, func() { thirdProposer(e, rng, q, inT, fromT, holdTorn, hold, fires) })
			})
		}
	})
}

// thirdProposer runs step 3 of injectTornRounds: R's clock runs ahead
// until a timeout fires, while the answers it gets are ordered by sender.
func thirdProposer(e *faultEnv, rng *rand.Rand, q int, inT []bool, fromT, holdTorn bool, hold time.Duration, fires int) {
	s, n := e.s, e.n
	var pool []int
	for _, x := range rng.Perm(n) {
		if x != q && !e.down[x] && s.Alive(paxos.NodeID(x)) && (!fromT || inT[x]) {
			pool = append(pool, x)
		}
	}
	if len(pool) == 0 || s.Now() >= e.window {
		return
	}
	r := pool[0]
	// Hold back the group whose answers go last: outside T when R is one
	// of T (unless holdTorn), else either group.
	heldIsT := holdTorn
	if !inT[r] {
		heldIsT = rng.IntN(2) == 0
	}
	var held []int
	for x := 0; x < n; x++ {
		if x != r && inT[x] == heldIsT {
			held = append(held, x)
		}
	}
	set := func(f sim.Faults) {
		for _, x := range held {
			_ = s.SetLinkFaults(paxos.NodeID(x), paxos.NodeID(r), f)
		}
	}
	set(sim.Faults{Reorder: 1, ReorderDelay: hold})
	until := s.Now() + 400*time.Millisecond
	s.At(until, func() { set(sim.Faults{}) })
	at := s.Now()
	for range fires {
		s.At(at, func() { e.fireTimeout(r) })
		at += dur(rng, 30*time.Millisecond, 200*time.Millisecond)
	}
}

// decidesNop reports whether rd reports a decision holding a Nop.
func decidesNop(rd *paxos.Ready) bool {
	for i := range rd.Decided {
		for _, c := range rd.Decided[i].Commands {
			if c.IsNop() {
				return true
			}
		}
	}
	return false
}

// tornAlone replaces, in one run in six without leader leases whose
// faults include the recovery faults, the run's injectors with the torn
// rounds alone (see injectTornRounds), which need a quiet cluster: among
// the other faults, or drawn among moreQuiet's injectors (behind the
// recovery campaigns at N = 5), they ran in too few runs. Measured alone,
// they catch a proposer that adopts the first reported value
// (basic/adopt-first-value) in about a quarter of runs at N = 3, 5 and 7.
// It draws from its own random stream, so the other runs of a seed stay
// what they were.
func tornAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	if !moreQuietRuns || leaseTicks > 0 || n < 3 || !has[FaultRecovery] || len(on) == 0 {
		return on
	}
	if len(on) == 1 && !on[0].is(injectCampaigns) {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x746f726e616c6f6e)).IntN(4) != 0 {
		return on
	}
	return []injector{{FaultRecovery, injectTornRounds}}
}
