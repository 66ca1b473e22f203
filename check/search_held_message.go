package check

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// heldAlone gives the held messages (injectHeldMessages) one run in
// heldShare of those without leader leases whose faults include
// reordering or crashes, at N = 3 and more, alone in an otherwise quiet cluster. It
// draws from a random stream of its own, so the other runs of a seed stay
// what they were.
//
// The swarm's reordering holds a message back by less than its link's
// round trip, so a message of one step seldom arrives after the message
// its sender sends once the step's answers came back (measured: see
// docs/planted-bugs.md); a link that holds one message for longer, while
// the later ones pass, reaches those schedules.
func heldAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	if leaseTicks > 0 || n < 3 || !has[FaultReorder] && !has[FaultCrash] || len(on) == 0 {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x68656c64616c6e)).IntN(heldShare) != 0 {
		return on
	}
	return []injector{{FaultReorder, injectHeldMessages}}
}

// heldShare: heldAlone takes one run in this many.
const heldShare = 6

// injectHeldMessages holds one message on a link while the sender's later
// messages on that link pass it, around a sender that then dies, 6 to 25
// times per run (with probability 0.5 to 1 per step that qualifies, one
// at a time, 30 to 300 ms apart):
//
//  1. When a replica A starts a round of its own (a step on a client's
//     request that persists something and sends to two peers or more)
//     while no replica is down, the message of that step to one of its
//     peers, R, waits at the link (sim.Hold) and leaves 5 to 50 ms later,
//     after what A sends R next.
//     R and F-1 other peers are A's keepers; for 20 to 120 ms, what A
//     sends its other peers is lost, so that A's next step reaches the
//     keepers only. A client at the site of one of those other peers
//     writes the key of the command A's step proposed, if any, at once:
//     that peer answers A with a command A did not know.
//  2. The first time R answers A while its message still waits, a client
//     at R's site writes that key too: R leads a command between what A
//     sent it next and the message held.
//  3. When A announces a decision (see announces) within 300 ms of step
//     1, nobody hears it and A dies, for 200 to 800 ms; the keepers other
//     than R lose every link to the other survivors, both ways, for 100 to
//     500 ms, so that the survivors' quorums hold R and no other keeper.
//
// A replica that lets a late message of a round replace the vote it gave
// later in that round then answers the survivors with a vote it no longer
// holds. Nothing here names a message type: the steps are judged by who
// starts a round, who answers whom and who announces a decision. It runs
// alone (see heldAlone) and draws from its own random stream.
func injectHeldMessages(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x68656c646d7367))
	if n < 3 {
		return
	}
	ms := time.Millisecond
	p := 0.5 + 0.5*rng.Float64()
	budget := 6 + rng.IntN(20)
	f := (n - 1) / 2
	type episode struct {
		a, r    int
		keep    []int // R first, then F-1 other peers
		release time.Duration
		until   time.Duration
		wrote   bool
		key     string
	}
	var cur *episode
	var quietUntil time.Duration
	write := func(site int, key string) {
		s.At(s.Now(), func() { e.leaseClients().stream(site, key, true, 1000, ms, 1, rng) })
	}
	e.observers = append(e.observers, func(o sim.Output) {
		id, now := int(o.Replica), s.Now()
		if e.down[id] {
			return
		}
		rd := o.Ready
		if ev := cur; ev != nil {
			if now >= ev.until {
				cur = nil
				quietUntil = now + dur(rng, 30*ms, 300*ms)
				return
			}
			switch {
			case id == ev.a && announces(rd):
				// (3) A decided: nobody hears it, and A dies.
				cur = nil
				quietUntil = now + dur(rng, 30*ms, 300*ms)
				out := e.cut(linksFrom(id, n))
				s.At(now, func() {
					e.heal(out)
					if !e.crash(id) {
						return
					}
					s.At(min(window, s.Now()+dur(rng, 200*ms, 800*ms)), func() { e.restart(id) })
					var rest []int
					for q := 0; q < n; q++ {
						if q != id && !slices.Contains(ev.keep[1:], q) {
							rest = append(rest, q)
						}
					}
					if len(ev.keep) > 1 {
						e.counts.partitions++
						held := e.cut(between(ev.keep[1:], rest))
						s.At(min(window, s.Now()+dur(rng, 100*ms, 500*ms)), func() { e.heal(held) })
					}
				})
			case id == ev.r && !ev.wrote && now < ev.release && ev.key != "" && sendsTo(rd, ev.a):
				// (2) R answers A while A's message waits.
				ev.wrote = true
				write(ev.r, ev.key)
			}
			return
		}
		if budget == 0 || now < quietUntil || e.crashed > 0 || o.Proposed == nil || len(rd.Persist) == 0 {
			return
		}
		var peers []int
		for i := range rd.Messages {
			if to := int(rd.Messages[i].To); to != id && !slices.Contains(peers, to) {
				peers = append(peers, to)
			}
		}
		if len(peers) < 2 || rng.Float64() >= p {
			return
		}
		// (1) A starts a round: hold its message to R, and let its next
		// step reach the keepers only.
		budget--
		rng.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
		ev := &episode{a: id, r: peers[0], until: now + 300*ms}
		ev.keep = append(ev.keep, peers[:min(f, len(peers))]...)
		hold := dur(rng, 5*ms, 50*ms)
		ev.release = now + hold
		if o.Proposed != nil && o.Proposed.Op == paxos.OpPut {
			ev.key = o.Proposed.Key
		}
		cur = ev
		s.Hold(paxos.NodeID(id), paxos.NodeID(ev.r))
		var lost []link
		for _, q := range othersThan(n, id) {
			if !slices.Contains(ev.keep, q) {
				lost = append(lost, link{id, q})
			}
		}
		cutFor := dur(rng, 20*ms, 120*ms)
		s.At(now, func() {
			s.Release(paxos.NodeID(id), paxos.NodeID(ev.r), hold)
			e.cut(lost)
			s.At(min(window, s.Now()+cutFor), func() { e.heal(lost) })
			if ev.key != "" && len(lost) > 0 {
				write(lost[rng.IntN(len(lost))].to, ev.key)
			}
		})
	})
}

// linksFrom lists the links from id to every replica of 0..n-1.
func linksFrom(id, n int) []link {
	out := make([]link, 0, n)
	for q := 0; q < n; q++ {
		out = append(out, link{id, q})
	}
	return out
}

// sendsTo reports whether rd sends a message to replica to.
func sendsTo(rd *paxos.Ready, to int) bool {
	for i := range rd.Messages {
		if int(rd.Messages[i].To) == to {
			return true
		}
	}
	return false
}
