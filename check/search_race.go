package check

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Races: a second proposer, leader or recoverer made to act within about a
// round trip of the first, through the one replica both of them need. The
// other faults wait for timeouts to fire on their own schedule, so two
// proposers seldom reach one replica within the same round trip, and the
// crash that makes that replica forget something comes tens of
// milliseconds late, after the messages that would exploit it were lost
// with it. These faults drive both from what replicas do (who answers
// whom), never from message types, and draw from random streams of their
// own, so the other faults of a seed stay what they were.

// jumpClock makes replica id's clock run ahead now (sim.Advance), tick by
// tick, until a timeout fires (a tick step that sends to two peers or
// more: an election, a phase 1, a recovery, a resend) or for up to
// maxTicks ticks; with all set it runs the whole maxTicks. Pending timeouts
// then fire at once instead of on their own schedule. It does nothing when
// the run's clocks must stay in step (leases bound how far a clock may run
// ahead), after the fault window, or when the replica is down.
func (e *faultEnv) jumpClock(id, maxTicks int, all bool) {
	if !e.clockJumps || e.down[id] || e.s.Now() >= e.window || !e.s.Alive(paxos.NodeID(id)) {
		return
	}
	e.jumping, e.jumpFired = id, false
	for k := 0; k < maxTicks && (all || !e.jumpFired) && e.s.Alive(paxos.NodeID(id)); k++ {
		_ = e.s.Advance(paxos.NodeID(id), 1)
	}
	e.jumping = -1
}

// watchJumps installs, once, the observer jumpClock stops on.
func (e *faultEnv) watchJumps() {
	if e.jumpWatched {
		return
	}
	e.jumpWatched, e.jumping = true, -1
	e.observers = append(e.observers, func(o sim.Output) {
		if int(o.Replica) != e.jumping || o.Input != nil || o.Proposed != nil {
			return
		}
		for i := range o.Ready.Messages {
			if o.Ready.Messages[i].To != o.Ready.Messages[0].To {
				e.jumpFired = true
			}
		}
	})
}

// jumpTicks draws how far a clock jump may go: log-uniform in 1 to 512
// ticks, since timeouts range from a few ticks (retries) to hundreds
// (recoveries that backed off).
func jumpTicks(rng *rand.Rand) int { return 1 << rng.IntN(10) }

// injectRaces adds, when crashes are among the faults, races through a
// bridge. When a replica X answers a peer P alone (P is proposing,
// leading or recovering, and X just promised, voted or acknowledged for
// it), with a small probability (2 to 12 times per run, one race at a
// time) a rival Q, another replica, has its clock jump ahead 0 to 8 ms
// later so that its own timeouts fire: it starts a phase 1, an election or
// a recovery while P's round is still in flight, and its request reaches X
// within about a round trip of P's. In half the races a replica on P's
// side jumps too (competing recoveries or elections from both sides). In
// a share of the runs the race is also a split: the replicas other than X
// lose each other between P's side and Q's side for 30 to 500 ms, so that
// X is the only replica in both of their quorums. Then, for 20 to 150 ms,
// the first time X answers alone a peer other than P (it just switched to
// the rival), it may crash right after that step and restart at once or
// within 3 ms: messages already in flight to it are lost, but what the two
// proposers send next reaches the restarted replica, which holds only what
// it made durable. In half of those bounces X then hears nothing from the
// side it just answered for 2 to 30 ms, so that the older round reaches it
// first. A quarter of the runs have no races.
func injectRaces(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x7261636573))
	if n < 3 || rng.IntN(4) == 0 {
		return
	}
	ms := time.Millisecond
	budget := 2 + rng.IntN(11)
	p := 0.005 + 0.1*rng.Float64()
	splits := rng.Float64()
	bounce := 0.5 + 0.5*rng.Float64()
	e.watchJumps()
	busyUntil := time.Duration(0)
	type race struct {
		bridge, first int
		until         time.Duration
		side          [2][]int // the first proposer's side, the rival's
	}
	var cur *race
	// Quick switches: a replica that answers alone a peer other than the
	// one it answered alone last, within switchWithin of that answer, is
	// between two proposers racing through it; it may bounce at once.
	switchWithin := dur(rng, 2*ms, 25*ms)
	quick := 0.2 + 0.8*rng.Float64()
	quickBudget := 5 + rng.IntN(60)
	fresh, newBudget := 0.0, 0
	if rng.IntN(2) == 0 {
		fresh, newBudget = 0.02+0.3*rng.Float64(), 5+rng.IntN(60)
	}
	lastFrom := make([]int, n)
	lastAt := make([]time.Duration, n)
	for i := range lastFrom {
		lastFrom[i] = -1
	}
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if o.Input == nil || e.down[id] || !answersAlone(o) {
			return
		}
		from := int(o.Input.From)
		prev, prevAt := lastFrom[id], lastAt[id]
		lastFrom[id], lastAt[id] = from, s.Now()
		if quickBudget > 0 && prev >= 0 && prev != from && from != id && s.Now()-prevAt <= switchWithin && rng.Float64() < quick {
			quickBudget--
			e.bounceNow(rng, id, []int{from})
			return
		}
		// New answers: a replica that answers alone a peer other than
		// the last one it answered, at any distance in time, may bounce
		// at once, three times as likely when the step persisted
		// nothing: it told a new proposer something it may hold in
		// memory only.
		if newBudget > 0 && prev != from && from != id {
			q := fresh
			if len(o.Ready.Persist) == 0 && o.Ready.Snapshot == nil {
				q = min(1, 3*fresh)
			}
			if rng.Float64() < q {
				newBudget--
				e.bounceNow(rng, id, []int{from})
				return
			}
		}
		if r := cur; r != nil && r.bridge == id {
			if s.Now() >= r.until || from == r.first {
				if s.Now() >= r.until {
					cur = nil
				}
				return
			}
			// The bridge switched to someone else: bounce it now.
			cur = nil
			if rng.Float64() >= bounce {
				return
			}
			answered := r.side[1]
			if !slices.Contains(answered, from) {
				answered = []int{from}
			}
			e.bounceNow(rng, id, answered)
			return
		}
		if budget == 0 || s.Now() < busyUntil || from == id || rng.Float64() >= p {
			return
		}
		var others []int
		for _, q := range rng.Perm(n) {
			if q != id && q != from {
				others = append(others, q)
			}
		}
		rival := others[0]
		if e.down[rival] {
			return
		}
		budget--
		hold := dur(rng, 30*ms, 500*ms)
		r := &race{bridge: id, first: from, until: s.Now() + dur(rng, 20*ms, 150*ms)}
		rest := others[1:]
		h := rng.IntN(len(rest) + 1)
		r.side[0] = append([]int{from}, rest[:h]...)
		r.side[1] = append([]int{rival}, rest[h:]...)
		cur = r
		busyUntil = max(r.until, s.Now()+hold)
		if rng.IntN(2) == 0 {
			// The bridge forgets at once what it just answered P, before
			// the rival's request reaches it.
			cur = nil
			e.bounceNow(rng, id, r.side[0])
		}
		if rng.Float64() < splits {
			cuts := e.cut(between(r.side[0], r.side[1]))
			e.counts.partitions++
			s.At(min(s.Now()+hold, window), func() { e.heal(cuts) })
		}
		s.At(s.Now()+upTo(rng, 8*ms), func() { e.jumpClock(rival, jumpTicks(rng), rng.IntN(2) == 0) })
		if rng.IntN(2) == 0 {
			q := r.side[0][rng.IntN(len(r.side[0]))]
			s.At(s.Now()+upTo(rng, 8*ms), func() { e.jumpClock(q, jumpTicks(rng), rng.IntN(2) == 0) })
		}
	})
}

// injectEarlyTimeouts adds, with the recovery faults, timeouts that fire
// right after a crash: when a fault crashes a replica, in a share of the
// runs (with probability 0.3 to 1 per crash) one or two of the replicas
// still up have their clocks run ahead (jumpClock) 0 to 10 ms later, so
// that they elect a new leader or recover the crashed replica's work at
// once, and at about the same time as each other, while what the crashed
// replica sent last is still in flight. In a share of the runs the
// survivors are also split for 30 to 500 ms around a bridge (one survivor
// connected to both halves, which lose each other) and one replica on each
// side runs ahead: two competing elections or recoveries whose quorums
// share only the bridge. Left to their own timeouts, the survivors act
// tens of milliseconds apart, after the crashed replica's messages
// settled, and mostly within one partition. A third of the runs have none.
func injectEarlyTimeouts(e *faultEnv) {
	s, n := e.s, e.n
	rng := rand.New(rand.NewPCG(e.seed, 0x6561726c79))
	if n < 3 || !e.clockJumps || rng.IntN(3) == 0 {
		return
	}
	p := 0.3 + 0.7*rng.Float64()
	bridged := rng.Float64()
	e.watchJumps()
	jumpSoon := func(q int) {
		s.At(s.Now()+upTo(rng, 10*time.Millisecond), func() { e.jumpClock(q, jumpTicks(rng), rng.IntN(2) == 0) })
	}
	e.onCrash = append(e.onCrash, func(id int) {
		if rng.Float64() >= p {
			return
		}
		var live []int
		for _, q := range rng.Perm(n) {
			if !e.down[q] {
				live = append(live, q)
			}
		}
		if len(live) >= 3 && rng.Float64() < bridged {
			rest := live[1:] // live[0] is the bridge
			h := 1 + rng.IntN(len(rest)-1)
			cuts := e.cut(between(rest[:h], rest[h:]))
			e.counts.partitions++
			s.At(min(s.Now()+dur(rng, 30*time.Millisecond, 500*time.Millisecond), e.window), func() { e.heal(cuts) })
			jumpSoon(rest[rng.IntN(h)])
			jumpSoon(rest[h+rng.IntN(len(rest)-h)])
			return
		}
		for k := 1 + rng.IntN(2); k > 0 && len(live) > 0; k-- {
			jumpSoon(live[rng.IntN(len(live))])
		}
	})
}

// bounceNow crashes replica id right after the current step and restarts
// it at once or within 3 ms, so that the messages already in flight to it
// are lost but what its peers send next reaches the new incarnation. In
// half the bounces it then hears nothing from the replicas in deafTo for 2
// to 30 ms, so that the others' messages reach it first.
func (e *faultEnv) bounceNow(rng *rand.Rand, id int, deafTo []int) {
	s, ms := e.s, time.Millisecond
	back := time.Duration(0)
	if rng.IntN(2) == 0 {
		back = dur(rng, 10*time.Microsecond, 3*ms)
	}
	deaf := rng.IntN(2) == 0
	deafFor := dur(rng, 2*ms, 30*ms)
	if rng.IntN(2) == 0 {
		deafFor = dur(rng, 30*ms, 300*ms)
	}
	s.At(s.Now(), func() {
		if !e.crash(id) {
			return
		}
		s.At(s.Now()+back, func() {
			e.restart(id)
			if deaf {
				var in []link
				for _, q := range deafTo {
					in = append(in, link{q, id})
				}
				in = e.cut(in)
				s.At(s.Now()+deafFor, func() { e.heal(in) })
			}
		})
	})
}
