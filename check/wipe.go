package check

import (
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/sim"
)

// FaultWipe makes a replica lose its disk: it is wiped and restarted at once
// with Config.Rebuild (sim.Wipe), and must rebuild from its peers before it
// votes again.
const FaultWipe = "wipe"

// quorumSystem returns the quorum system of the cluster's replicas, when
// they tell it, or majorities.
func quorumSystem(s *sim.Sim, n int) quorum.System {
	for id := 0; id < n; id++ {
		if q, ok := s.Replica(paxos.NodeID(id)).(interface{ Quorums() quorum.System }); ok && q.Quorums() != nil {
			return q.Quorums()
		}
	}
	m, _ := quorum.NewMajority(n)
	return m
}

// quorumsLeft reports whether the replicas neither crashed nor rebuilding,
// those in without excluded, hold a phase-1 and a phase-2 quorum of the
// cluster's quorum system; a disk is lost only if they do, or nobody could
// elect a leader, commit, or let the rebuilding replicas learn.
func quorumsLeft(s *sim.Sim, n int, without ...int) bool {
	var d quorum.Set
	for id := 0; id < n; id++ {
		r, ok := s.Replica(paxos.NodeID(id)).(paxos.Rebuilder)
		if !s.Alive(paxos.NodeID(id)) || slices.Contains(without, id) || (ok && r.Rebuilding()) {
			d = d.Add(id)
		}
	}
	up := quorum.Full(n) &^ d
	q := quorumSystem(s, n)
	return q.IsPhase1(up) && q.IsPhase2(up)
}

// rebuilding counts the running replicas that are still rebuilding; the
// fault injector counts them as down.
func rebuilding(s *sim.Sim) int {
	k := 0
	for id := 0; id < s.N(); id++ {
		if rb, ok := s.Replica(paxos.NodeID(id)).(paxos.Rebuilder); ok && rb.Rebuilding() {
			k++
		}
	}
	return k
}

// injectWipes schedules disk losses during [0, window), unless the
// replicas do not implement paxos.Rebuilder (their protocol refuses
// Config.Rebuild; every protocol here implements it). Each one is aimed at
// the case a replica that forgot its votes can break: it picks the busiest
// replicas of the last interval (by messages sent: coordinators, leaders),
// a group G of at most a minority, and another replica W, and for a few
// tens of milliseconds lets G reach only W, so that G's decisions rest on
// W's votes. Then W loses its disk and restarts rebuilding while G is cut
// off from everyone for a while: the rest, W included, form a quorum, and
// only a W that waits to vote until it has learned what it forgot keeps
// G's decisions. A wipe happens only while fewer than a minority of the
// replicas are crashed or rebuilding, W included, and while the others
// still hold a phase-1 and a phase-2 quorum of the replicas' quorum system
// (Quorums(), when a replica has it; majorities otherwise): a rebuild needs
// them to finish. Protocols that refuse Config.Rebuild are not wiped. Partitions heal when the window
// ends, like the other faults. Wipes count in Result.Crashes, the cut-offs
// in Result.Partitions.
func injectWipes(e *faultEnv) {
	s, n, window, counts := e.s, e.n, e.window, &e.counts
	maxDown := (n - 1) / 2
	if maxDown == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(e.rng.Uint64(), 0x77697065))
	if _, ok := s.Replica(0).(paxos.Rebuilder); !ok {
		// The protocol does not rebuild after a lost disk (it refuses
		// Config.Rebuild): there is nothing to check.
		return
	}
	dur := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	last := make([]uint64, n)
	for t := dur(150*time.Millisecond, 500*time.Millisecond); t < window; t += dur(400*time.Millisecond, 900*time.Millisecond) {
		pick := rng.Uint64()
		d1 := dur(20*time.Millisecond, 80*time.Millisecond)
		d2 := dur(150*time.Millisecond, 600*time.Millisecond)
		s.At(t, func() {
			down := rebuilding(s)
			for id := 0; id < n; id++ {
				if !s.Alive(paxos.NodeID(id)) {
					down++
				}
			}
			if down+1 > maxDown {
				return
			}
			// Busiest alive replicas since the previous wipe first.
			alive := make([]int, 0, n)
			delta := make([]uint64, n)
			for id := 0; id < n; id++ {
				now := messagesSent(s, id)
				delta[id], last[id] = now-last[id], now
				if s.Alive(paxos.NodeID(id)) {
					alive = append(alive, id)
				}
			}
			sort.SliceStable(alive, func(i, j int) bool { return delta[alive[i]] > delta[alive[j]] })
			if len(alive) < 2 {
				return
			}
			k := min(maxDown, len(alive)-1)
			group, rest := alive[:k], alive[k:]
			w := rest[pick%uint64(len(rest))]
			// With Q2 = 2, or a grid, fewer than a minority may be down.
			if !quorumsLeft(s, n, w) {
				return
			}
			inG := make([]bool, n)
			for _, g := range group {
				inG[g] = true
			}
			var notW []int
			for x := 0; x < n; x++ {
				if !inG[x] && x != w {
					notW = append(notW, x)
				}
			}
			first := e.cut(between(group, notW))
			at := t + d1
			if at >= window {
				at = window - 1
			}
			s.At(at, func() {
				e.heal(first)
				if !s.Alive(paxos.NodeID(w)) || s.Wipe(paxos.NodeID(w)) != nil {
					return
				}
				counts.crashes++
				others := make([]int, 0, n)
				for x := 0; x < n; x++ {
					if !inG[x] {
						others = append(others, x)
					}
				}
				counts.partitions++
				second := e.cut(between(group, others))
				heal := at + d2
				if heal > window {
					heal = window
				}
				s.At(heal, func() { e.heal(second) })
			})
		})
	}
}
