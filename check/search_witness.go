package check

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Lone witnesses: the next quorum overlaps the last one in a single
// replica.
//
// A protocol's safety rests on quorum intersection: whatever a proposer
// learned from one quorum (the votes behind a decision, the promises
// behind a phase 1) is found by the next proposer through the replicas
// the two quorums share. With random faults the next quorum usually
// shares two or more replicas with the last one at N = 5 and 7 (the first
// replies to arrive come from everywhere), so a vote one replica lost or
// misreports is covered by another that kept it, and bugs in a single
// replica's vote (not persisted, persisted late, counted twice, compared
// without its tie-break, taken first instead of highest) need a lucky
// schedule to matter. Only at N = 3 is every overlap a single replica.
//
// injectLoneWitnesses makes the overlap minimal at any size. When a
// replica advances on a peer's message (it handles it and in the same
// step sends to two peers or more: a proposer that gathered a quorum and
// starts its next phase, a leader announcing a decision), the peers it
// heard from just before are taken as the quorum it gathered. Its
// messages of that step are lost, and in some runs it is cut off from
// everyone for a while (it died for the others, but keeps its clients);
// one of its voters, the witness, stays with the replicas that did not
// vote, and the other voters are cut off from them for as long, so the
// next proposer's quorum is the non-voters plus the witness (voters are
// let back in only as needed to leave a majority). The witness is, in
// most runs, the voter that restarted last (what it restored is all the
// next quorum learns of the vote), and in some runs it bounces (a crash
// and a restart at once or within 3 ms) right then. Nothing here names a
// message type: a step is judged by whom it handles and whom it sends to.
// It needs a quiet cluster, so it runs only alone (quietInjectors in
// search_epaxos_recovery.go). It draws from its own random stream; a
// quarter of the runs have none.
func injectLoneWitnesses(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x7769746e657373))
	if n < 3 || rng.IntN(4) == 0 {
		return
	}
	ms := time.Millisecond
	budget := 1 + rng.IntN(6)
	p := 0.02 + 0.3*rng.Float64()
	decisionsOnly := rng.IntN(3) == 0    // only steps that report a decision
	isolate := rng.Float64()             // the advancing replica cut off for the hold
	bounce := rng.Float64()              // the witness bounces
	latest := rng.IntN(4) != 0           // the witness is the voter that restarted last
	heardWithin := dur(rng, 5*ms, 45*ms) // how recent a message counts as a vote
	answers := 0.0                       // a replica restarts right after it answers alone
	if rng.IntN(2) == 0 {
		answers = 0.01 + 0.2*rng.Float64()
	}
	quorum := n/2 + 1
	heard := make([]time.Duration, n*n) // heard[to*n+from]: when to last handled a message of from
	for i := range heard {
		heard[i] = -1
	}
	lastInc := make([]int, n)
	restartedAt := make([]time.Duration, n)
	busyUntil := time.Duration(0)
	e.observers = append(e.observers, func(o sim.Output) {
		id, now := int(o.Replica), s.Now()
		if o.Incarnation != lastInc[id] {
			lastInc[id], restartedAt[id] = o.Incarnation, now
		}
		if e.down[id] || o.Input == nil {
			return
		}
		from := int(o.Input.From)
		if from != id && from >= 0 && from < n {
			heard[id*n+from] = now
		}
		if answers > 0 && answersAlone(o) && from != id && rng.Float64() < answers {
			// A vote that may be lost: its voter restarts right after it.
			e.bounceNow(rng, id, nil)
			return
		}
		if budget == 0 || now < busyUntil || (decisionsOnly && len(o.Ready.Decided) == 0) {
			return
		}
		to := map[paxos.NodeID]bool{}
		for i := range o.Ready.Messages {
			to[o.Ready.Messages[i].To] = true
		}
		if len(to) < 2 || rng.Float64() >= p {
			return
		}
		var voters []int
		for _, q := range rng.Perm(n) {
			if at := heard[id*n+q]; q != id && !e.down[q] && at >= 0 && now-at <= heardWithin {
				voters = append(voters, q)
			}
		}
		if len(voters) == 0 {
			return
		}
		budget--
		// The witness: the voter that restarted last if it restarted
		// since it voted, else the one whose message made id advance.
		slices.SortStableFunc(voters, func(a, b int) int {
			return cmp.Compare(b2i(b == from), b2i(a == from))
		})
		if latest {
			slices.SortStableFunc(voters, func(a, b int) int {
				ra, rb := restartedAt[a] >= heard[id*n+a]-heardWithin, restartedAt[b] >= heard[id*n+b]-heardWithin
				if ra != rb {
					return cmp.Compare(b2i(rb), b2i(ra))
				}
				return cmp.Compare(restartedAt[b], restartedAt[a])
			})
		}
		w, cutOff := voters[0], voters[1:]
		group := []int{w}
		for q := 0; q < n; q++ {
			if q != id && !slices.Contains(voters, q) {
				group = append(group, q)
			}
		}
		for len(group) < quorum && len(cutOff) > 0 {
			group = append(group, cutOff[len(cutOff)-1])
			cutOff = cutOff[:len(cutOff)-1]
		}
		until := min(now+dur(rng, 50*ms, 600*ms), window)
		busyUntil = until
		var held []link
		if rng.Float64() < isolate {
			held = e.cut(between([]int{id}, everyoneBut(n, id)))
		} else {
			// Only what it sends in this step is lost.
			var step []link
			for q := 0; q < n; q++ {
				step = append(step, link{id, q})
			}
			e.cut(step)
			s.At(now, func() { e.heal(step) })
		}
		held = append(held, e.cut(between(cutOff, group))...)
		s.At(until, func() { e.heal(held) })
		e.counts.partitions++
		if rng.Float64() < bounce {
			e.bounceNow(rng, w, []int{id})
		}
	})
}

// everyoneBut lists the replicas 0..n-1 other than id.
func everyoneBut(n, id int) []int {
	out := make([]int, 0, n-1)
	for q := 0; q < n; q++ {
		if q != id {
			out = append(out, q)
		}
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// injectStrandedProposals strands a proposal in a minority while later
// ones reach the majority. When a replica is proposed a command and in
// that step sends to two peers or more (it starts a round for it), only
// none to (n-1)/2-1 of those peers, the holders, get that step's
// messages; at the proposer's next step that sends to two peers or more
// within 3 to 60 ms (its next round, which goes through), the proposer
// and the holders are cut off from the rest for 100 to 800 ms. The
// majority left behind knows of the later round but not the earlier one:
// whoever takes over must find that nobody it asked holds the earlier
// slot or instance and close it (fill it, recover it) rather than leave
// it open, and the holders' copy surfaces only when the cut heals, after
// the majority moved on. One to five times per run, with probability
// 0.05 to 0.5 per proposal; a quarter of the runs have none. It runs only
// alone (quietInjectors in search_epaxos_recovery.go) and draws from its
// own random stream.
func injectStrandedProposals(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x737472616e64))
	if n < 3 || rng.IntN(4) == 0 {
		return
	}
	ms := time.Millisecond
	budget := 1 + rng.IntN(5)
	p := 0.05 + 0.45*rng.Float64()
	within := dur(rng, 3*ms, 60*ms)
	type stranded struct {
		holders []int
		until   time.Duration
	}
	pending := make([]*stranded, n)
	busyUntil := time.Duration(0)
	e.observers = append(e.observers, func(o sim.Output) {
		id, now := int(o.Replica), s.Now()
		if e.down[id] || (o.Input == nil && o.Proposed == nil) {
			return
		}
		to := peersSentTo(o)
		if len(to) < 2 {
			return
		}
		if st := pending[id]; st != nil {
			pending[id] = nil
			if now > st.until {
				return
			}
			// This round goes through; then the proposer and the holders
			// drop out of sight of the majority.
			side := append([]int{id}, st.holders...)
			var rest []int
			for q := 0; q < n; q++ {
				if !slices.Contains(side, q) {
					rest = append(rest, q)
				}
			}
			hold := dur(rng, 100*ms, 800*ms)
			s.At(now, func() {
				cut := e.cut(between(side, rest))
				e.counts.partitions++
				s.At(min(s.Now()+hold, window), func() { e.heal(cut) })
			})
			return
		}
		if o.Proposed == nil || budget == 0 || now < busyUntil || rng.Float64() >= p {
			return
		}
		budget--
		busyUntil = now + 900*ms
		rng.Shuffle(len(to), func(i, j int) { to[i], to[j] = to[j], to[i] })
		k := rng.IntN(max(1, (n-1)/2))
		holders := to[:min(k, len(to))]
		var lost []link
		for _, q := range to[len(holders):] {
			lost = append(lost, link{id, q})
		}
		e.cut(lost)
		s.At(now, func() { e.heal(lost) })
		pending[id] = &stranded{holders: slices.Clone(holders), until: now + within}
	})
}
