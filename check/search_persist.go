package check

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Amnesiac bridges: a replica crashes in the instant after it answered a
// peer, its answer already on the wire, and comes back holding only what it
// had made durable by then, while a rival that never heard the peer reaches
// it first. A replica that persists what it promised, voted or acknowledged
// after its answer (or not at all) then gives the rival an answer that
// contradicts the one the peer counted. The other crash faults come at
// random times or bounce a replica without keeping the two sides apart, so
// the rival usually hears the first proposer too, or the answered peer's
// next message reaches the restarted replica first and repairs what it
// forgot. These faults watch only who answers whom and who sends to
// several peers, never message types, and draw from random streams of
// their own.

// injectAmnesiacBridges adds, when crashes are among the faults, amnesiac
// bridges, one at a time, 2 to 16 per run. A bridge X sits between two
// halves of the other replicas that lose each other both ways for 50 to
// 800 ms, each half a quorum with X alone. It forms in one of three ways,
// with probabilities drawn per run:
//
//   - at a round: a replica P that does not say it leads starts a round of
//     its own (see startsRound: a phase 1, a pre-election or election, a
//     recovery, a command leader's first round); X is drawn among the
//     others (one that does not say it leads), P's half is cut off at
//     once, so that the rival half misses P's request (a torn broadcast);
//     X crashes after answering P alone once or twice (a promise; a
//     pre-vote and then a vote), if it does within 5 to 100 ms;
//   - again: while a split holds, a replica of either half other than X
//     starts a round of its own (its half lost its leader, or its rival):
//     X serves it the same way, that replica's half taken as P's;
//   - at an answer: X answers a peer P alone (a vote, an acknowledgement),
//     with a probability of 0.005 to 0.1 per answer; the others are split
//     at once, P's half filled first with the replicas that answered P
//     alone in the last 5 to 40 ms (they hold what P sent them), and X
//     crashes right after this step.
//
// X restarts 0 to 3 ms after its crash, deaf to P's half (both ways) until
// it has answered the rival half alone once or (mostly) twice (a promise,
// then an acceptance; a pre-vote, then a vote) or for at most 5 to 200 ms.
// In most bridges (a share of 0.5 to 1 per run) a replica of the rival half
// has its clock run ahead 0 to 10 ms after the restart until it starts a
// round of its own, so that its request reaches X while P's cannot;
// otherwise the rival half acts on its own (an old leader's requests, its
// own timeouts). See bridgesAlone for the runs in which the bridges act
// alone. In half the runs (search_swing.go) X stays deaf to P's half until
// the split heals, not for a drawn while, and may swing: right after its
// last answer to the rival half it crashes again, comes back deaf to that
// half instead, and a replica of P's half has its clock run ahead, 0 to
// 60 ms later, until it starts a round while not leading (a leader that
// lost its quorum steps down first).
func injectAmnesiacBridges(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x616d6e65736961))
	if n < 3 {
		return
	}
	ms := time.Millisecond
	budget := 2 + rng.IntN(15)
	pStart := math.Pow(100, -rng.Float64()) // 0.01 to 1, log-uniform
	pAnswer := 0.005 + 0.1*rng.Float64()
	jump := 0.5 + 0.5*rng.Float64()
	swings := newBridgeSwings(e.seed) // search_swing.go
	type bridge struct {
		x, p    int
		side    [2][]int
		until   time.Duration // while the split holds
		await   time.Duration // X must answer P alone by then
		answers int           // X forgets after answering P alone this many times
		swing   bool          // a swinging bridge's second crash (search_swing.go)
	}
	var cur *bridge
	// answered[q] is the peer q last answered alone, and when: the
	// replicas that answered P just now hold what P sent them.
	answered := make([]int, n)
	answeredAt := make([]time.Duration, n)
	for i := range answered {
		answered[i] = -1
	}
	// split cuts the replicas other than x in two halves, each of which
	// makes a quorum with x alone: p's side, filled first with those that
	// answered p alone within the last recent (they hold what p sent
	// them), and the rival side. It returns the bridge; the split heals
	// after 50 to 800 ms.
	recent := dur(rng, 5*ms, 40*ms)
	split := func(x, p int) *bridge {
		b := &bridge{x: x, p: p, side: [2][]int{{p}, nil}}
		var voters, rest []int
		for _, q := range rng.Perm(n) {
			switch {
			case q == x || q == p:
			case answered[q] == p && s.Now()-answeredAt[q] <= recent:
				voters = append(voters, q)
			default:
				rest = append(rest, q)
			}
		}
		all := append(voters, rest...)
		h := (n - 1) / 2
		b.side[0] = append(b.side[0], all[:h-1]...)
		b.side[1] = all[h-1:]
		b.until = min(s.Now()+dur(rng, 50*ms, 800*ms), window)
		cuts := e.cut(between(b.side[0], b.side[1]))
		e.counts.partitions++
		s.At(b.until, func() { e.heal(cuts) })
		return b
	}
	// jumpToRound runs id's clock ahead (sim.Advance) tick by tick until
	// it starts a round of its own (see startsRound), for at most maxJump
	// ticks.
	jumping, started, leaderless := -1, false, false
	jumpToRound := func(id int, swing bool) {
		if e.down[id] || s.Now() >= window || !s.Alive(paxos.NodeID(id)) {
			return
		}
		jumping, started, leaderless = id, false, swing
		for k := 0; k < maxJump && !started && s.Alive(paxos.NodeID(id)); k++ {
			_ = s.Advance(paxos.NodeID(id), 1)
		}
		jumping = -1
	}
	// forget bounces x right after this step (its answer leaves first),
	// deaf to p's side until it has answered the rival side alone once or
	// twice (a rival's round, or a pre-election and an election) or for at
	// most 5 to 200 ms, and lets the rival side act.
	var deaf *bridge
	deafLinks := []link(nil)
	deafLeft := 0
	hear := func() {
		if deaf != nil {
			e.heal(deafLinks)
			deaf, deafLinks = nil, nil
		}
	}
	forget := func(b *bridge) {
		back := time.Duration(0)
		if rng.IntN(2) == 0 {
			back = dur(rng, 10*time.Microsecond, 3*ms)
		}
		deafFor := time.Duration(float64(5*ms) * math.Pow(40, rng.Float64())) // 5 to 200 ms, log-uniform

		left := 1 + min(1, rng.IntN(4))
		jumps := e.clockJumps && rng.Float64() < jump
		rival := b.side[1][rng.IntN(len(b.side[1]))]
		delay := upTo(rng, 10*ms)
		if swings.p > 0 {
			deafFor = max(b.until-s.Now(), 5*ms)
		}
		if b.swing {
			delay = swings.delay()
		}
		s.At(s.Now(), func() {
			if !e.crash(b.x) {
				return
			}
			s.At(s.Now()+back, func() {
				e.restart(b.x)
				hear()
				deaf, deafLeft = b, left
				deafLinks = e.cut(between([]int{b.x}, b.side[0]))
				s.At(s.Now()+deafFor, func() {
					if deaf == b {
						hear()
					}
				})
				if jumps {
					s.At(s.Now()+delay, func() { jumpToRound(rival, b.swing) })
				}
			})
		})
	}
	busyUntil := time.Duration(0)
	var split0 *bridge // the last split made
	again := rng.Float64()
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if id == jumping && o.Input == nil && o.Proposed == nil && startsRound(o) && (!leaderless || !leads(s, id)) {
			started = true
		}
		if e.down[id] || s.Now() >= window {
			return
		}
		if answersAlone(o) {
			answered[id], answeredAt[id] = int(o.Input.From), s.Now()
			if b := deaf; b != nil && id == b.x && slices.Contains(b.side[1], int(o.Input.From)) {
				if deafLeft--; deafLeft == 0 && swings.swing(s.Now(), b.until) {
					// It forgets its answers to the rival side in turn (search_swing.go).
					forget(&bridge{x: b.x, p: int(o.Input.From), side: [2][]int{b.side[1], b.side[0]}, until: b.until, swing: true})
				} else if deafLeft == 0 {
					s.At(s.Now()+upTo(rng, 5*ms), func() {
						if deaf == b {
							hear()
						}
					})
				}
			}
		}
		if b := cur; b != nil && s.Now() < b.await {
			if id == b.x && answersAlone(o) && int(o.Input.From) == b.p {
				if b.answers--; b.answers == 0 {
					cur = nil
					forget(b)
				}
			}
			return
		}
		if budget == 0 || id == e.jumping || id == jumping {
			return
		}
		if last := split0; last != nil && s.Now() < last.until && id != last.x && !e.down[last.x] && startsRound(o) && !leads(s, id) && rng.Float64() < again {
			// A replica cut off by the split in force (it lost its
			// leader, or its rival) starts a round of its own: the same
			// bridge serves it, the sides turned so that its side is P's.
			b := &bridge{x: last.x, p: id, side: last.side, until: last.until}
			if !slices.Contains(b.side[0], id) {
				b.side[0], b.side[1] = b.side[1], b.side[0]
			}
			budget--
			b.await = s.Now() + dur(rng, 5*ms, 100*ms)
			b.answers = 1 + rng.IntN(2)
			cur = b
			return
		}
		if s.Now() < busyUntil {
			return
		}
		switch {
		case startsRound(o) && !leads(s, id) && rng.Float64() < pStart:
			var others []int
			for _, q := range rng.Perm(n) {
				if q != id && !e.down[q] {
					others = append(others, q)
				}
			}
			if len(others) < 2 {
				return
			}
			if leads(s, others[0]) {
				others[0], others[1] = others[1], others[0]
			}
			budget--
			// Cut now: this step's messages to the rival side are lost.
			b := split(others[0], id)
			b.await = s.Now() + dur(rng, 5*ms, 100*ms)
			b.answers = 1 + rng.IntN(2)
			cur, busyUntil, split0 = b, b.until, b
		case o.Input != nil && answersAlone(o) && rng.Float64() < pAnswer:
			p := int(o.Input.From)
			if p == id || e.crashed >= e.maxDown {
				return
			}
			budget--
			b := split(id, p)
			busyUntil, split0 = b.until, b
			forget(b)
		}
	})
}

// startsRound reports whether o starts a round of its own: a step that is
// not an answer to one peer and sends to at least two peers (a phase 1, an
// election or pre-election, a recovery, a command leader's first round,
// or, at a leader, a round of its own).
func startsRound(o sim.Output) bool {
	if answersAlone(o) {
		return false
	}
	for i := range o.Ready.Messages {
		if o.Ready.Messages[i].To != o.Ready.Messages[0].To {
			return true
		}
	}
	return false
}

// injectRejoinEchoes adds, when duplicates are among the faults, echoing
// links around a replica that rejoins: when a replica restarts, or handles
// a message after hearing nothing for 40 ms or more (a cut healed), in a
// share of those moments (0.2 to 1 per run) every link into it (in half of
// them, every link out of it too) delivers a share of the messages (0.3 to
// 1) twice for 30 to 400 ms, the second copy after an extra delay of up to
// 2 to 60 ms. A rejoining replica is sent what it missed (catch-up, a
// snapshot, retransmissions) and takes part in the rounds its return makes
// possible; the echoes make the copies of those messages arrive after the
// replica has moved on, and make each of its answers count twice where
// answers are tallied by message instead of by sender. The message faults
// duplicate a few messages at random; these come exactly when a replica
// is catching up. A quarter of the runs have none.
func injectRejoinEchoes(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x6563686f6573))
	if n < 2 || rng.IntN(4) == 0 {
		return
	}
	ms := time.Millisecond
	p := 0.2 + 0.8*rng.Float64()
	echoUntil := make([]time.Duration, n)
	lastInput := make([]time.Duration, n)
	echo := func(id int) {
		if s.Now() >= window || s.Now() < echoUntil[id] || rng.Float64() >= p {
			return
		}
		until := min(s.Now()+dur(rng, 30*ms, 400*ms), window)
		echoUntil[id] = until
		f := sim.Faults{Duplicate: 0.3 + 0.7*rng.Float64(), Reorder: 1, ReorderDelay: dur(rng, 2*ms, 60*ms)}
		var links []link
		both := rng.IntN(2) == 0
		for q := 0; q < n; q++ {
			if q != id {
				links = append(links, link{q, id})
				if both {
					links = append(links, link{id, q})
				}
			}
		}
		set := func(f sim.Faults) {
			for _, l := range links {
				_ = s.SetLinkFaults(paxos.NodeID(l.from), paxos.NodeID(l.to), f)
			}
		}
		set(f)
		s.At(until, func() { set(sim.Faults{}) })
	}
	prev := e.restarted
	e.restarted = func(id int) {
		if prev != nil {
			prev(id)
		}
		echo(id)
	}
	e.observers = append(e.observers, func(o sim.Output) {
		if o.Input == nil {
			return
		}
		id := int(o.Replica)
		if last := lastInput[id]; s.Now()-last >= 40*ms && last > 0 {
			echo(id)
		}
		lastInput[id] = s.Now()
	})
}

// bridgesAlone keeps, in half the runs whose injectors include the
// amnesiac bridges, those bridges alone: they need the two sides and the
// bridge to act undisturbed for a few round trips, which the other crashes
// and cuts interrupt in most runs (measured on the planted bugs that lose
// what they answered, such a run catches several times more often). It
// draws from its own random stream; runs without the bridges stay as they
// were.
func bridgesAlone(on []injector, seed uint64) []injector {
	i := slices.IndexFunc(on, func(in injector) bool {
		return in.is(injectAmnesiacBridges)
	})
	if i < 0 || len(on) == 1 || rand.New(rand.NewPCG(seed, 0x616c6f6e65)).IntN(2) == 0 {
		return on
	}
	return on[i : i+1]
}
