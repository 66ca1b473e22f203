package check

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// injectQuorumChurn adds, with the recovery faults, quorum churn around a
// fresh proposal: one to three times per run (with probability 0.05 to 0.5
// per proposal, one churn at a time), right after replica L is proposed a
// command, L's first messages reach only one or a few of its peers (the
// rest of that step's sends are lost), and then, every 2 to 30 ms for 50
// to 800 ms, the network is rewired: a random majority of the replicas
// (L among them or not) is connected and the others lose it both ways,
// and one replica of that majority, other than the last one picked, has
// its clock run ahead until a timeout fires (jumpClock), so that it
// starts a phase 1, an election or a recovery at once, among what is most
// likely the same stalled slot or instance. Each round's majority shares
// a replica or more with the last one; with probability 0 to 0.6 per
// round one replica in both bounces (crash, restart at once) right after
// the rewiring, and with probability 0 to 0.5 L does (its command is
// restarted with it). What a round sets up (a promise, an accepted value
// at some replicas only, a decision nobody else heard of) is then found
// by the next round's replicas, which are a different majority: competing
// recoveries of one instance from different replicas, each interrupted
// after one or two round trips, as a model checker would interleave them.
// The others faults' crashes and cuts last tens to hundreds of
// milliseconds and seldom interrupt a recovery between its phases. It
// draws from its own random stream. A third of the runs have none.
func injectQuorumChurn(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x636875726e))
	if n < 3 || !e.clockJumps || rng.IntN(3) == 0 {
		return
	}
	ms := time.Millisecond
	p := 0.05 + 0.45*rng.Float64()
	budget := 1 + rng.IntN(3)
	bounceBridge := 0.6 * rng.Float64()
	bounceLeader := 0.5 * rng.Float64()
	period := [2]time.Duration{2 * ms, 3*ms + upTo(rng, 27*ms)}
	busyUntil := time.Duration(0)
	e.watchJumps()
	maj := n/2 + 1
	e.observers = append(e.observers, func(o sim.Output) {
		l := int(o.Replica)
		if o.Proposed == nil || budget == 0 || e.down[l] || s.Now() < busyUntil || rng.Float64() >= p {
			return
		}
		budget--
		until := min(s.Now()+dur(rng, 50*ms, 800*ms), window)
		busyUntil = until
		// L's first messages reach only keep of its peers.
		keep := 1 + rng.IntN(n-2)
		var lost []link
		for _, q := range rng.Perm(n) {
			if q == l {
				continue
			}
			if keep > 0 {
				keep--
				continue
			}
			lost = append(lost, link{l, q})
		}
		lost = e.cut(lost)
		s.At(s.Now(), func() { e.heal(lost) })
		e.counts.partitions++
		// In half the churns L then hears nothing and is heard by no one
		// for a while, so that it cannot finish its own round.
		isoUntil := s.Now()
		if rng.IntN(2) == 0 {
			isoUntil = s.Now() + upTo(rng, until-s.Now())
			var iso []link
			for q := 0; q < n; q++ {
				iso = append(iso, link{l, q}, link{q, l})
			}
			s.At(s.Now(), func() {
				iso = e.cut(iso)
				s.At(isoUntil, func() { e.heal(iso) })
			})
		}
		var cuts []link
		var prev []int
		last := -1
		var round func()
		round = func() {
			e.heal(cuts)
			cuts = nil
			if s.Now() >= until {
				return
			}
			size := maj
			if n > 3 && rng.IntN(3) == 0 {
				size++
			}
			perm := rng.Perm(n)
			if s.Now() < isoUntil {
				// L stays out while it is isolated.
				for i, q := range perm {
					if q == l {
						perm[i], perm[n-1] = perm[n-1], perm[i]
					}
				}
				size = min(size, n-1)
			}
			group, rest := perm[:size], perm[size:]
			cuts = e.cut(between(group, rest))
			var both []int
			for _, q := range group {
				for _, r := range prev {
					if q == r {
						both = append(both, q)
					}
				}
			}
			prev = group
			if len(both) > 0 && rng.Float64() < bounceBridge {
				e.bounceNow(rng, both[rng.IntN(len(both))], nil)
			}
			if rng.Float64() < bounceLeader {
				e.bounceNow(rng, l, nil)
			}
			var pick []int
			for _, q := range group {
				if q != last && q != l {
					pick = append(pick, q)
				}
			}
			if len(pick) > 0 {
				q := pick[rng.IntN(len(pick))]
				last = q
				s.At(s.Now()+upTo(rng, 2*ms), func() { e.fireTimeout(q) })
			}
			s.At(s.Now()+dur(rng, period[0], period[1]), round)
		}
		s.At(s.Now()+dur(rng, period[0], period[1]), round)
	})
}

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

// injectRelays adds, with the recovery faults, relays of interrupted
// rounds. With probability 0.2 to 0.8 per step (5 to 64 times per run), a
// replica that moves a round on (see advances: it gathered a quorum and
// starts its next phase) is interrupted, and so, with probability 0 to
// 0.5, is one that announces a decision (see announces): what that step
// sends reaches a random part of its peers (possibly none), and the
// replica is then cut off both ways for 5 to 300 ms, or bounces (crash,
// restart at once), or crashes for as long; 0 to 5 ms later another
// replica that is not cut off has its clock run ahead until a timeout
// fires (see fireTimeout), so that it takes over what the interrupted
// one was doing, with a majority that may lack the replicas that heard
// it. Each round of a recovery then reaches only part of the cluster
// before the next recoverer starts, and the replicas that took part in it
// come back later holding its votes: recoveries that must pick among
// votes of different ballots, promises granted in one round and tested by
// the next, decisions made and not yet announced. At most a minority is
// cut off or down at once. It draws from its own random stream; a third
// of the runs have none.
func injectRelays(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x72656c6179))
	if n < 3 || !e.clockJumps || rng.IntN(3) == 0 {
		return
	}
	ms := time.Millisecond
	p := 0.2 + 0.6*rng.Float64()
	q := 0.5 * rng.Float64()
	bounce, die := rng.Float64()/2, rng.Float64()/3
	iso := [2]time.Duration{5 * ms, 10*ms + upTo(rng, 290*ms)}
	f := (n - 1) / 2
	budget := 5 + rng.IntN(60)
	isolated := make([]bool, n)
	out := 0 // replicas cut off
	volatile, hot := rng.Float64(), time.Duration(0)
	e.watchJumps()
	fireOther := func(not ...int) {
		var next []int
		for r := 0; r < n; r++ {
			if !slices.Contains(not, r) && !isolated[r] && !e.down[r] {
				next = append(next, r)
			}
		}
		if len(next) > 0 {
			r := next[rng.IntN(len(next))]
			s.At(s.Now()+upTo(rng, 5*ms), func() { e.fireTimeout(r) })
		}
	}
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if e.down[id] || isolated[id] || budget == 0 {
			return
		}
		if s.Now() < hot && answersAlone(o) && len(o.Ready.Persist) == 0 && o.Ready.Snapshot == nil && rng.Float64() < volatile {
			// Soon after an interruption, a replica that answers a peer
			// without persisting anything may have told it something it
			// holds in memory only: it bounces, and a third replica
			// starts a rival round that reaches the new incarnation.
			budget--
			e.bounceNow(rng, id, nil)
			fireOther(id, int(o.Input.From))
			return
		}
		hears := -1 // how many peers hear this step: -1 for a random part
		switch {
		case out >= f:
			return
		case advances(o) && rng.Float64() < p:
			if rng.IntN(4) > 0 {
				hears = rng.IntN(f)
			}
		case announces(o.Ready) && rng.Float64() < q:
		default:
			return
		}
		budget--
		hot = s.Now() + dur(rng, 20*ms, 300*ms)
		// This step's messages reach a random part of the peers.
		var lost []link
		for _, r := range rng.Perm(n) {
			switch {
			case r == id:
			case hears > 0:
				hears--
			case hears == 0 || rng.IntN(2) == 0:
				lost = append(lost, link{id, r})
			}
		}
		lost = e.cut(lost)
		e.counts.partitions++
		r := rng.Float64()
		back := dur(rng, iso[0], iso[1])
		s.At(s.Now(), func() {
			e.heal(lost)
			switch {
			case r < die:
				if e.crash(id) {
					s.At(s.Now()+back, func() { e.restart(id) })
				}
			case r < die+bounce:
				e.bounceNow(rng, id, nil)
			default:
				var cut []link
				for q := 0; q < n; q++ {
					cut = append(cut, link{id, q}, link{q, id})
				}
				cut = e.cut(cut)
				isolated[id] = true
				out++
				s.At(min(window, s.Now()+back), func() {
					e.heal(cut)
					isolated[id] = false
					out--
				})
			}
		})
		fireOther(id)
	})
}

// injectRecoveryChains adds, with the recovery faults, chains of three
// rounds by three replicas, in two thirds of the runs, 2 to 20 times per
// run (with probability 0.05 to 0.5 per step that qualifies). (1) A
// replica A that moves a round on (see advances) is heard by none of its
// peers, or by one at N >= 5, and is then cut off both ways for up to 50
// to 400 ms; a replica B that is not cut off has its clock run ahead
// until a timeout fires, so that it takes over with the others. (2) When
// B announces a decision (see announces) before A's cut heals, nobody
// hears that step, B dies or is cut off (for 20 to 300 ms), A's cut
// heals at once, and a third replica C, neither B nor (in half the
// chains) A, has its clock run ahead: C's round meets what A set up and
// what B set up, but not B's decision. This is the schedule behind the
// classic recovery bugs (a recovery that prefers an older vote over a
// newer one, votes reported with the wrong ballot): the other faults make
// each of its three steps likely and all three in a row rare. It draws from
// its own random stream.
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
				if die && e.crash(id) {
					s.At(s.Now()+back, func() { e.restart(id) })
					return
				}
				cut := e.cut(between([]int{id}, others(id)))
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
			c.cut = e.cut(between([]int{id}, others(id)))
			s.At(c.until, func() { e.heal(c.cut) })
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
