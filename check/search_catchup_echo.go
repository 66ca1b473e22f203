package check

import (
	"math/rand/v2"
	"time"

	"github.com/paxos-lab/paxos/sim"
)

// Catch-up echoes: a replica that fell behind is brought up to date by its
// peers (a log suffix, or a snapshot of the state when it is further
// behind than the log they keep) while the messages it gets then are
// duplicated and held back, so that an old copy of what caught it up
// arrives after the newer entries it executed since. The swarm's crashes
// and partitions make replicas lag, and its duplicates and reordering act
// on every link at once with delays below a round trip; a copy that
// lands after the rejoining replica moved on needs both at the same
// moment on the same links, which the swarm rarely draws: a replica that
// installs a snapshot older than its execution point was caught in 1 seed
// of 500 at N = 3 and 2 at N = 7 before them, 8 and 9 with them. These
// faults watch nothing but time, who leads and which steps carry a
// snapshot, never message types.

// echoAlone gives the catch-up echoes (injectCatchUpEchoes) one run in
// echoShare of those that can use them: runs without leader leases, at N
// = 3 and more, whose faults include partitions and duplicates or
// reordering, whose replicas say whether they lead (an IsLeader method,
// see leads: the echoes time a lag by the leader's snapshots) and that
// take snapshots, alone in an otherwise quiet cluster. Only runs with a
// snapshot interval of their own (snapshotEvery above 0, drawn in half
// the runs by varySnapshots) take snapshots at all: the protocols'
// default interval is longer than a run, and without a snapshot the
// echoes have nothing to echo. It draws from a random stream of its own,
// so the other runs of a seed stay what they were.
func echoAlone(on []injector, has map[string]bool, e *faultEnv, snapshotEvery int) []injector {
	if e.leaseTicks > 0 || snapshotEvery <= 0 || e.n < 3 || !has[FaultPartition] || !has[FaultDup] && !has[FaultReorder] || len(on) == 0 {
		return on
	}
	if _, ok := e.s.Replica(0).(interface{ IsLeader() bool }); !ok {
		return on
	}
	if rand.New(rand.NewPCG(e.seed, echoStream)).IntN(echoShare) != 0 {
		return on
	}
	return []injector{{FaultPartition, injectCatchUpEchoes}}
}

// echoShare: echoAlone takes one run in this many.
const echoShare = 6

// echoStream names echoAlone's random stream.
const echoStream = 0x6563686f40

// injectCatchUpEchoes makes one replica at a time lag and then catch up
// through noisy links, 2 to 8 times per run, one at a time, 50 to 400 ms
// apart:
//
//  1. F, a replica that does not say it leads, misses what its peers
//     send it: in three events in four each such message is lost with
//     probability 0.5 to 0.95 and the rest are duplicated and held back
//     as in step 2; in the others every such message is lost (in half of
//     those F is cut off both ways). Meanwhile the others go on deciding
//     the clients' commands.
//  2. The lag ends 0 to 30 ms after the replica that says it leads took
//     its second snapshot since it began (its step's Ready carries one),
//     so that F is behind what the leader's log still holds; or after
//     300 to 2000 ms without that. Then every link to and from F
//     duplicates each message with probability 0.5 to 1 and holds
//     messages back, with probability 0.5 to 1, by an extra delay of up
//     to 10 to 200 ms, for 50 to 600 ms: F is caught up while older
//     copies of what its peers sent it, and of what it answered them (so
//     that they think it still behind and send again), keep arriving.
//
// A replica that applies a catch-up older than what it already executed
// runs the commands after it a second time.
//
// It draws from its own random stream.
func injectCatchUpEchoes(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x6563686f6573))
	if n < 3 {
		return
	}
	ms := time.Millisecond
	type lagging struct {
		id, snaps int
		end       func()
	}
	var cur *lagging
	budget := 2 + rng.IntN(7)
	var start func()
	start = func() {
		if budget == 0 || s.Now() >= window {
			return
		}
		budget--
		maxLag, noisy, gap := dur(rng, 300*ms, 2000*ms), dur(rng, 50*ms, 600*ms), dur(rng, 50*ms, 400*ms)
		deaf, lossy, drop := rng.IntN(2) == 0, rng.IntN(4) != 0, 0.5+0.45*rng.Float64()
		f := sim.Faults{Duplicate: 0.5 + 0.5*rng.Float64(), Reorder: 0.5 + 0.5*rng.Float64(), ReorderDelay: dur(rng, 10*ms, 200*ms)}
		l := leaderNow(e)
		var cands []int
		for q := 0; q < n; q++ {
			if q != l && !e.down[q] {
				cands = append(cands, q)
			}
		}
		if len(cands) == 0 {
			s.At(s.Now()+gap, start)
			return
		}
		id := cands[rng.IntN(len(cands))]
		var into []link
		for _, q := range othersThan(n, id) {
			into = append(into, link{q, id})
		}
		noise := between([]int{id}, othersThan(n, id))
		var held []link
		switch {
		case lossy:
			lf := f
			lf.Drop = drop
			setLinks(s, into, lf)
		case deaf:
			e.counts.partitions++
			held = e.cut(noise)
		default:
			e.counts.partitions++
			held = e.cut(into)
		}
		lag := &lagging{id: id}
		lag.end = func() {
			if cur != lag {
				return
			}
			cur = nil
			e.heal(held)
			setLinks(s, noise, f)
			s.At(min(s.Now()+noisy, window), func() {
				setLinks(s, noise, sim.Faults{})
				s.At(s.Now()+gap, start)
			})
		}
		cur = lag
		s.At(min(s.Now()+maxLag, window), lag.end)
	}
	s.At(dur(rng, 50*ms, 300*ms), start)
	e.observers = append(e.observers, func(o sim.Output) {
		c := cur
		if c == nil || int(o.Replica) == c.id || o.Ready.Snapshot == nil || !leads(s, int(o.Replica)) {
			return
		}
		if c.snaps++; c.snaps == 2 {
			s.At(s.Now()+dur(rng, 0, 30*ms), c.end)
		}
	})
}
