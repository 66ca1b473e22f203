package check

import (
	"math/bits"
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
// tick: in half the jumps until a timeout fires (see firesTimeout: an
// election, a phase 1, a recovery) or for at most maxJump ticks, in the
// others for 1 to maxJump ticks (log-uniform), whatever fires meanwhile.
// Pending timeouts then fire at once instead of on their own schedule. It
// does nothing when the run's clocks must stay in step (leases bound how
// far a clock may run ahead), after the fault window, or when the replica
// is down.
func (e *faultEnv) jumpClock(id int, rng *rand.Rand) {
	if !e.clockJumps || e.down[id] || e.s.Now() >= e.window || !e.s.Alive(paxos.NodeID(id)) {
		return
	}
	untilFired, ticks := rng.IntN(2) == 0, maxJump
	if !untilFired {
		ticks = 1 << rng.IntN(bits.Len(maxJump))
	}
	e.jumping, e.jumpFired = id, false
	for k := 0; k < ticks && !(untilFired && e.jumpFired) && e.s.Alive(paxos.NodeID(id)); k++ {
		_ = e.s.Advance(paxos.NodeID(id), 1)
	}
	e.jumping = -1
}

// maxJump bounds a clock jump, in ticks: timeouts range from a few ticks
// (retries) to hundreds (recoveries that backed off).
const maxJump = 512

// watchJumps installs, once, the observer jumpClock stops on.
func (e *faultEnv) watchJumps() {
	if e.jumpWatched {
		return
	}
	e.jumpWatched, e.jumping = true, -1
	e.observers = append(e.observers, func(o sim.Output) {
		if int(o.Replica) == e.jumping && firesTimeout(o) {
			e.jumpFired = true
		}
	})
}

// firesTimeout reports whether o is a timeout firing: a tick step that
// persists something and sends to two peers or more (a replica starting a
// phase 1, an election or a recovery makes its new ballot durable before
// asking the others). Periodic traffic on ticks (heartbeats, watermarks,
// resends) persists nothing.
func firesTimeout(o sim.Output) bool {
	if o.Input != nil || o.Proposed != nil || len(o.Ready.Persist) == 0 {
		return false
	}
	for i := range o.Ready.Messages {
		if o.Ready.Messages[i].To != o.Ready.Messages[0].To {
			return true
		}
	}
	return false
}

// injectRaces adds, when crashes are among the faults, bounces (bounceNow:
// a crash and a restart at once or within 3 ms) timed by whom a replica X
// answers alone (a reply to a peer P that is proposing, leading or
// recovering: X just promised, voted or acknowledged for it):
//
//   - quick switches: X answers a new peer within 2 to 25 ms of answering
//     another alone (two proposers racing through it); 5 to 64 per run;
//   - new answers, in half the runs: X answers a peer other than the last
//     one it answered, three times as likely when the step persisted
//     nothing (it may have told P something it holds in memory only);
//   - races: with a small probability per answer (2 to 12 per run, one at
//     a time) a rival Q has its clock run ahead (jumpClock) 0 to 8 ms later,
//     so that it starts a phase 1, an election or a recovery while P's
//     round is in flight and its request reaches X within about a round
//     trip of P's; in half the races a replica on P's side runs ahead too.
//     In a share of the runs the others are also split between P's side
//     and Q's for 30 to 500 ms, so that X is the only replica in both of
//     their quorums. X bounces right away in half the races, and otherwise
//     (with probability 0.5 to 1) the first time it answers alone a peer
//     other than P within the next 20 to 150 ms (it switched to the rival).
//
// Messages already in flight to X are lost with the crash, but what the
// proposers send next reaches the restarted replica, which holds only what
// it made durable. A quarter of the runs have none of these.
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
		s.At(s.Now()+upTo(rng, 8*ms), func() { e.jumpClock(rival, rng) })
		if rng.IntN(2) == 0 {
			q := r.side[0][rng.IntN(len(r.side[0]))]
			s.At(s.Now()+upTo(rng, 8*ms), func() { e.jumpClock(q, rng) })
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
// settled, and mostly within one partition. While such a split lasts, the
// bridge may bounce at once (bounceNow), up to 1 to 4 times, right after it
// answers alone a replica of the side it did not answer last. A third of
// the runs have none.
func injectEarlyTimeouts(e *faultEnv) {
	s, n := e.s, e.n
	rng := rand.New(rand.NewPCG(e.seed, 0x6561726c79))
	if n < 3 || !e.clockJumps || rng.IntN(3) == 0 {
		return
	}
	p := 0.3 + 0.7*rng.Float64()
	bridged := rng.Float64()
	bounce := rng.Float64()
	e.watchJumps()
	jumpSoon := func(q int) {
		s.At(s.Now()+upTo(rng, 10*time.Millisecond), func() { e.jumpClock(q, rng) })
	}
	// The split in force: its bridge, sides, end, the side the bridge
	// answered last (-1: none yet) and how many bounces it has left.
	var sp *struct {
		bridge     int
		side       [2][]int
		until      time.Duration
		last, left int
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
		if len(live) >= 3 && rng.Float64() < bridged && (sp == nil || s.Now() >= sp.until) {
			// Every replica but the bridge (a survivor) goes to one side
			// or the other, the crashed one too, for when it is back.
			bridge := live[0]
			var rest []int
			for _, q := range rng.Perm(n) {
				if q != bridge {
					rest = append(rest, q)
				}
			}
			h := len(rest) / 2
			until := min(s.Now()+dur(rng, 30*time.Millisecond, 500*time.Millisecond), e.window)
			cuts := e.cut(between(rest[:h], rest[h:]))
			e.counts.partitions++
			s.At(until, func() { e.heal(cuts) })
			sp = &struct {
				bridge     int
				side       [2][]int
				until      time.Duration
				last, left int
			}{bridge, [2][]int{rest[:h], rest[h:]}, until, -1, 1 + rng.IntN(4)}
			for _, side := range sp.side {
				var up []int
				for _, q := range side {
					if !e.down[q] {
						up = append(up, q)
					}
				}
				if len(up) > 0 {
					jumpSoon(up[rng.IntN(len(up))])
				}
			}
			return
		}
		for k := 1 + rng.IntN(2); k > 0 && len(live) > 0; k-- {
			jumpSoon(live[rng.IntN(len(live))])
		}
	})
	// While a split lasts, the bridge may bounce at once each time it
	// switches sides: right after it answers alone a replica of the side
	// it did not answer last.
	e.observers = append(e.observers, func(o sim.Output) {
		if sp == nil || int(o.Replica) != sp.bridge || s.Now() >= sp.until || sp.left == 0 || e.down[sp.bridge] || !answersAlone(o) {
			return
		}
		which := -1
		for i := range sp.side {
			if slices.Contains(sp.side[i], int(o.Input.From)) {
				which = i
			}
		}
		switched := which >= 0 && sp.last >= 0 && which != sp.last
		if which >= 0 {
			sp.last = which
		}
		if switched && rng.Float64() < bounce {
			sp.left--
			e.bounceNow(rng, sp.bridge, sp.side[which])
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

// injectTimeoutEchoes adds, with the recovery faults, competing timeouts:
// when a replica that does not say it leads fires a timeout (see
// firesTimeout: a phase 1, an election, a recovery), with probability 0.05 to 0.5 (4 to 30 times per run) another
// replica's clock runs ahead 0 to 10 ms later until its own timeout fires
// (jumpClock), so that both act on what is likely the same stalled slot or
// instance within a round trip: dueling phase 1s, competing recoveries of
// one instance. In half the echoes the replicas other than a bridge (a
// third replica) are split for 30 to 500 ms between the two, so that the
// bridge is the only replica both of their quorums share. A third of the
// runs have none.
func injectTimeoutEchoes(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x6563686f))
	if n < 3 || !e.clockJumps || rng.IntN(3) == 0 {
		return
	}
	ms := time.Millisecond
	p := 0.05 + 0.45*rng.Float64()
	budget := 4 + rng.IntN(27)
	e.watchJumps()
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if budget == 0 || id == e.jumping || e.down[id] || !firesTimeout(o) || leads(s, id) || rng.Float64() >= p {
			return
		}
		perm := rng.Perm(n)
		var others []int
		for _, q := range perm {
			if q != id && !e.down[q] {
				others = append(others, q)
			}
		}
		if len(others) < 2 {
			return
		}
		budget--
		rival := others[0]
		if rng.IntN(2) == 0 {
			// others[1] is the bridge; the rest join one side or the other.
			a, b := []int{id}, []int{rival}
			for _, q := range others[2:] {
				if rng.IntN(2) == 0 {
					a = append(a, q)
				} else {
					b = append(b, q)
				}
			}
			cuts := e.cut(between(a, b))
			e.counts.partitions++
			s.At(min(s.Now()+dur(rng, 30*ms, 500*ms), window), func() { e.heal(cuts) })
		}
		s.At(s.Now()+upTo(rng, 10*ms), func() { e.jumpClock(rival, rng) })
	})
}

// injectStalledBridges adds, with the recovery faults, duels around a
// stalled proposer. One to three times per run, right after a replica L
// is proposed a command (with probability 0.02 to 0.3 per proposal), L's
// first round goes out but the answers to it are lost for 2 to 60 ms, so
// that its peers hold its proposal and L waits; then the other replicas
// are split in two halves that lose each other for 50 to 600 ms, with L
// connected to both, and one replica of each half has its clock run ahead
// (jumpClock) 0 to 10 ms apart: each half elects, prepares or recovers
// L's slot or instance at about the same time, and L, still driving its
// own round, is the only replica both of their quorums share. While the
// split lasts, L may bounce at once (bounceNow) right after it answers a
// peer alone, more likely when that step persisted nothing or when it
// switched halves: what it promised in memory only is then forgotten
// exactly when the other half's request, at a lower ballot, reaches it. A
// third of the runs have none.
func injectStalledBridges(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x7374616c6c6564))
	if n < 3 || !e.clockJumps || rng.IntN(3) == 0 {
		return
	}
	ms := time.Millisecond
	p := 0.02 + 0.28*rng.Float64()
	budget := 1 + rng.IntN(3)
	volatile, switching := rng.Float64(), rng.Float64()
	e.watchJumps()
	type duel struct {
		bridge     int
		side       [2][]int
		until      time.Duration
		last, left int
	}
	var cur *duel
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if d := cur; d != nil && id == d.bridge && s.Now() < d.until && d.left > 0 && !e.down[id] && answersAlone(o) {
			which := -1
			for i := range d.side {
				if slices.Contains(d.side[i], int(o.Input.From)) {
					which = i
				}
			}
			if which < 0 {
				return
			}
			switched := d.last >= 0 && d.last != which
			d.last = which
			q := 0.0
			if len(o.Ready.Persist) == 0 {
				q = volatile
			}
			if switched {
				q = max(q, switching)
			}
			if rng.Float64() < q {
				d.left--
				e.bounceNow(rng, id, d.side[which])
			}
			return
		}
		if o.Proposed == nil || budget == 0 || e.down[id] || (cur != nil && s.Now() < cur.until) || rng.Float64() >= p {
			return
		}
		budget--
		var in []link
		for q := 0; q < n; q++ {
			in = append(in, link{q, id})
		}
		stall := dur(rng, 2*ms, 60*ms)
		var rest []int
		for _, q := range rng.Perm(n) {
			if q != id {
				rest = append(rest, q)
			}
		}
		h := len(rest) / 2
		d := &duel{bridge: id, side: [2][]int{rest[:h], rest[h:]}, last: -1, left: 1 + rng.IntN(4)}
		d.until = min(s.Now()+stall+dur(rng, 50*ms, 600*ms), window)
		cur = d
		s.At(s.Now(), func() { // after this step's messages left
			in = e.cut(in)
			e.counts.partitions++
			s.At(s.Now()+stall, func() {
				e.heal(in)
				cuts := e.cut(between(d.side[0], d.side[1]))
				s.At(d.until, func() { e.heal(cuts) })
				for _, side := range d.side {
					q := side[rng.IntN(len(side))]
					s.At(s.Now()+upTo(rng, 10*ms), func() { e.jumpClock(q, rng) })
				}
			})
		})
	})
}
