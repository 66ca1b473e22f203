package check

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/sim"
)

// Lost decisions: a decision dies with the replica that made it, and the
// next quorum shares as few replicas as it can with the one behind it.
//
// A replica that decides on its peers' votes (a command leader that got
// its fast or slow quorum, a leader whose phase 2 completed, a
// recoverer) announces the decision in the same step. When that step is
// lost and the decider drops out of sight, the decision survives only in
// the votes of its quorum, and whoever takes over must find it there. The
// replicas the next quorum shares with the deciding one are then all that
// carries it over; under random faults the next quorum holds most of the
// voters, so a rule that counts the voters wrongly (a quorum one too
// small on one path and not on the other, a recovery that expects more
// votes than a decision needed) rarely shows.
//
// injectLostDecisions builds that case on purpose. When a replica reports
// a decision in a step that handles a peer's message and sends to two
// peers or more, with probability 0.05 to 0.6 per such step (1 to 8 times
// per run, one at a time): that step's messages are lost, and the
// decider crashes or is cut off from every replica for the hold (100 to
// 800 ms; its clients still reach it when cut off). The peers it heard
// from within the last 5 to 60 ms are taken as its voters. The next
// quorum is every other replica that did not vote plus as few voters as
// make a majority (at least one, the witness, most often the one whose
// message made it decide); the remaining voters are cut off from that
// quorum for the hold. Then, in most runs, a witness or another member of
// the new quorum has its clock run ahead until a timeout fires
// (fireTimeout), so that the takeover starts while the cut lasts. In some
// runs a witness also bounces (crash and restart at once or within 3 ms)
// right then. Nothing here names a message type: steps are judged by what
// they report, whom they handle and whom they send to. It needs a quiet
// cluster, so it runs only alone (quietInjectors in
// search_epaxos_recovery.go). It draws from its own random stream.
func injectLostDecisions(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x6c6f7374646563))
	if n < 3 {
		return
	}
	ms := time.Millisecond
	budget := 1 + rng.IntN(8)
	p := 0.05 + 0.55*rng.Float64()
	heardWithin := dur(rng, 5*ms, 60*ms)
	crashes := rng.Float64()      // the decider crashes rather than being cut off
	fire := 0.5 + rng.Float64()/2 // a member of the new quorum runs ahead
	fireWitness := rng.Float64()  // ... the witness rather than a non-voter
	bounce := rng.Float64() / 2   // a witness bounces
	fromFirst := rng.IntN(4) != 0 // the witness is the voter whose message decided
	quorum := n/2 + 1
	heard := make([]time.Duration, n*n) // heard[to*n+from]: when to last handled a message of from
	for i := range heard {
		heard[i] = -1
	}
	busyUntil := time.Duration(0)
	e.watchJumps()
	e.observers = append(e.observers, func(o sim.Output) {
		id, now := int(o.Replica), s.Now()
		if e.down[id] || o.Input == nil {
			return
		}
		from := int(o.Input.From)
		if from != id && from >= 0 && from < n {
			heard[id*n+from] = now
		}
		if budget == 0 || now < busyUntil || len(o.Ready.Decided) == 0 || !broadcasts(o) || rng.Float64() >= p {
			return
		}
		var voters, rest []int
		for _, q := range rng.Perm(n) {
			switch at := heard[id*n+q]; {
			case q == id:
			case !e.down[q] && at >= 0 && now-at <= heardWithin:
				voters = append(voters, q)
			default:
				rest = append(rest, q)
			}
		}
		if len(voters) == 0 {
			return
		}
		budget--
		if fromFirst {
			if i := slices.Index(voters, from); i > 0 {
				voters[0], voters[i] = voters[i], voters[0]
			}
		}
		k := max(1, quorum-len(rest))
		witnesses, cutOff := voters[:min(k, len(voters))], voters[min(k, len(voters)):]
		group := append(slices.Clone(witnesses), rest...)
		hold := dur(rng, 100*ms, 800*ms)
		until := min(now+hold, window)
		busyUntil = until
		e.counts.partitions++

		// The decision step is heard by nobody.
		var step []link
		for q := 0; q < n; q++ {
			step = append(step, link{id, q})
		}
		e.cut(step)
		held := e.cut(between(cutOff, group))
		crash := rng.Float64() < crashes
		s.At(now, func() {
			e.heal(step)
			if crash && e.crash(id) {
				s.At(until, func() { e.restart(id) })
			} else {
				held = append(held, e.cut(between([]int{id}, everyoneBut(n, id)))...)
			}
			s.At(until, func() { e.heal(held) })
		})
		if rng.Float64() < bounce {
			e.bounceNow(rng, witnesses[0], []int{id})
		}
		if rng.Float64() < fire {
			who := witnesses[0]
			if len(rest) > 0 && rng.Float64() >= fireWitness {
				who = rest[0]
			}
			s.At(now+dur(rng, 10*time.Microsecond, 5*ms), func() { e.fireTimeout(who) })
		}
	})
}

// injectLostProposers makes proposers lose their disk in the middle of a
// round, at two sites at once. When a replica is proposed a command and in
// that step sends to two peers or more (it starts a round for it), with
// probability 0.02 to 0.3 per proposal (1 to 3 times per run): that
// step's messages reach only some of those peers (in three runs of four:
// about half of the others, or any number from one to all but two, never
// a site picked for a rival), and right after the step the replica is
// wiped (sim.Wipe: it restarts with an empty disk and must rebuild before
// it votes or leads again). In most runs a client at that rival site, one
// the round did not reach, proposes a write of the same key within 3 ms.
// The next replica, one the first round did not reach, that starts a
// round for a command interfering with the first within 1 to 40 ms gets
// the same: in most runs its round reaches only replicas the first did
// not, and a third replica that led neither round (one that heard
// neither, when there is one) loses its disk with it. So two interfering
// rounds are each left with their own part of the cluster, without the
// replica that knew them whole, and with a silent replica that might have
// voted for either: whoever recovers one must settle it from the partial
// votes while the other stands in its way, and the rebuilding replicas
// wait on both. A wipe happens only while fewer than a minority of the
// replicas are down or rebuilding and the others hold a phase-1 and a
// phase-2 quorum (see roomToWipe). It needs a quiet cluster, so it runs
// only alone (quietInjectors in search_epaxos_recovery.go). It draws from
// its own random stream.
func injectLostProposers(e *faultEnv) {
	s, n := e.s, e.n
	rng := rand.New(rand.NewPCG(e.seed, 0x6c6f737470726f70))
	if n < 3 {
		return
	}
	if _, ok := s.Replica(0).(paxos.Rebuilder); !ok {
		return
	}
	ms := time.Millisecond
	budget := 1 + rng.IntN(3)
	p := 0.02 + 0.28*rng.Float64()
	within := dur(rng, 1*ms, 40*ms)
	third := 0.5 + rng.Float64()/2
	rivals := 0.5 + rng.Float64()/2
	split := 0.5 + rng.Float64()/2 // the second round reaches only those the first did not
	var wiping quorum.Set          // wipes decided, not yet done
	wipe := func(id int) {
		wiping = wiping.Remove(id)
		if s.Alive(paxos.NodeID(id)) && !e.down[id] && s.Wipe(paxos.NodeID(id)) == nil {
			e.counts.crashes++
		}
	}
	// lose lets o's messages reach only the peers keep picks from those
	// it sends to, then wipes id; it returns the peers reached.
	lose := func(o sim.Output, id int, keep func(to []int) []int) (quorum.Set, bool) {
		if !roomToWipe(e, id, wiping) {
			return 0, false
		}
		wiping = wiping.Add(id)
		var to []int
		for i := range o.Ready.Messages {
			if q := int(o.Ready.Messages[i].To); q != id && !slices.Contains(to, q) {
				to = append(to, q)
			}
		}
		rng.Shuffle(len(to), func(i, j int) { to[i], to[j] = to[j], to[i] })
		reached := setOfReplicas(keep(slices.Clone(to)))
		var lost []link
		for _, q := range to {
			if !reached.Has(q) {
				lost = append(lost, link{id, q})
			}
		}
		lost = e.cut(lost)
		s.At(s.Now(), func() {
			e.heal(lost)
			wipe(id)
		})
		return reached, true
	}
	first, firstAt := -1, time.Duration(0)
	var firstCmd paxos.Command
	var firstReached quorum.Set
	rival := 0 // conflicting proposals added
	e.observers = append(e.observers, func(o sim.Output) {
		id, now := int(o.Replica), s.Now()
		if e.down[id] || o.Proposed == nil || !broadcasts(o) {
			return
		}
		if first >= 0 && first != id && !firstReached.Has(id) && now-firstAt <= within && paxos.Interferes(o.Proposed, &firstCmd) {
			a, f := firstReached, first
			first = -1
			// The second round reaches those the first did not (when it
			// splits the cluster). A third replica, one that led neither
			// round and (then) heard neither, loses its disk too: it stays
			// silent until both rounds are settled.
			splitting, withThird := rng.Float64() < split, rng.Float64() < third
			x := -1
			_, ok := lose(o, id, func(to []int) []int {
				if splitting {
					to = slices.DeleteFunc(to, func(q int) bool { return a.Has(q) || q == f })
				}
				if !withThird {
					return to
				}
				// A replica outside both rounds, or else one the second
				// reaches (it then does not).
				for _, inside := range []bool{false, true} {
					for _, q := range rng.Perm(n) {
						if x < 0 && q != id && q != f && !a.Has(q) && slices.Contains(to, q) == inside && (!inside || len(to) > 1) && roomToWipe(e, q, wiping.Add(id)) {
							x = q
						}
					}
				}
				to = slices.DeleteFunc(to, func(q int) bool { return q == x })
				return to
			})
			if ok && x >= 0 && roomToWipe(e, x, wiping) {
				wiping = wiping.Add(x)
				s.At(now, func() { wipe(x) })
			}
			return
		}
		if budget == 0 || rng.Float64() >= p {
			return
		}
		site := (id + 1 + rng.IntN(n-1)) % n // where a rival proposal starts
		reached, ok := lose(o, id, func(to []int) []int {
			if rng.IntN(4) == 0 {
				return to
			}
			// About half the other peers, or any number from one to all
			// but two, never the rival's site.
			to = slices.DeleteFunc(to, func(q int) bool { return q == site })
			k := max(1, n/2-1+rng.IntN(2))
			if rng.IntN(2) == 0 {
				k = 1 + rng.IntN(max(1, n-3))
			}
			return to[:min(k, len(to))]
		})
		if !ok {
			return
		}
		budget--
		first, firstAt, firstCmd, firstReached = id, now, *o.Proposed, reached
		if rng.Float64() < rivals && !reached.Has(site) {
			// A client at another site proposes a write of the same key
			// at once: two interfering rounds start together.
			rival++
			cmd := paxos.Command{Op: paxos.OpPut, Key: o.Proposed.Key, Value: fmt.Sprintf("rival%d", rival)}
			s.At(now+upTo(rng, min(within, 3*ms)), func() {
				_, _ = s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Ops: 1,
					Workload: sim.WorkloadFunc(func(*rand.Rand) paxos.Command { return cmd })})
			})
		}
	})
}

// roomToWipe reports whether replica id may lose its disk now: it is up
// and not rebuilding, fewer than a minority would then be down or
// rebuilding (counting the wipes already decided, in wiping), and the
// others still hold a phase-1 and a phase-2 quorum of the replicas'
// quorum system (a rebuild needs both to finish).
func roomToWipe(e *faultEnv, id int, wiping quorum.Set) bool {
	s, n := e.s, e.n
	var out quorum.Set
	for q := 0; q < n; q++ {
		rb, ok := s.Replica(paxos.NodeID(q)).(paxos.Rebuilder)
		if q == id || wiping.Has(q) || !s.Alive(paxos.NodeID(q)) || e.down[q] || ok && rb.Rebuilding() {
			out = out.Add(q)
		}
	}
	if rb, ok := s.Replica(paxos.NodeID(id)).(paxos.Rebuilder); !ok || rb.Rebuilding() || !s.Alive(paxos.NodeID(id)) {
		return false
	}
	up := quorum.Full(n) &^ out
	q := quorumSystem(s, n)
	return out.Len() <= (n-1)/2 && q.IsPhase1(up) && q.IsPhase2(up)
}

// setOfReplicas returns the set of the replicas in ids.
func setOfReplicas(ids []int) quorum.Set {
	var out quorum.Set
	for _, q := range ids {
		out = out.Add(q)
	}
	return out
}
