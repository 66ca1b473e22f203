package check

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// injectStalledReplies makes the answers to a round reach its proposer
// only after a rival took the round over through it, 5 to 40 times per run
// (with probability 0.2 to 1 per step that qualifies, one at a time, 5 to
// 60 ms apart):
//
//  1. When a replica A starts a round of its own (a step on a client's
//     request or a timer, not on a peer's message, that persists something
//     and sends), every link into A from its peers but one, B, is held
//     (sim.Hold: what they send A waits at the link, nothing is lost), and
//     the link from B to A loses what B sends. B is a peer A's step did
//     not reach, if any (it hears of A's round when A widens it), else the
//     peer that last started a round of its own if it did so within 2 to
//     20 ms (two proposers at once), else any peer.
//  2. Once B has answered A (it holds what A started), 0 to 4 ms later the
//     link from B to A heals, B stops hearing all but F-1 of the peers A's
//     step reached (so that its quorum is A, B and those), and 0 to 4 ms
//     after that B has its clock run ahead until a timeout fires
//     (fireTimeout), one to three times: B takes over what A started while
//     A's round still waits for its answers. Right after, a client at B's
//     site writes the key of the client's command A's step proposed, if
//     any: B's round meets a command A's did not.
//  3. When A has answered everything B sent it as its timeouts fired, the
//     held answers leave 0 to 3 ms later, so that they reach A after it
//     told B where its round stood, and the links into B heal.
//  4. The next decision A announces within 20 to 200 ms is heard by
//     nobody, so that B's round goes on without learning it.
//
// Everything held is released, and the cut links heal, 50 to 300 ms after
// step 1 if step 3 never came. A proposer that keeps counting answers to
// its own round after granting a rival's then completes a quorum for what
// the rival, told by A that it had not decided, no longer proposes.
// Nothing here names a message type: the steps are judged by who starts a
// round, who answers whom and whose timeout fires. It needs clocks that
// may jump (no leader leases), runs alone (see stalledAlone) and draws
// from its own random stream.
func injectStalledReplies(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x7374616c6c726570))
	if n < 3 || !e.clockJumps {
		return
	}
	ms := time.Millisecond
	rival := dur(rng, 2*ms, 20*ms)
	firings := 1 + rng.IntN(3)
	p := 0.2 + 0.8*rng.Float64()
	budget := 5 + rng.IntN(36)
	type event struct {
		a, b       int
		lost       []link
		answered   bool   // B answered A (step 2 scheduled)
		maybeFired bool   // B's clock runs ahead
		sent       []any  // what B sent A as its timeout fired, not yet answered
		reached    []int  // peers A's step sent to, B aside
		key        string // the key of the client's command A's step proposed
	}
	var cur *event
	var quietUntil time.Duration
	mute, muteUntil := -1, time.Duration(0) // A after step 3, until its next decision
	started := make([]time.Duration, n)     // when each replica last started a round
	for q := range started {
		started[q] = -time.Hour
	}
	e.watchJumps()
	// end closes event ev unless it is over: A's held answers leave after
	// the given delay and every link it cut heals.
	end := func(ev *event, after time.Duration) {
		if cur != ev {
			return
		}
		cur, quietUntil = nil, s.Now()+dur(rng, 5*ms, 60*ms)
		for q := range n {
			_ = s.Release(paxos.NodeID(q), paxos.NodeID(ev.a), after)
		}
		e.heal(ev.lost)
		ev.lost = nil
	}
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if e.down[id] {
			return
		}
		if id == mute && s.Now() < muteUntil && announces(o.Ready) {
			// (4) A's next decision is heard by nobody: B's round goes
			// on without it.
			mute = -1
			e.muteStep(id)
		}
		starts := o.Input == nil && len(o.Ready.Persist) > 0 && len(o.Ready.Messages) > 0
		if starts {
			started[id] = s.Now()
		}
		if ev := cur; ev != nil {
			switch {
			case id == ev.b && ev.maybeFired && firesTimeout(o):
				for i := range o.Ready.Messages {
					if int(o.Ready.Messages[i].To) == ev.a {
						ev.sent = append(ev.sent, o.Ready.Messages[i].Body)
					}
				}
			case id == ev.b && !ev.answered && o.Input != nil && int(o.Input.From) == ev.a && answersAlone(o):
				// (2) B holds what A started: B takes it over.
				ev.answered = true
				s.At(min(window, s.Now()+upTo(rng, 4*ms)), func() {
					if cur != ev {
						return
					}
					e.heal(ev.lost)
					ev.lost = nil
					// B stops hearing all but F-1 of the peers A's step
					// reached: its quorum is A, B and those.
					keep := (n-1)/2 - 1
					for _, q := range ev.reached {
						if keep > 0 {
							keep--
							continue
						}
						ev.lost = append(ev.lost, e.cut([]link{{q, ev.b}})...)
					}
					s.At(min(window, s.Now()+upTo(rng, 4*ms)), func() {
						if cur != ev {
							return
						}
						ev.maybeFired = true
						for k := 0; k < firings; k++ {
							if e.fireTimeout(ev.b); !e.jumpFired {
								break
							}
						}
						ev.maybeFired = false
						if ev.key != "" {
							// A client at B's site writes the key A's
							// command touches: B's round meets a command
							// A's did not.
							e.leaseClients().stream(ev.b, ev.key, true, 1000, ms, 1, rng)
						}
					})
				})
			case id == ev.a && len(ev.sent) > 0 && o.Input != nil && int(o.Input.From) == ev.b && answersAlone(o) && sentAny(ev.sent, o.Input.Body):
				// (3) A answered what B's timeouts sent: A's own answers
				// arrive now.
				i := slices.IndexFunc(ev.sent, func(b any) bool { return reflect.DeepEqual(b, o.Input.Body) })
				if ev.sent = slices.Delete(ev.sent, i, i+1); len(ev.sent) == 0 {
					end(ev, upTo(rng, 3*ms))
					mute, muteUntil = ev.a, s.Now()+dur(rng, 20*ms, 200*ms)
				}
			}
			return
		}
		if budget == 0 || s.Now() >= window || s.Now() < quietUntil || !starts || rng.Float64() >= p {
			return
		}
		// (1) A's answers wait at their links; B's are lost. B is a peer
		// A did not send to in that step, if any (it hears of A's round
		// when A widens it); otherwise the peer that started a round last,
		// if one did within rival, or any peer.
		sentTo := make([]bool, n)
		for i := range o.Ready.Messages {
			sentTo[o.Ready.Messages[i].To] = true
		}
		b, spare := -1, -1
		for _, q := range rng.Perm(n) {
			if q == id || e.down[q] {
				continue
			}
			if !sentTo[q] && spare < 0 {
				spare = q
			}
			if b < 0 || started[q] > started[b] {
				b = q
			}
		}
		switch {
		case spare >= 0:
			b = spare
		case b < 0:
			return
		case s.Now()-started[b] > rival:
			for _, q := range rng.Perm(n) {
				if q != id && !e.down[q] {
					b = q
					break
				}
			}
		}
		budget--
		ev := &event{a: id, b: b}
		if o.Proposed != nil {
			ev.key = o.Proposed.Key
		}
		for _, q := range rng.Perm(n) {
			if sentTo[q] && q != b && q != id {
				ev.reached = append(ev.reached, q)
			}
		}
		cur = ev
		e.counts.partitions++
		for q := 0; q < n; q++ {
			if q != ev.b {
				_ = s.Hold(paxos.NodeID(q), paxos.NodeID(id))
			}
		}
		ev.lost = e.cut([]link{{ev.b, id}})
		s.At(min(window, s.Now()+dur(rng, 50*ms, 300*ms)), func() { end(ev, 0) })
	})
}

// muteStep makes what replica id sends in the step being observed reach
// nobody: its links out are cut for that step only.
func (e *faultEnv) muteStep(id int) {
	out := make([]link, 0, e.n)
	for q := range e.n {
		out = append(out, link{id, q})
	}
	lost := e.cut(out)
	e.s.At(e.s.Now(), func() { e.heal(lost) })
}

// stalledAlone replaces, in one run in stalledShare without leader leases
// whose faults include the recovery faults, the run's injectors with the
// stalled replies alone (see injectStalledReplies), whose steps the other
// faults' crashes and cuts would break. It draws from its own random
// stream, so the other runs of a seed stay what they were.
func stalledAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	if !moreQuietRuns || leaseTicks > 0 || n < 3 || !has[FaultRecovery] || len(on) == 0 {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x7374616c6c616c6e)).IntN(stalledShare) != 0 {
		return on
	}
	return []injector{{FaultRecovery, injectStalledReplies}}
}

// stalledShare: stalledAlone takes one run in this many.
const stalledShare = 8
