package check

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// fireTimeout makes replica id's clock run ahead, tick by tick, until a
// timeout fires (see firesTimeout) or for at most maxJump ticks; like
// jumpClock, it does nothing when clocks must stay in step, after the
// fault window or when the replica is down.
func (e *faultEnv) fireTimeout(id int) {
	if !e.clockJumps || e.down[id] || e.s.Now() >= e.window || !e.s.Alive(paxos.NodeID(id)) {
		return
	}
	e.jumping, e.jumpFired = id, false
	for k := 0; k < maxJump && !e.jumpFired && e.s.Alive(paxos.NodeID(id)); k++ {
		_ = e.s.Advance(paxos.NodeID(id), 1)
	}
	e.jumping = -1
}

// broadcasts reports whether o sends to two peers or more: a replica
// starting a round (a timeout firing) or moving its round on (a proposer
// that gathered a quorum and starts its next phase, a decision announced).
func broadcasts(o sim.Output) bool {
	for i := range o.Ready.Messages {
		if o.Ready.Messages[i].To != o.Ready.Messages[0].To {
			return true
		}
	}
	return false
}

// advances reports whether o is a proposer moving its round on: having
// handled a peer's message, it persists something and sends to two peers
// or more without reporting a decision (it gathered a quorum for one
// phase and starts the next).
func advances(o sim.Output) bool {
	return o.Input != nil && len(o.Ready.Persist) > 0 && len(o.Ready.Decided) == 0 && broadcasts(o)
}

// injectRecoveryChains adds, with the recovery faults, chains of three
// rounds run by three different replicas, 5 to 44 times per run (with
// probability 0.1 to 0.8 per step that qualifies, one chain at a time):
//
//  1. A replica A that moves a round on (see advances: it gathered a
//     quorum and starts its next phase) is heard by none of its peers, or
//     by fewer than F of them, and is then cut off both ways for 50 to
//     400 ms; a replica B still connected has its clock run ahead until a
//     timeout fires (fireTimeout), so that it takes over with a majority
//     that did not hear A's last step.
//  2. When B announces a decision (see announces) before A's cut heals,
//     that step is heard by nobody, B dies or is cut off for 20 to 300 ms,
//     A's cut heals at once, and a third replica C (never B, in half the
//     chains never A) has its clock run ahead: C's round meets what A left
//     (votes of an older round) and what B's voters hold (votes of a newer
//     round that was decided), but not B's decision.
//  3. In half the chains, while B's round is on, a replica that answers B
//     in a step that persisted nothing (it may have told B something it
//     holds in memory only) bounces (crash, restart at once) and a
//     replica other than B and it has its clock run ahead: a rival round
//     that reaches the new incarnation.
//
// This is the schedule behind recovery bugs that pick the wrong one of
// several votes (the first reported instead of the highest ballot, a
// promise reported as a vote's ballot): each of its steps is likely under
// the other faults, all three in a row on one slot or instance are rare.
// It acts on what replicas do (who moves a round on, who decides, who
// answers whom), never on message types. It draws from its own random
// stream.
func injectRecoveryChains(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x636861696e))
	if n < 3 || !e.clockJumps {
		return
	}
	ms := time.Millisecond
	p := 0.1 + 0.7*rng.Float64()
	budget := 5 + rng.IntN(40)
	f := (n - 1) / 2
	type chain struct {
		a, b     int
		volatile bool
		cut      []link
		until    time.Duration
	}
	var cur *chain
	e.watchJumps()
	others := func(not ...int) []int {
		var out []int
		for _, r := range rng.Perm(n) {
			if !slices.Contains(not, r) && !e.down[r] {
				out = append(out, r)
			}
		}
		return out
	}
	// cutOff cuts id off from every other replica, both ways.
	cutOff := func(id int) []link {
		var l []link
		for r := 0; r < n; r++ {
			l = append(l, link{id, r}, link{r, id})
		}
		return e.cut(l)
	}
	silence := func(id int) {
		var lost []link
		for r := 0; r < n; r++ {
			lost = append(lost, link{id, r})
		}
		lost = e.cut(lost)
		s.At(s.Now(), func() { e.heal(lost) })
	}
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if e.down[id] {
			return
		}
		if c := cur; c != nil {
			if s.Now() >= c.until {
				cur = nil
				return
			}
			if c.volatile && id != c.b && o.Input != nil && int(o.Input.From) == c.b && answersAlone(o) && len(o.Ready.Persist) == 0 && o.Ready.Snapshot == nil {
				// A replica answered B without persisting anything: it
				// may have told B something it holds in memory only. It
				// bounces, and a rival of B takes over through it.
				c.volatile = false
				e.bounceNow(rng, id, nil)
				if cs := others(id, c.b); len(cs) > 0 {
					s.At(s.Now()+upTo(rng, 5*ms), func() { e.fireTimeout(cs[0]) })
				}
				return
			}
			if id != c.b || !announces(o.Ready) {
				return
			}
			// (2) B decided: nobody hears it; A comes back; C takes over.
			cur = nil
			silence(id)
			e.counts.partitions++
			back := dur(rng, 20*ms, 300*ms)
			die := rng.IntN(2) == 0
			s.At(s.Now(), func() {
				e.heal(c.cut)
				c.cut = nil
				if die && e.crash(id) {
					s.At(s.Now()+back, func() { e.restart(id) })
					return
				}
				cut := cutOff(id)
				s.At(min(window, s.Now()+back), func() { e.heal(cut) })
			})
			not := []int{c.b}
			if rng.IntN(2) == 0 {
				not = append(not, c.a)
			}
			if cs := others(not...); len(cs) > 0 {
				s.At(s.Now()+upTo(rng, 5*ms), func() { e.fireTimeout(cs[0]) })
			}
			return
		}
		if budget == 0 || !advances(o) || rng.Float64() >= p {
			return
		}
		// (1) A's step reaches at most f-1 peers; A is cut off; B takes over.
		budget--
		hears := rng.IntN(f)
		var lost []link
		for _, r := range rng.Perm(n) {
			if r == id {
				continue
			}
			if hears > 0 {
				hears--
				continue
			}
			lost = append(lost, link{id, r})
		}
		lost = e.cut(lost)
		e.counts.partitions++
		c := &chain{a: id, b: -1, volatile: rng.IntN(2) == 0, until: min(window, s.Now()+dur(rng, 50*ms, 400*ms))}
		s.At(s.Now(), func() {
			e.heal(lost)
			c.cut = cutOff(id)
			s.At(c.until, func() {
				e.heal(c.cut)
				c.cut = nil
			})
		})
		bs := others(id)
		if len(bs) == 0 {
			return
		}
		c.b = bs[0]
		cur = c
		s.At(s.Now()+upTo(rng, 5*ms), func() { e.fireTimeout(c.b) })
	})
}

// quietFor returns the injectors of a run when the swarm drew the
// recovery chains: in half those runs one injector of alone (the faults
// that need a quiet cluster, see quietInjectors) runs alone, in the others
// every injector drawn but the chains. The chains set up a schedule over
// several round trips that the other faults' crashes, cuts and losses
// break in almost every run (measured on the planted recovery bugs, they
// caught them in 7 to 16 of 100 runs alone and in none of 200 among every
// fault), and the swarm leaves them alone in too few runs (4 of 500); in a
// storm they would only move the schedules the other faults draw for a
// seed (they cost raft/hardstate-after-send its kill at N = 5). With alone
// empty (clocks that may not jump) nothing runs alone. Which one of alone
// runs is drawn from a stream of its own, after the draw between alone and
// the rest, so the runs that drop the quiet faults stay what they were.
func quietFor(on []injector, seed uint64, alone []injector) []injector {
	var rest []injector
	drawn := false
	for _, in := range on {
		if quiet(in) {
			drawn = true
		} else {
			rest = append(rest, in)
		}
	}
	if !drawn {
		return on
	}
	rng := rand.New(rand.NewPCG(seed, 0x7175696574))
	if len(alone) > 0 && (len(rest) == 0 || rng.IntN(2) == 0) {
		pick := rand.New(rand.NewPCG(seed, 0x7069636b))
		return []injector{alone[pick.IntN(len(alone))]}
	}
	return rest
}

// quiet reports whether in needs a quiet cluster: the recovery chains, the
// only quiet injector the swarm draws (the others stand in for it, see
// quietFor).
func quiet(in injector) bool {
	return in.is(injectRecoveryChains)
}

// quietInjectors lists the injectors that run only alone in a cluster of n
// replicas (see quietFor), an injector listed twice drawn twice as often:
// none with leases (leaseTicks > 0: clocks may not jump, and the lease
// faults act instead); at N = 3 the recovery chains in six quiet runs of
// eight, the lost decisions (search_lost_decision.go) in one and the
// amnesiac bridges (search_persist.go) in the eighth (the lost decisions
// took epaxos/shortcut-to-all from 2 to 6 failing seeds of 500 there, and
// moved no N = 3 kill past 155); at N = 5
// the chains in three of eight, the bridges in one, and the lone witnesses
// and the stranded proposals (search_witness.go) in a quarter each (the
// stranded proposals catch multi/skip-holes there; at N = 3 every overlap of
// two quorums is a single replica already, and the chains' quiet runs catch
// more). The lists at N = 3 and 5 have eight entries so that the draw of a
// run that kept the chains, witnesses or stranded proposals is the one it
// was when they had one or four (see quietFor's pick: a power of two masks
// the same random number). At N = 7 and above, where a fast quorum is
// larger than a majority, the chains and the lost decisions in a quarter
// each and the lost proposers in half (search_lost_decision.go: they catch
// a fast quorum reduced to a majority, epaxos/fast-path-majority and
// epaxos/majority-fast-quorum, which neither the witnesses nor the stranded
// proposals caught in 500 seeds; the lost proposers catch a few percent of
// their runs, the lost decisions a quarter). Without the chains, the quiet
// runs cost the kills of epaxos/merged-ballots and
// epaxos/recovery-first-accepted at N = 7. The bridges do not run at N = 7:
// there they cost the kill of epaxos/majority-fast-quorum.
func quietInjectors(n, leaseTicks int) []injector {
	chains := injector{FaultRecovery, injectRecoveryChains}
	witnesses := injector{FaultRecovery, injectLoneWitnesses}
	stranded := injector{FaultRecovery, injectStrandedProposals}
	bridges := injector{FaultCrash, injectAmnesiacBridges}        // search_persist.go
	lostDecisions := injector{FaultRecovery, injectLostDecisions} // search_lost_decision.go
	lostProposers := injector{FaultWipe, injectLostProposers}     // search_lost_decision.go
	switch {
	case leaseTicks > 0 || n < 3:
		return nil
	case n == 3:
		return []injector{chains, chains, chains, chains, chains, chains, lostDecisions, bridges}
	case n == 5:
		return []injector{chains, chains, witnesses, stranded, chains, bridges, witnesses, stranded}
	default:
		return []injector{chains, lostDecisions, lostProposers, lostProposers}
	}
}
