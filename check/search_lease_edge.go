package check

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Lease handovers timed to the edge of the lease (runs with leases only,
// see leaseInjectors). A lease is only as good as the gap between when the
// leader stops believing it and when its followers stop keeping their
// promise; a lease that is a little too long shows only when a new leader
// is elected in that gap, commits a write, and a read reaches the old
// leader before its belief runs out: a few milliseconds, once per
// handover. The handovers of search_lease.go leave all three to chance;
// these time them, from what the simulator shows of the replicas (when
// each sent messages on its own), never from message types.

// edgeDrift is the drift of the lease edges with leases of leaseTicks
// ticks: the extreme multi's leases tolerate, rates within
// 1 ± 1/(2·leaseTicks-3) (see leaseDrift), less a thousandth, so that the
// fastest follower's promise still outlasts the slowest leader's lease by
// the message delay (at least a millisecond in check's runs); 0 without
// leases.
func edgeDrift(leaseTicks int) float64 {
	return 0.999 * leaseDrift(leaseTicks) * float64(2*leaseTicks-2) / float64(2*leaseTicks-3)
}

// edgeRound is one lease handover of injectLeaseEdges.
type edgeRound struct {
	l      int           // the leader the round deposes
	cands  []int         // replicas cut off from l both ways, which campaign
	rest   []int         // the others, which keep l's lease until it is cut off
	oneWay bool          // cut only l's outgoing links at the edge
	gap    float64       // l's tick intervals the candidates' attempt comes after the followers' k-1 ticks
	follow float64       // a follower's tick interval over l's
	extra  time.Duration // added to the target gap (slow acknowledgements)
	skip   int           // campaign attempts to let pass before aiming
	// exact: aim by the followers' clocks (sim.NextTick) and the links'
	// delays, so that the candidate's request reaches a follower between
	// 0.15 ms and late after the follower's promise to l ran out, l's last
	// heartbeat having reached that follower at most phase of its tick
	// interval before one of its ticks (30 to 100%).
	exact  bool
	late   time.Duration
	phase  float64
	sender int    // the candidate that sent to rest last
	key    string // the key the round's clients write and read
	// afterWrite: cut l off right after it sent a client's write out (so
	// that the followers accept it and l answers, while none of them
	// learns it was chosen), once the candidates campaign, instead of
	// aiming at the followers' promise
	afterWrite bool
	// newLeader starts reads at a candidate that begins to lead (sends to
	// the followers when it handles a message) after l was cut off
	newLeader func(c int)
	tries     int // l's ticks since the candidates' rhythm was known

	lTicks []time.Duration // l's last two ticks that sent messages
	cSends []time.Duration // the candidates' last ticks that sent to rest
	target time.Duration   // cut l off at its first tick from then on
	aimed  bool
	cutOff func() // isolates l (once)
}

// injectLeaseEdges deposes the leader again and again, in four fifths of
// the lease runs, each time so that a replica already campaigning asks the
// others for their promise just as the promise they gave the old leader
// runs out, while clients read at the old leader. A round starts 50 to
// 300 ms into the fault window and 10 to 80 ms after the previous one
// healed; with L the replica that says it leads:
//   - candidates are cut off from L both ways: one replica, or in three
//     quarters of the rounds (N-1)/2 of them (then the new leader needs
//     only one of the others, the followers). They time out and campaign
//     every few ticks, and the followers, which still hear L, refuse them
//     while they grant L a lease. In half the rounds the roles follow the
//     network (sim.Delay): the candidate and follower that make the
//     quickest handover away from L (L's heartbeat reaching the follower,
//     then the candidate's request, the answer, and a write there and
//     back), or, with one candidate, the replica that would make a
//     quicker leader for the next round than L is for this one;
//   - in seven eighths of the rounds, L's clock runs at the slow end of
//     the drift the leases tolerate and the others' at the fast end
//     (edgeDrift: the extreme of the bound, not inside it);
//   - in a third of the rounds, the others' messages to L are delayed by
//     up to 10 to 60 ms each (acknowledgements that arrive long after
//     their heartbeat was sent);
//   - writers at the candidates' sites put a key the workload wrote
//     before (1 to 3 puts, which wait there until a candidate wins), and
//     readers read it at L's site (600 to 3,000 a second); in half the
//     rounds a writer puts it at L too (writes a new leader must finish
//     before it reads);
//   - once the candidates have sent to the followers three times (the
//     longest interval between their sends is their rhythm: a campaign
//     repeats, or starts over sooner) and 0 or 1 more, L is cut off from
//     the followers right after one of its own ticks: in three quarters
//     of the rounds, the first tick (of the next 40) from which one of the
//     candidates' next few attempts reaches a follower 0.15 to 0.8..3 ms
//     after that follower's promise to L runs out (LeaseTicks of its ticks
//     after the first that follows L's last heartbeat, reckoned from
//     sim.NextTick and the links' delays), that heartbeat having arrived
//     within 30 to 100% of a tick before that tick; otherwise the tick
//     from which the next attempt comes LeaseTicks-1 of a follower's tick
//     intervals and 0.3 to 1.3 of L's later (plus up to the extra delay
//     of the acknowledgements). In three quarters of the rounds only L's
//     outgoing links are cut, so that the acknowledgements of L's last
//     heartbeat still arrive (L's lease and the followers' promise then
//     start from the same heartbeat); in the rest both ways. Without a
//     rhythm 400 ms into the round, L is cut off then. At N >= 5, in the
//     rounds that are not exact and write at L (an eighth), L is instead
//     cut off (outgoing links only) right after it sends a write of the
//     round's key to the followers once the candidates have sent three
//     times, so that the followers accept it and L may answer while no
//     one learns it was chosen (N = 3 runs are as they were);
//   - from then on readers read at L's site 1,000 to 4,000 times a second
//     and, in three quarters of the rounds (all the write-edge ones), at
//     the candidates' (where the new leader reads; at N >= 5 only at the
//     first candidate that starts to lead, 3 to 30 ms after it sends to
//     the followers on a message, 1,000 to 3,000 times a second for
//     40 ms), and in half the rounds (all the write-edge ones) the links among the
//     others lose 10 to 40% of their messages (a new leader's first writes may
//     be lost while its heartbeats get through).
//
// The cuts last 40 to 150 ms, then every link of the round heals. A lease
// that outlives the followers' promise by even a tick (no margin for the
// clocks' phase and drift), one measured from when acknowledgements
// arrived, a follower that promises while it grants a lease, or a new
// leader that reads before it finished what it took over, then answers a
// read with a value older than a write that completed before it.
func injectLeaseEdges(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x6c65617365656467))
	if n < 3 || e.leaseTicks < 3 || rng.IntN(5) == 0 {
		return
	}
	k, d := e.leaseTicks, edgeDrift(e.leaseTicks)
	ms := time.Millisecond
	var cur *edgeRound
	e.observers = append(e.observers, func(o sim.Output) {
		if cur != nil {
			cur.observe(s, o, k)
		}
	})
	var round func()
	round = func() {
		cur = nil
		if s.Now() >= window {
			return
		}
		drift, slow, readAll, writeL := rng.IntN(8) != 0, rng.IntN(3) == 0, rng.IntN(4) != 0, rng.IntN(2) == 0
		lossy, loss := rng.IntN(2) == 0, 0.1+0.3*rng.Float64()
		oneWay := rng.IntN(4) != 0
		many, near := rng.IntN(4) != 0, rng.IntN(2) == 0
		delay := dur(rng, 10*ms, 60*ms)
		hold := dur(rng, 40*ms, 150*ms)
		rate, readRate := 200+800*rng.Float64(), 1000+3000*rng.Float64()
		gap, skip := 0.3+rng.Float64(), rng.IntN(2)
		exact, late, phase := rng.IntN(4) != 0, dur(rng, 800*time.Microsecond, 3*ms), 0.3+0.7*rng.Float64()
		pick := rng.Uint64()
		next := dur(rng, 10*ms, 80*ms)
		l := leaderNow(e)
		if l < 0 {
			s.At(s.Now()+next, round)
			return
		}
		r := rand.New(rand.NewPCG(pick, 0x6c65617365656467))
		others := othersThan(n, l)
		r.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
		nc := 1
		if many {
			nc = (n - 1) / 2
		}
		if near {
			others = nearRoles(s, l, others, nc)
		}
		rd := &edgeRound{l: l, cands: others[:nc], rest: others[nc:], oneWay: oneWay, gap: gap, skip: skip, follow: 1, exact: exact, late: late, phase: phase,
			afterWrite: n >= 5 && writeL && !exact}
		if rd.afterWrite {
			rd.oneWay, lossy, readAll = true, true, true
		}
		held := e.cut(between([]int{l}, rd.cands))
		if drift && d > 0 {
			for id := 0; id < n; id++ {
				s.SetClockRate(paxos.NodeID(id), 1+d-2*d*b2f(id == l))
			}
			rd.follow = (1 - d) / (1 + d)
		}
		var slowed, lost []link
		if slow {
			for _, q := range others {
				slowed = append(slowed, link{q, l})
			}
			setLinks(s, slowed, sim.Faults{Reorder: 1, ReorderDelay: delay})
			rd.extra = time.Duration(r.Int64N(int64(delay)))
		}
		start := s.Now()
		span := 400*ms + hold
		key, haveKey := writtenKey(s, r)
		rd.key = key
		if haveKey {
			cl := e.leaseClients()
			for _, c := range rd.cands {
				cl.stream(c, key, true, rate, span, 1+r.IntN(3), r)
			}
			cl.stream(l, key, false, 3*rate, span, 300, r)
			if writeL {
				cl.stream(l, key, true, rate, span, 40, r)
			}
		}
		done := false
		finish := func() {
			if done {
				return
			}
			done = true
			e.heal(held)
			setLinks(s, slowed, sim.Faults{})
			setLinks(s, lost, sim.Faults{})
			s.At(s.Now()+next, round)
		}
		rd.cutOff = func() {
			if rd.aimed {
				return
			}
			rd.aimed = true
			var iso []link
			for _, q := range rd.rest {
				iso = append(iso, link{l, q})
				if !rd.oneWay {
					iso = append(iso, link{q, l})
				}
			}
			held = append(held, e.cut(iso)...)
			if lossy {
				for _, a := range others {
					for _, b := range others {
						if a != b {
							lost = append(lost, link{a, b})
						}
					}
				}
				setLinks(s, lost, sim.Faults{Drop: loss})
			}
			if haveKey {
				cl := e.leaseClients()
				cl.stream(l, key, false, readRate, hold, 200, r)
				switch {
				case readAll && n >= 5:
					wait, newRate := dur(r, 3*ms, 30*ms), 1000+2000*r.Float64()
					rd.newLeader = func(c int) {
						s.At(s.Now()+wait, func() { e.leaseClients().stream(c, key, false, newRate, 40*ms, 60, r) })
					}
				case readAll:
					for _, q := range rd.cands {
						cl.stream(q, key, false, rate/2, hold, 30, r)
					}
				}
			}
			s.At(min(s.Now()+hold, window), finish)
		}
		cur = rd
		s.At(min(start+400*ms, window), func() {
			if !rd.aimed {
				rd.cutOff()
			}
		})
	}
	s.At(dur(rng, 50*ms, 300*ms), round)
}

// observe follows the round's replicas: l's ticks (outputs that answer
// neither a message nor a proposal) and the candidates' sends to the
// followers from their ticks. Once the candidates' rhythm is known and
// skip attempts passed, it cuts l off right after a tick of l: the first
// one onEdge accepts (exact rounds, for 40 ticks), or the first from which
// the candidates' next attempt is at most k-1 follower tick intervals and
// gap of l's (plus extra) away.
func (rd *edgeRound) observe(s *sim.Sim, o sim.Output, k int) {
	if o.Ready == nil || len(o.Ready.Messages) == 0 {
		return
	}
	now := s.Now()
	id := int(o.Replica)
	toRest := func() bool {
		return slices.ContainsFunc(o.Ready.Messages, func(m paxos.Message) bool { return slices.Contains(rd.rest, int(m.To)) })
	}
	if rd.aimed {
		if o.Input != nil && rd.newLeader != nil && slices.Contains(rd.cands, id) && toRest() {
			rd.newLeader(id)
			rd.newLeader = nil
		}
		return
	}
	if o.Proposed != nil {
		if rd.afterWrite && id == rd.l && o.Proposed.Key == rd.key && o.Proposed.Writes() && len(rd.cSends) >= 3 && toRest() {
			s.At(now, rd.cutOff)
		}
		return
	}
	if o.Input != nil {
		return
	}
	if slices.Contains(rd.cands, id) {
		if !toRest() {
			return
		}
		rd.target, rd.sender = 0, id
		rd.cSends = append(rd.cSends, now)
		if len(rd.cSends) > 4 {
			rd.cSends = rd.cSends[1:]
			if rd.skip > 0 {
				rd.skip--
			}
		}
		return
	}
	if id != rd.l {
		return
	}
	rd.lTicks = append(rd.lTicks, now)
	if len(rd.lTicks) > 2 {
		rd.lTicks = rd.lTicks[1:]
	}
	if rd.afterWrite {
		return
	}
	cs := rd.cSends
	if len(cs) < 3 || len(rd.lTicks) < 2 || rd.skip > 0 {
		return
	}
	// A campaign repeats every so often, and starts over (sooner) when
	// it times out: the longest interval is the repetition.
	var period time.Duration
	for i := 1; i < len(cs); i++ {
		period = max(period, cs[i]-cs[i-1])
	}
	tick := rd.lTicks[1] - rd.lTicks[0]
	if period <= 0 || tick <= 0 || period > time.Duration(4*k)*tick {
		return
	}
	if rd.exact && rd.tries < 40 {
		rd.tries++
		if rd.onEdge(s, now, period, k) {
			s.At(now, rd.cutOff)
		}
		return
	}
	lead := time.Duration((float64(k-1)*rd.follow+rd.gap)*float64(tick)) + rd.extra
	if rd.target == 0 {
		next := cs[len(cs)-1] + period
		for next-now <= lead {
			next += period
		}
		rd.target = next - lead
	}
	if now >= rd.target {
		s.At(now, rd.cutOff)
	}
}

// onEdge reports whether cutting l off right after its tick at now puts
// the candidates' next few attempts (every period after the last one,
// from the candidate that sent last) at one of the other replicas
// between 0.15 ms and rd.late after that replica's promise to l ran out:
// k ticks of its own after the first that follows l's heartbeat of now,
// which reaches it at most rd.phase of a tick interval before that tick.
// It reckons each message 0.25 ms longer than its link's delay (the
// replicas' service).
func (rd *edgeRound) onEdge(s *sim.Sim, now, period time.Duration, k int) bool {
	const service = 250 * time.Microsecond
	last := rd.cSends[len(rd.cSends)-1]
	for _, f := range rd.rest {
		next, iv, ok := s.NextTick(paxos.NodeID(f))
		if !ok || iv <= 0 {
			continue
		}
		recv := now + s.Delay(paxos.NodeID(rd.l), paxos.NodeID(f)) + service
		first := next
		if recv >= next {
			first = next + ((recv-next)/iv+1)*iv
		}
		if float64(first-recv) > rd.phase*float64(iv) {
			continue
		}
		expiry := first + time.Duration(k-1)*iv
		for at := last + period; at < last+4*period; at += period {
			off := at + s.Delay(paxos.NodeID(rd.sender), paxos.NodeID(f)) + service - expiry
			if off > 150*time.Microsecond && off < rd.late {
				return true
			}
		}
	}
	return false
}

// edgeScore is how long, at the least, a handover away from l takes at the
// edge of its lease through the candidate c and the follower f: l's
// heartbeat reaching f, then c's request reaching f, f's answer and c's
// write there and back.
func edgeScore(s *sim.Sim, l, c, f int) time.Duration {
	return s.Delay(paxos.NodeID(l), paxos.NodeID(f)) + 3*s.Delay(paxos.NodeID(c), paxos.NodeID(f))
}

// bestEdge returns the candidate and follower among others with the least
// edgeScore for leader l, and that score.
func bestEdge(s *sim.Sim, l int, others []int) (c, f int, score time.Duration) {
	c, f, score = -1, -1, -1
	for _, x := range others {
		for _, y := range others {
			if x != y && (score < 0 || edgeScore(s, l, x, y) < score) {
				c, f, score = x, y, edgeScore(s, l, x, y)
			}
		}
	}
	return c, f, score
}

// nearRoles orders others (the replicas other than the leader l) so that
// the first nc are the candidates of a handover that is as quick as the
// network allows: the candidate and follower with the least edgeScore
// first and last, the other candidates those nearest the first. With one
// candidate, when another replica would make a quicker leader for the next
// round than l is for this one, that replica is the candidate (it leads
// next).
func nearRoles(s *sim.Sim, l int, others []int, nc int) []int {
	c, f, score := bestEdge(s, l, others)
	if c < 0 {
		return others
	}
	if nc == 1 {
		for _, x := range others {
			if _, _, sx := bestEdge(s, x, othersThan(s.N(), x)); sx+2*time.Millisecond < score {
				c, score = x, sx
			}
		}
		if c == f {
			f = -1
		}
	}
	d := func(x int) time.Duration { return s.Delay(paxos.NodeID(c), paxos.NodeID(x)) }
	rest := slices.DeleteFunc(slices.Clone(others), func(x int) bool { return x == c || x == f })
	slices.SortStableFunc(rest, func(a, b int) int { return int(d(a) - d(b)) })
	out := append([]int{c}, rest...)
	if f >= 0 {
		out = append(out, f)
	}
	return out
}
