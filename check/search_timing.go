package check

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Faults timed around the moments when one replica switches from one
// proposer or leader to another. They watch replicas only through the
// simulator's outputs (who answered whom, who sent on its own), never
// through message types, and draw from random streams of their own.

// injectAnswerBounces adds, when crashes are among the faults, bounces
// timed by what a replica answers: when a replica answers a peer other
// than the last peer it answered, and answers it alone (a reply, not a
// broadcast: a new proposer or leader is talking to it, and it has just
// promised, voted or acknowledged for someone new), it may
// crash right after that step and restart 1 to 20 ms later, while the
// previous proposer's messages are still in flight. What it should have
// made durable before answering (a promise above all) is then all it
// remembers when those older messages reach it. At most a budget of 2 to
// 12 such bounces per run; a third of the runs have none.
func injectAnswerBounces(e *faultEnv) {
	s, n := e.s, e.n
	rng := rand.New(rand.NewPCG(e.seed, 0x616e73776572))
	if n < 3 || rng.IntN(3) == 0 {
		return
	}
	budget := 2 + rng.IntN(11)
	p := 0.1 + 0.6*rng.Float64()
	last := make([]paxos.NodeID, n)
	for i := range last {
		last[i] = -1
	}
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if o.Input == nil || e.down[id] || budget == 0 {
			return
		}
		from := o.Input.From
		if !answersAlone(o) || from == last[id] {
			return
		}
		fresh := last[id] >= 0
		last[id] = from
		if !fresh || rng.Float64() >= p {
			return
		}
		budget--
		back := time.Duration(1+rng.IntN(20)) * time.Millisecond
		s.At(s.Now(), func() {
			if e.crash(id) {
				s.At(s.Now()+back, func() { e.restart(id) })
			}
		})
	})
}

// injectBridgeDuels adds, when partitions are among the faults, dueling
// proposers that cannot see each other. At one to four random times of the
// fault window, the replicas other than a bridge (the replica that says it
// leads, else a random one) are split into two halves that lose each other
// both ways for 200 ms to 1.5 s, so each half is a majority only with the
// bridge. The bridge then goes gray for a while: what it sends on its own
// (on ticks: heartbeats, retries, timers) is lost, what it answers is
// delivered. In half the runs it is muted outright until it answers a
// single peer alone (typically the first phase-1 request of a side that
// timed out), so that this side wins it and the other side's request,
// started from the same view and often with an equal round, reaches it
// next. In half the runs, leaders also go gray while a split lasts, so
// that a leader that lost the bridge to the other side hears of it only
// through its answers. Both halves stop hearing from the bridge at the same
// moment, time out and start phase 1 at about the same time from the same
// view; the bridge hears and answers both. A quarter of the runs have no
// duels.
func injectBridgeDuels(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x6475656c))
	if n < 3 || rng.IntN(4) == 0 {
		return
	}
	grayUntil := make([]time.Duration, n)
	duelUntil := time.Duration(0)
	grayLeaders := rng.IntN(2) == 0
	mute := rng.IntN(2) == 0
	muted := make([][]link, n)
	unmute := func(id int) {
		if muted[id] != nil {
			e.heal(muted[id])
			muted[id] = nil
		}
	}
	duels := 1 + rng.IntN(4)
	for i := 0; i < duels; i++ {
		t := dur(rng, 50*time.Millisecond, window-200*time.Millisecond)
		split := dur(rng, 200*time.Millisecond, 1500*time.Millisecond)
		gray := dur(rng, 50*time.Millisecond, 800*time.Millisecond)
		perm := rng.Perm(n)
		s.At(t, func() {
			bridge := perm[0]
			for i := 0; i < n; i++ {
				if leads(s, i) {
					bridge = i
					break
				}
			}
			var rest []int
			for _, p := range perm {
				if p != bridge {
					rest = append(rest, p)
				}
			}
			half := len(rest) / 2
			cuts := e.cut(between(rest[:half], rest[half:]))
			e.counts.partitions++
			grayUntil[bridge] = max(grayUntil[bridge], min(s.Now()+gray, window))
			if mute && muted[bridge] == nil {
				// Mute the bridge until it answers one peer alone.
				var all []link
				for q := 0; q < n; q++ {
					all = append(all, link{bridge, q})
				}
				muted[bridge] = e.cut(all)
				s.At(min(s.Now()+gray, window), func() { unmute(bridge) })
			}
			duelUntil = max(duelUntil, min(s.Now()+split, window))
			s.At(min(s.Now()+split, window), func() { e.heal(cuts) })
		})
	}
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if muted[id] != nil && o.Input != nil && len(o.Ready.Messages) > 0 {
			alone := true
			for i := range o.Ready.Messages {
				alone = alone && o.Ready.Messages[i].To == o.Input.From
			}
			if alone {
				unmute(id) // this answer and what follows leave
			}
		}
		if o.Input != nil || o.Proposed != nil || len(o.Ready.Messages) == 0 {
			return
		}
		if s.Now() >= grayUntil[id] && !(grayLeaders && s.Now() < duelUntil && leads(s, id)) {
			return
		}
		out := make([]link, 0, n)
		for q := 0; q < n; q++ {
			out = append(out, link{id, q})
		}
		e.cut(out)
		s.At(s.Now(), func() { e.heal(out) })
	})
}

// leads reports whether replica id is up and says it leads (a replica with
// an IsLeader method).
func leads(s *sim.Sim, id int) bool {
	l, ok := s.Replica(paxos.NodeID(id)).(interface{ IsLeader() bool })
	return ok && s.Alive(paxos.NodeID(id)) && l.IsLeader()
}

// injectSlowLeaders adds, when reordering is among the faults, congested
// senders: one to six times per run, the replica that says it leads (else a
// random one) has every message it sends for 100 to 800 ms held back by a
// random extra delay of up to 20 to 200 ms, each message its own, so its
// heartbeats stop arriving in time and its peers elect someone else while
// its older requests are still in flight and arrive, out of order, after
// the new leader's phase 1. A quarter of the runs have none.
func injectSlowLeaders(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x736c6f77))
	if n < 3 || rng.IntN(4) == 0 {
		return
	}
	slow := make([]int, n) // slow periods holding each replica's links
	for k := 1 + rng.IntN(6); k > 0; k-- {
		t := dur(rng, 20*time.Millisecond, window)
		hold := dur(rng, 100*time.Millisecond, 800*time.Millisecond)
		f := sim.Faults{Reorder: 1, ReorderDelay: dur(rng, 20*time.Millisecond, 200*time.Millisecond)}
		pick := rng.IntN(n)
		s.At(t, func() {
			id := pick
			for i := 0; i < n; i++ {
				if leads(s, i) {
					id = i
					break
				}
			}
			slow[id]++
			for q := 0; q < n; q++ {
				if q != id {
					s.SetLinkFaults(paxos.NodeID(id), paxos.NodeID(q), f)
				}
			}
			s.At(min(s.Now()+hold, window), func() {
				if slow[id]--; slow[id] > 0 || s.Now() >= window {
					return // another slow period still holds; the window's end resets them all
				}
				for q := 0; q < n; q++ {
					if q != id {
						s.SetLinkFaults(paxos.NodeID(id), paxos.NodeID(q), sim.Faults{})
					}
				}
			})
		})
	}
}

// injectGraySplits adds, when partitions are among the faults, split brains
// through a bridge: one to four times per run, the replica that says it
// leads (else a random one) and up to a minority-minus-one of the others
// lose the rest both ways for 100 ms to 1 s, except one bridge replica that
// stays connected to everyone, so that both sides with the bridge are
// majorities. The other side elects a leader through the bridge. In half
// the splits the old leader is gray meanwhile: what it sends on its own
// (on ticks: heartbeats, retries) is lost, what it sends in answer to a
// message or a client is delivered, so no refused heartbeat tells it of
// the new leader and it goes on serving its clients through the bridge:
// whatever the bridge's promise should now refuse. In the other half the
// bridge bounces (crashes and restarts 1 to 10 ms later) right after it
// first answers the other side alone, typically its promise to the new
// leader, and for 10 to 80 ms it hears only the old leader's side: a
// promise it failed to make durable is then gone when the old leader's
// next requests reach it. A quarter of the runs have none.
func injectGraySplits(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x67726179))
	if n < 3 || rng.IntN(4) == 0 {
		return
	}
	grayUntil := make([]time.Duration, n)
	armed := make([]func(from int) bool, n) // bridges waiting to bounce
	for k := 1 + rng.IntN(4); k > 0; k-- {
		t := dur(rng, 20*time.Millisecond, window)
		hold := dur(rng, 100*time.Millisecond, time.Second)
		perm := rng.Perm(n)
		size := 1 + rng.IntN(max(1, (n-1)/2))
		s.At(t, func() {
			lead := perm[0]
			for i := 0; i < n; i++ {
				if leads(s, i) {
					lead = i
					break
				}
			}
			side := []int{lead}
			var rest []int
			for _, p := range perm {
				switch {
				case p == lead:
				case len(side) < size:
					side = append(side, p)
				default:
					rest = append(rest, p)
				}
			}
			if len(rest) < 2 {
				return
			}
			cuts := e.cut(between(side, rest[1:])) // rest[0] is the bridge
			e.counts.partitions++
			until := min(s.Now()+hold, window)
			if rng.IntN(2) == 0 {
				grayUntil[lead] = max(grayUntil[lead], until)
			} else {
				// The bridge bounces right after it first answers the
				// other side alone (a promise to its new leader, often),
				// and on its return hears the old leader's side first.
				bridge, others := rest[0], rest[1:]
				armed[bridge] = func(from int) bool {
					if s.Now() >= until || !slices.Contains(others, from) {
						return false
					}
					var in []link
					for _, q := range others {
						in = append(in, link{q, bridge})
					}
					in = e.cut(in)
					s.At(s.Now()+dur(rng, 10*time.Millisecond, 80*time.Millisecond), func() { e.heal(in) })
					return true
				}
			}
			s.At(until, func() { e.heal(cuts) })
		})
	}
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if fn := armed[id]; fn != nil && o.Input != nil && !e.down[id] && answersAlone(o) && fn(int(o.Input.From)) {
			armed[id] = nil
			back := time.Duration(1+rng.IntN(10)) * time.Millisecond
			s.At(s.Now(), func() {
				if e.crash(id) {
					s.At(s.Now()+back, func() { e.restart(id) })
				}
			})
		}
		if s.Now() >= grayUntil[id] || o.Input != nil || o.Proposed != nil || len(o.Ready.Messages) == 0 {
			return
		}
		out := make([]link, 0, n)
		for q := 0; q < n; q++ {
			out = append(out, link{id, q})
		}
		e.cut(out)
		s.At(s.Now(), func() { e.heal(out) })
	})
}

// varyFaults returns the fault kinds a run injects: in a third of the runs
// all those asked for, in a third one of them, in the rest a random subset
// (each kept with probability one half, at least one). Every fault kind disturbs the
// others: a run with crashes, drops, sieges and wipes all at once seldom
// leaves two leaders racing through one bridge long enough for a wrong
// acceptance to be the one that decides, while a run with fewer kinds
// does. Omitting kinds at random per seed (swarm testing) lets the seed
// budget cover both the storms and the quieter, more precise runs.
func varyFaults(faults []string, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 0x737761726d))
	switch {
	case len(faults) < 2 || rng.IntN(3) == 0:
		return faults
	case rng.IntN(2) == 0:
		return []string{faults[rng.IntN(len(faults))]}
	}
	var out []string
	for _, f := range faults {
		if rng.IntN(2) == 0 {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		out = append(out, faults[rng.IntN(len(faults))])
	}
	return out
}

// answersAlone reports whether o handles a message and sends something
// back to its sender only: a reply, not a broadcast.
func answersAlone(o sim.Output) bool {
	if o.Input == nil || len(o.Ready.Messages) == 0 {
		return false
	}
	for i := range o.Ready.Messages {
		if o.Ready.Messages[i].To != o.Input.From {
			return false
		}
	}
	return true
}

// injectStaleProposers adds, when partitions are among the faults,
// proposers that fall silent right after they advance: when a replica
// handles a peer's message and in that step sends to at least two peers
// (a proposer that just gathered a quorum and starts its next phase, a
// leader announcing a decision), everything it sends is lost for the next
// 100 to 600 ms, and is retransmitted only after that; in half the runs
// it keeps receiving meanwhile, in the others it hears nothing either
// (so it does not learn what its peers decided without it). Its peers meanwhile time out, fill its slot or elect someone else,
// and its older ballots reach them after they moved on. Two to ten times
// per run, at random among such steps; a quarter of the runs have none.
func injectStaleProposers(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x7374616c65))
	if n < 3 || rng.IntN(4) == 0 {
		return
	}
	budget := 2 + rng.IntN(9)
	p := 0.05 + 0.25*rng.Float64()
	muted := make([]bool, n)
	deaf := rng.IntN(2) == 0
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		if budget == 0 || muted[id] || e.down[id] || o.Input == nil || rng.Float64() >= p {
			return
		}
		to := map[paxos.NodeID]bool{}
		for i := range o.Ready.Messages {
			to[o.Ready.Messages[i].To] = true
		}
		if len(to) < 2 {
			return
		}
		budget--
		muted[id] = true
		out := make([]link, 0, 2*n)
		for q := 0; q < n; q++ {
			out = append(out, link{id, q})
			if deaf {
				out = append(out, link{q, id})
			}
		}
		out = e.cut(out) // this step's messages are lost too
		s.At(min(s.Now()+dur(rng, 100*time.Millisecond, 600*time.Millisecond), window), func() {
			e.heal(out)
			muted[id] = false
		})
	})
}
