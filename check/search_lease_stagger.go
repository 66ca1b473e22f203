package check

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Staggered lease edges (runs with leases only, see leaseInjectors). The
// lease edges of search_lease_edge.go time one handover to the edge of the
// lease; at five replicas and more the new leader then needs the promises
// of several replicas that granted the old leader its lease, whose
// promises run out at different moments (each replica's clock has its own
// phase), or a second campaigning replica, whose campaign duels with the
// first. These rounds instead leave the old leader in a minority one
// replica at a time: the replicas that the new leader needs besides one
// follower (its deputies) lose the old leader a few ticks before the
// followers that carry the lease, so that their promise has run out when
// the candidate next asks, while they have not waited long enough to
// campaign themselves; only one follower's promise is then at the edge,
// as at three replicas. Everything is reckoned from what the simulator
// shows of the replicas (when each ticks and sends on its own, sim.NextTick)
// and of the links (sim.Delay), never from message types.

// staggerRound is one handover of injectLeaseStagger.
type staggerRound struct {
	l         int           // the leader the round deposes
	c         int           // the candidate, cut off from l both ways
	deputies  []int         // cut off from l a few of its ticks before the followers
	followers []int         // carry l's lease until they are cut off from it
	oneWay    bool          // cut only l's outgoing links to deputies and followers
	slack     time.Duration // more time left for the write and the read than the delays need
	late      time.Duration // the candidate's request reaches a follower at most this long after its promise ran out
	k         int           // LeaseTicks

	lTicks   []time.Duration // l's last two ticks that sent messages
	cSends   []time.Duration // the candidate's last ticks that sent to the followers
	tries    int
	plan     time.Duration // cut the followers off at l's first tick from then on (0: not planned)
	planned  time.Duration // when the deputies were cut off
	done     bool          // stop observing
	cutting  bool          // the followers' cut is under way
	onPlan   func()        // cuts the deputies off
	onCancel func()        // heals what onPlan cut
	onCut    func()        // cuts the followers off (once)
}

// injectLeaseStagger deposes the leader again and again, each round 20 to
// 100 ms after the previous one healed (the first 50 to 300 ms into the
// fault window). In three quarters of the runs the network is a LAN: at
// each round every link's delay is drawn anew, 1 to 2.5 ms one way. With L
// the replica that says it leads:
//   - one other replica C, the candidate (in half the rounds the one with
//     the least delay to the others), is cut off from L both ways, times
//     out and campaigns; the others still hear L and refuse it;
//   - L's clock runs at the slow end of the drift the leases tolerate, the
//     others' at the fast end (edgeDrift), and C's anywhere in that bound,
//     so that C's attempts move against the others' ticks from round to
//     round;
//   - writers at C's site put a key the workload wrote (1 to 3 puts, which
//     wait there until C wins);
//   - the N/2-1 replicas nearest C are its deputies, the other N/2 the
//     followers (at N = 3: no deputy, one follower). Once C has sent to
//     the followers three times (the longest interval between its last
//     sends is its rhythm), at each of L's ticks (up to 100) the round
//     looks for a plan: a tick of L one to four ticks ahead (the current
//     one without deputies) such that cutting the deputies off from L now
//     and the followers right after that tick lets one of C's next two
//     attempts reach every deputy after its promise to L ran out and a
//     follower 0.15 ms to 0.8..6 ms after its own did (LeaseTicks of its
//     ticks after the first that follows L's last heartbeat to it, from
//     sim.NextTick and the links' delays), and C's promises, its write's
//     round trip to N/2 replicas, 1 ms and 0 to 1.5 ms more all fit before
//     L's clock has counted LeaseTicks of its ticks from the last
//     heartbeat the followers acknowledged (a lease as long as the
//     promise). With a plan the deputies are cut off from L at once (in
//     three quarters of the rounds only L's outgoing links, otherwise both
//     ways); at the planned tick, if the plan still holds with C's sends
//     since, the followers too, otherwise the deputies' links heal and the
//     round looks again. Without a cut 600 ms into the round it gives up;
//   - from the followers' cut on, readers read the key at L's site 750 to
//     2,000 times a second, and 3,000 to 8,000 times a second during the
//     three ticks of L that start LeaseTicks-2 of its ticks later.
//
// The cuts last 40 to 150 ms, then every link of the round heals. A lease
// that outlives the followers' promise then answers a read at L with a
// value older than the write C completed; a correct lease ends a margin
// earlier, while the followers still refuse C.
func injectLeaseStagger(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x7374616767657265))
	if n < 3 || e.leaseTicks < 3 {
		return
	}
	k, d := e.leaseTicks, edgeDrift(e.leaseTicks)
	ms := time.Millisecond
	lan := rng.IntN(4) != 0
	var cur *staggerRound
	e.observers = append(e.observers, func(o sim.Output) {
		if cur != nil {
			cur.observe(s, o)
		}
	})
	var round func()
	round = func() {
		cur = nil
		if s.Now() >= window {
			return
		}
		oneWay, near := rng.IntN(4) != 0, rng.IntN(2) == 0
		hold := dur(rng, 40*ms, 150*ms)
		rate, readRate := 200+800*rng.Float64(), 3000+5000*rng.Float64()
		late := dur(rng, 800*time.Microsecond, 6*ms)
		slack := dur(rng, 0, 1500*time.Microsecond)
		cRate := 1 - d + 2*d*rng.Float64()
		pick := rng.Uint64()
		next := dur(rng, 20*ms, 100*ms)
		l := leaderNow(e)
		if l < 0 {
			s.At(s.Now()+next/4, round)
			return
		}
		r := rand.New(rand.NewPCG(pick, 0x7374616767657265))
		if lan {
			// A LAN: every link quick (round trips of 2 to 5 ms), drawn
			// anew each round.
			for a := 0; a < n; a++ {
				for b := a + 1; b < n; b++ {
					oneWay := dur(r, ms, 2500*time.Microsecond)
					s.SetDelay(paxos.NodeID(a), paxos.NodeID(b), oneWay)
					s.SetDelay(paxos.NodeID(b), paxos.NodeID(a), oneWay)
				}
			}
		}
		others := othersThan(n, l)
		r.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
		if near {
			others = quickestFirst(s, others)
		}
		c := others[0]
		rest := slices.Clone(others[1:])
		dl := func(a, b int) time.Duration { return s.Delay(paxos.NodeID(a), paxos.NodeID(b)) }
		slices.SortStableFunc(rest, func(a, b int) int { return int(dl(c, a) - dl(c, b)) })
		nd := n/2 - 1
		rd := &staggerRound{l: l, c: c, deputies: rest[:nd], followers: rest[nd:], oneWay: oneWay, slack: slack, late: late, k: k}
		held := e.cut(between([]int{l}, []int{c}))
		if d > 0 {
			for id := 0; id < n; id++ {
				s.SetClockRate(paxos.NodeID(id), 1+d-2*d*b2f(id == l))
			}
			s.SetClockRate(paxos.NodeID(c), cRate)
		}
		key, haveKey := writtenKey(s, r)
		if haveKey {
			e.leaseClients().stream(c, key, true, rate, 600*ms+hold, 1+r.IntN(3), r)
		}
		var deps []link
		finished := false
		finish := func() {
			if finished {
				return
			}
			finished, rd.done = true, true
			e.heal(held)
			e.heal(deps)
			s.At(s.Now()+next, round)
		}
		cutFrom := func(to []int) []link {
			var iso []link
			for _, q := range to {
				iso = append(iso, link{l, q})
				if !rd.oneWay {
					iso = append(iso, link{q, l})
				}
			}
			return e.cut(iso)
		}
		rd.onPlan = func() { deps = cutFrom(rd.deputies) }
		rd.onCancel = func() {
			e.heal(deps)
			deps = nil
		}
		rd.onCut = func() {
			held, deps = append(held, deps...), nil
			held = append(held, cutFrom(rd.followers)...)
			if haveKey {
				cl := e.leaseClients()
				cl.stream(l, key, false, readRate/4, hold, 50, r)
				if len(rd.lTicks) == 2 {
					tick := rd.lTicks[1] - rd.lTicks[0]
					s.At(s.Now()+time.Duration(k-2)*tick, func() { cl.stream(l, key, false, readRate, 3*tick, 150, r) })
				}
			}
			s.At(min(s.Now()+hold, window), finish)
		}
		cur = rd
		s.At(min(s.Now()+600*ms, window), func() {
			if !rd.cutting {
				finish()
			}
		})
	}
	s.At(dur(rng, 50*ms, 300*ms), round)
}

// quickestFirst orders replicas so that the one with the least sum of
// delays to the others comes first.
func quickestFirst(s *sim.Sim, ids []int) []int {
	sum := func(a int) time.Duration {
		var t time.Duration
		for q := 0; q < s.N(); q++ {
			t += s.Delay(paxos.NodeID(a), paxos.NodeID(q))
		}
		return t
	}
	out := slices.Clone(ids)
	slices.SortStableFunc(out, func(a, b int) int { return int(sum(a) - sum(b)) })
	return out
}

// observe follows l's ticks and the candidate's sends to the followers
// from its ticks; once the candidate's rhythm is known it plans the cuts
// (plan), and then cuts the followers off right after l's first tick at or
// after the planned time, if the plan still holds with what the candidate
// did meanwhile (otherwise the deputies hear l again and it plans anew).
func (rd *staggerRound) observe(s *sim.Sim, o sim.Output) {
	if rd.done || o.Ready == nil || len(o.Ready.Messages) == 0 || o.Input != nil || o.Proposed != nil {
		return
	}
	now := s.Now()
	switch id := int(o.Replica); id {
	case rd.c:
		if slices.ContainsFunc(o.Ready.Messages, func(m paxos.Message) bool { return slices.Contains(rd.followers, int(m.To)) }) {
			rd.cSends = append(rd.cSends, now)
			if len(rd.cSends) > 4 {
				rd.cSends = rd.cSends[1:]
			}
		}
	case rd.l:
		rd.lTicks = append(rd.lTicks, now)
		if len(rd.lTicks) > 2 {
			rd.lTicks = rd.lTicks[1:]
		}
		if len(rd.cSends) < 3 || len(rd.lTicks) < 2 {
			return
		}
		var period time.Duration
		for i := 1; i < len(rd.cSends); i++ {
			period = max(period, rd.cSends[i]-rd.cSends[i-1])
		}
		tick := rd.lTicks[1] - rd.lTicks[0]
		if period <= 0 || tick <= 0 || period > time.Duration(4*rd.k)*tick {
			return
		}
		if rd.plan != 0 {
			if now+100*time.Microsecond < rd.plan {
				return
			}
			if rd.feasible(s, rd.planned, now, tick, period) {
				rd.done, rd.cutting = true, true
				s.At(now, rd.onCut)
				return
			}
			rd.plan = 0
			s.At(now, rd.onCancel)
		}
		if rd.tries >= 100 {
			return
		}
		rd.tries++
		first := 1
		if len(rd.deputies) == 0 {
			first = 0
		}
		for j := first; j <= 4; j++ {
			if at := now + time.Duration(j)*tick; rd.feasible(s, now, at, tick, period) {
				rd.plan, rd.planned = max(at, 1), now
				s.At(now, rd.onPlan)
				if j == 0 {
					rd.done, rd.cutting = true, true
					s.At(now, rd.onCut)
				}
				return
			}
		}
	}
}

// feasible reports whether, with the deputies cut off from l after its
// tick at dep and the followers after its tick at at, one of the
// candidate's next two attempts (every period after its last) wins a
// follower whose promise to l has just run out, and the deputies, and a
// write there and a read at l complete before l's clock has counted
// LeaseTicks of its ticks (tick apart) from the last heartbeat the
// followers acknowledged. Each message is reckoned 0.25 ms longer than its
// link's delay (the replicas' service), and the candidate's write as
// leaving the moment it wins.
func (rd *staggerRound) feasible(s *sim.Sim, dep, at, tick, period time.Duration) bool {
	const service = 250 * time.Microsecond
	delay := func(a, b int) time.Duration { return s.Delay(paxos.NodeID(a), paxos.NodeID(b)) + service }
	// tickAfter is replica q's first tick at or after t.
	tickAfter := func(q int, t time.Duration) (time.Duration, time.Duration, bool) {
		next, iv, ok := s.NextTick(paxos.NodeID(q))
		if !ok || iv <= 0 {
			return 0, 0, false
		}
		if t > next {
			next += (t - next + iv - 1) / iv * iv
		}
		return next, iv, true
	}
	// expiry is when replica f's promise to l runs out if l's last
	// heartbeat to it leaves at sent.
	expiry := func(f int, sent time.Duration) (time.Duration, bool) {
		first, iv, ok := tickAfter(f, sent+delay(rd.l, f)+time.Nanosecond)
		return first + time.Duration(rd.k-1)*iv, ok
	}
	// basis is the send time of the last heartbeat every follower
	// acknowledged to l (with both ways cut, the last whose
	// acknowledgement was back by at).
	basis := at
	if !rd.oneWay {
		for _, f := range rd.followers {
			m := (delay(rd.l, f) + delay(f, rd.l) + tick - 1) / tick
			basis = min(basis, at-m*tick)
		}
	}
	end := basis + time.Duration(rd.k)*tick - rd.slack // l's lease as long as the promise ends
	last := rd.cSends[len(rd.cSends)-1]
	for send := last + period; send < last+3*period; send += period {
		if send <= at {
			continue
		}
		// Deputies: their promise must have run out when the request
		// reaches them; their promises come back at won.
		won := send
		ok := true
		for _, q := range rd.deputies {
			exp, live := expiry(q, dep)
			arrive := send + delay(rd.c, q)
			if !live || arrive < exp+150*time.Microsecond {
				ok = false
				break
			}
			won = max(won, arrive+delay(q, rd.c))
		}
		if !ok {
			continue
		}
		for _, f := range rd.followers {
			exp, live := expiry(f, at)
			arrive := send + delay(rd.c, f)
			if !live || arrive < exp+150*time.Microsecond || arrive > exp+rd.late {
				continue
			}
			leads := max(won, arrive+delay(f, rd.c))
			// Its write needs N/2 acceptances besides its own: from the
			// deputies and the quickest followers (an acceptor takes a
			// higher ballot's write without having promised it).
			var trips []time.Duration
			for _, q := range rd.deputies {
				trips = append(trips, delay(rd.c, q)+delay(q, rd.c))
			}
			trips = append(trips, delay(rd.c, f)+delay(f, rd.c))
			for _, q := range rd.followers {
				if q != f {
					trips = append(trips, delay(rd.c, q)+delay(q, rd.c))
				}
			}
			slices.Sort(trips)
			if need := s.N() / 2; need <= len(trips) && leads+trips[need-1]+service+time.Millisecond < end {
				return true
			}
		}
	}
	return false
}

// staggerAlone reports whether a lease run with partitions that leaseSwarm
// would give one swarm over all injectors has the staggered lease edges
// alone instead (half of them, one lease run in eight, from a random
// stream of its own): their timing holds only in a cluster nothing else
// disturbs, and the lease faults' own runs (alone, the lease edges alone,
// with the swarm) stay what they were.
func staggerAlone(seed uint64) bool {
	return rand.New(rand.NewPCG(seed, 0x73746167616c6f6e)).IntN(2) == 0
}

// withoutStagger returns ins without the staggered lease edges, which run
// only alone (staggerAlone).
func withoutStagger(ins []injector) []injector {
	return slices.DeleteFunc(slices.Clone(ins), func(in injector) bool { return in.is(injectLeaseStagger) })
}
