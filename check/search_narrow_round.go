package check

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// injectNarrowRounds makes a decision that only a minority holds (two
// replicas at N = 5) while the others, a quorum, decide among themselves.
// Chains of four steps, 5 to 40 per run (with probability 0.5 to 1 per
// step that qualifies, one chain at a time, 10 to 60 ms apart), at N = 5
// and above (F = (N-1)/2 below):
//
//  1. A replica A that moves a round on (see movesOn: it persists and
//     sends to two peers or more, on a peer's message or a client's
//     command) is heard by one peer P only; A and P lose the others (the
//     rest) both ways, and one of the rest has its clock run ahead until a
//     timeout fires, so that the rest elect among themselves. Either P's
//     link to A stalls (sim.Hold: what P answers A waits at the link) or,
//     when A's step handled a peer's message, A's link to P does (A's
//     request waits).
//  2. When a replica L of the rest moves a round on: with P's answers
//     stalled, that step is heard by nobody, L is heard only by A for 20
//     to 300 ms, A and the rest hear each other again and, within that
//     time, A's clock runs ahead until a timeout fires (A campaigns
//     against L); with A's request stalled, L is heard by P and F-1 others
//     of the rest only, for as long.
//  3. With P's answers stalled: when A next moves a round on, it is heard
//     by L and F-2 others only, and P's backlog reaches A 0 to 3 ms later.
//     With A's request stalled: when L announces a decision, A's backlog
//     reaches P 0 to 3 ms later.
//  4. The decider (A in the first case, L in the second) announces a
//     decision: nobody hears that step, and the decider and the peers its
//     last round reached (F replicas, a minority) lose the others both
//     ways for 200 ms to 1.5 s, one of which has its clock run ahead: the
//     others elect among themselves before the decision reaches them.
//
// A chain that stops on the way (400 ms without its next step) heals and
// flushes what it held. A replica that counts an answer to one round as
// an answer to another, or lets a late request of an earlier round
// replace a vote of a later one, decides a value that only the pair
// holds, while the others decide what P still reports. Nothing here names
// a message type: the steps are judged by who moves a round on, who
// announces a decision and who sent to whom. It needs clocks that may
// jump (no leader leases), runs alone (see narrowAlone) and draws from its
// own random stream.
func injectNarrowRounds(e *faultEnv) { narrowRounds(e, false) }

// injectFollowedRounds runs the narrow rounds (injectNarrowRounds) with P's
// answers stalled, following the commands of A's first step: where a
// replica leads several rounds at once (EPaxos runs one per instance, and a
// timeout recovers every instance that waited too long), the chain's steps
// are those of the same round. A's step of step 1 must move a round on
// that it took up on a peer's answer and carry client commands (see
// carriedCommands); the steps of L and A that the chain waits for carry
// one of them, and so does the decision of step 4. On the way:
//
//   - in step 2, A's clock also runs ahead up to followedJumps more times,
//     5 to 30 ms apart, while L is heard by A only and until A moves the
//     followed round on (a first jump may start a round for another
//     instance, or only resend what A's rivals refuse, after which A
//     starts over);
//   - in step 3, each step of A that moves the round on is, with
//     probability one half, let through to every peer but P (A's round may
//     take a phase that gathers attributes before the one that votes), the
//     chain waiting for the next.
//
// A coordinator that counts P's late answer to its earlier round toward
// its later one decides, with L's vote, what only the pair holds, while
// the others recover what P voted. It draws from its own random stream.
func injectFollowedRounds(e *faultEnv) { narrowRounds(e, true) }

// narrowRounds runs the narrow rounds; followed makes them follow one
// round's commands (injectFollowedRounds).
func narrowRounds(e *faultEnv, followed bool) {
	s, n, window := e.s, e.n, e.window
	stream := uint64(0x6e6172726f77)
	if followed {
		stream = 0x666f6c6c6f77
	}
	rng := rand.New(rand.NewPCG(e.seed, stream))
	if n < 5 || !e.clockJumps {
		return
	}
	ms := time.Millisecond
	p := 0.5 + 0.5*rng.Float64()
	budget := 5 + rng.IntN(36)
	f := (n - 1) / 2
	type chain struct {
		a, f, l int
		group   []int // the peers the decider's last round reached
		reply   bool  // F's answers stall (else A's request)
		stage   int
		rest    []int
		cuts    [][]link // held per stage, healed at the end
		flushed bool
		cmds    []cmdID // the commands followed (followed chains only)
		timer   int     // bumped at each step: a stale deadline does nothing
	}
	var cur *chain
	var quietUntil time.Duration
	e.watchJumps()
	all := func(q int) []link {
		var out []link
		for t := 0; t < n; t++ {
			out = append(out, link{q, t})
		}
		return out
	}
	except := func(q int, keep ...int) []link {
		var out []link
		for t := 0; t < n; t++ {
			if !slices.Contains(keep, t) {
				out = append(out, link{q, t})
			}
		}
		return out
	}
	campaign := func(among []int) {
		var up []int
		for _, q := range among {
			if !e.down[q] {
				up = append(up, q)
			}
		}
		if len(up) > 0 {
			c := up[rng.IntN(len(up))]
			s.At(s.Now()+upTo(rng, 5*ms), func() { e.fireTimeout(c) })
		}
	}
	flush := func(c *chain, after time.Duration) {
		if c.flushed {
			return
		}
		c.flushed = true
		if c.reply {
			_ = s.Release(paxos.NodeID(c.f), paxos.NodeID(c.a), after)
		} else {
			_ = s.Release(paxos.NodeID(c.a), paxos.NodeID(c.f), after)
		}
	}
	finish := func(c *chain) {
		if cur != c {
			return
		}
		cur = nil
		quietUntil = s.Now() + dur(rng, 10*ms, 60*ms)
		flush(c, 0)
		for i, l := range c.cuts {
			e.heal(l)
			c.cuts[i] = nil
		}
	}
	// deadline ends c if it is still at this step in a while.
	deadline := func(c *chain) {
		c.timer++
		t := c.timer
		s.At(min(window, s.Now()+400*ms), func() {
			if c.timer == t {
				finish(c)
			}
		})
	}
	// lost makes what a step of q sends lost.
	lost := func(q int) {
		l := e.cut(all(q))
		s.At(s.Now(), func() { e.heal(l) })
	}
	// isolate: the decider d and its partner lose the others a while, who
	// elect among themselves; the chain ends.
	isolate := func(c *chain, d int) {
		lost(d)
		pair := append([]int{d}, c.group...)
		var others []int
		for q := 0; q < n; q++ {
			if !slices.Contains(pair, q) {
				others = append(others, q)
			}
		}
		finish(c)
		off := e.cut(between(pair, others))
		s.At(min(window, s.Now()+dur(rng, 200*ms, 1500*ms)), func() { e.heal(off) })
		campaign(others)
	}
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if e.down[id] {
			return
		}
		if c := cur; c != nil {
			switch {
			case c.stage == 1 && slices.Contains(c.rest, id) && (movesOn(o) && c.reply && !followed || advances(o)) && (!followed || carriesAny(o, c.cmds)):
				// (2) L moves a round on among the rest.
				c.l, c.stage = id, 2
				mute := dur(rng, 20*ms, 300*ms)
				if c.reply {
					lost(id)
					e.heal(c.cuts[0]) // A and the rest hear each other again
					c.cuts[0] = nil
					c.cuts[2] = e.cut(except(id, c.a))
					s.At(s.Now()+mute, func() { e.heal(c.cuts[2]); c.cuts[2] = nil })
					s.At(s.Now()+upTo(rng, mute), func() { e.fireTimeout(c.a) })
					for k, t := 0, time.Duration(0); followed && t < mute && k < followedJumps; k++ {
						t += dur(rng, 5*ms, 30*ms)
						s.At(s.Now()+t, func() {
							if cur == c && c.stage == 2 {
								e.fireTimeout(c.a)
							}
						})
					}
				} else {
					var others []int
					for _, q := range c.rest {
						if q != id {
							others = append(others, q)
						}
					}
					rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
					c.group = others[:f-1]
					e.heal(c.cuts[1]) // F hears the rest again
					c.cuts[1] = nil
					c.cuts[2] = e.cut(except(id, append([]int{c.f}, c.group...)...))
					s.At(s.Now()+mute, func() { e.heal(c.cuts[2]); c.cuts[2] = nil })
				}
				deadline(c)
			case c.stage == 2 && c.reply && id == c.a && movesOn(o) && (!followed || advances(o) && carriesAny(o, c.cmds)):
				// (3) A's next round reaches L only; F's backlog follows.
				if followed && rng.IntN(2) == 0 {
					// A phase let through, to all but P.
					mute := e.cut([]link{{c.a, c.f}})
					s.At(s.Now(), func() { e.heal(mute) })
					deadline(c)
					return
				}
				c.stage = 3
				c.group = []int{c.l}
				for _, q := range rng.Perm(n) {
					if len(c.group) < f-1 && q != c.a && q != c.f && q != c.l {
						c.group = append(c.group, q)
					}
				}
				c.cuts[3] = e.cut(except(id, c.group...))
				flush(c, upTo(rng, 3*ms))
				deadline(c)
			case c.stage == 2 && !c.reply && id == c.l && announces(o.Ready):
				// (3, 4) L decides; A's late request reaches F.
				flush(c, upTo(rng, 3*ms))
				isolate(c, id)
			case c.stage == 3 && id == c.a && announces(o.Ready) && (!followed || decidesAny(o.Ready, c.cmds)):
				// (4) A decides through L and F's late answer.
				isolate(c, id)
			}
			return
		}
		if budget == 0 || s.Now() >= window || s.Now() < quietUntil || !movesOn(o) || rng.Float64() >= p {
			return
		}
		// (1) A's round reaches F only; the rest elect among themselves.
		var peers []int
		for _, q := range rng.Perm(n) {
			if q != id && !e.down[q] {
				peers = append(peers, q)
			}
		}
		reply := followed || rng.IntN(2) == 0
		if len(peers) < 3 || !reply && !advances(o) {
			return // a request that stalls is a phase's, not a client's
		}
		var cmds []cmdID
		if followed {
			if cmds = carriedCommands(o); !advances(o) || len(cmds) == 0 {
				return
			}
		}
		budget--
		e.counts.partitions++
		c := &chain{a: id, f: peers[0], reply: reply, stage: 1, cuts: make([][]link, 4), cmds: cmds}
		for q := 0; q < n; q++ {
			if q != c.a && q != c.f {
				c.rest = append(c.rest, q)
			}
		}
		cur = c
		if c.reply {
			_ = s.Hold(paxos.NodeID(c.f), paxos.NodeID(c.a))
		} else {
			_ = s.Hold(paxos.NodeID(c.a), paxos.NodeID(c.f))
		}
		c.cuts[0] = e.cut(between([]int{c.a}, c.rest))
		c.cuts[1] = e.cut(between([]int{c.f}, c.rest))
		campaign(c.rest)
		deadline(c)
	})
}

// movesOn reports whether o moves a round on at the replica's own
// initiative or on a peer's answer: it persists something and sends to
// two peers or more without reporting a decision, on a message or a
// client's command (not on a tick: a timeout firing starts a round).
func movesOn(o sim.Output) bool {
	return (o.Input != nil || o.Proposed != nil) && len(o.Ready.Persist) > 0 && len(o.Ready.Decided) == 0 && broadcasts(o)
}

// narrowAlone replaces, in one run in narrowShare without leader leases
// at N = 5 or more whose faults include partitions, the run's injectors
// with the narrow rounds alone (see injectNarrowRounds), whose steps the
// other faults' crashes and cuts would break. It draws from its own random
// stream, so the other runs of a seed stay what they were.
func narrowAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	if !moreQuietRuns || leaseTicks > 0 || n < 5 || !has[FaultPartition] || len(on) == 0 {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x6e6172616c6e)).IntN(narrowShare) != 0 {
		return on
	}
	return []injector{{FaultPartition, injectNarrowRounds}}
}

// narrowShare: narrowAlone takes one run in this many.
const narrowShare = 4

// followedJumps caps the extra clock jumps of A in step 2 of a followed
// chain. Each one is a new election in a leader-based protocol: with no
// cap (up to about 60 a chain) they once found a Multi-Paxos liveness bug,
// a stale leader's flood of refused heartbeats (seed 53 at N = 5, fixed
// since, see docs/planted-bugs.md); with 4 the followed rounds catch the
// EPaxos bug they aim at sooner (first at seed 46 of the search, against
// 159 with no cap).
const followedJumps = 4

// followedAlone replaces, in one run in followedShare of those that
// narrowAlone could take (but did not), the run's injectors with the
// followed rounds alone (see injectFollowedRounds). It runs after the
// other draws that make runs quiet but before the paired disk losses and
// the held messages, which keep their runs (the disk pairs' only kill of
// multi/rebuild-counts-rebuilding-peers at N = 7, seed 100, was lost when
// it ran last), and draws from its own random stream.
func followedAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	if !moreQuietRuns || leaseTicks > 0 || n < 5 || !has[FaultPartition] || len(on) == 0 || len(on) == 1 && on[0].is(injectNarrowRounds) {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x666f6c616c6e)).IntN(followedShare) != 0 {
		return on
	}
	return []injector{{FaultPartition, injectFollowedRounds}}
}

// followedShare: followedAlone takes one run in this many.
const followedShare = 8

// cmdID names a client command: its client and sequence number.
type cmdID struct{ client, seq uint64 }

// carriedCommands lists the client commands that the messages of o's step
// carry, found in their exported fields (a request of a round carries the
// commands it orders, whatever the protocol calls it); Nops are left out.
func carriedCommands(o sim.Output) []cmdID {
	var out []cmdID
	for i := range o.Ready.Messages {
		collectCommands(reflect.ValueOf(o.Ready.Messages[i].Body), &out, 0)
	}
	return out
}

// collectCommands appends the commands v holds to out, looking at most a
// few levels deep.
func collectCommands(v reflect.Value, out *[]cmdID, depth int) {
	if depth > 4 || !v.IsValid() {
		return
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			collectCommands(v.Elem(), out, depth+1)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // bytes: a payload, not commands
		}
		for i := 0; i < v.Len(); i++ {
			collectCommands(v.Index(i), out, depth+1)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[paxos.Command]() {
			if c := v.Interface().(paxos.Command); !c.IsNop() && !slices.Contains(*out, cmdID{c.Client, c.Seq}) {
				*out = append(*out, cmdID{c.Client, c.Seq})
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				collectCommands(v.Field(i), out, depth+1)
			}
		}
	}
}

// carriesAny reports whether o's step sends one of cmds.
func carriesAny(o sim.Output, cmds []cmdID) bool {
	return slices.ContainsFunc(carriedCommands(o), func(c cmdID) bool { return slices.Contains(cmds, c) })
}

// decidesAny reports whether rd decides one of cmds.
func decidesAny(rd *paxos.Ready, cmds []cmdID) bool {
	for i := range rd.Decided {
		for _, c := range rd.Decided[i].Commands {
			if slices.Contains(cmds, cmdID{c.Client, c.Seq}) {
				return true
			}
		}
	}
	return false
}
