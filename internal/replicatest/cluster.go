// Package replicatest steps replicas of any protocol by hand, for tests. A
// Cluster holds N paxos.Replica values built by one paxos.Constructor and a
// queue of the messages they sent; a test decides which queued messages
// are delivered, dropped or duplicated, ticks replicas, crashes them and
// restarts them from what they persisted, and reads back what they decided
// and executed. It checks as it goes that no instance is decided twice
// differently, and runs the checker's invariants on request.
//
// Scripts (script.go) drive a Cluster from testdata files of sentences
// such as "deliver PreAccept 1->4" and compare the output of each with the
// expected text written under it; go test -rewrite rewrites those blocks.
//
// The package reaches protocols only through the contract: a protocol's
// own tests pass its constructor (or name it in a script, which finds it in
// the registry) and look at its internals by type-asserting Replica(i).
package replicatest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
)

// maxSteps bounds one Deliver: a run that is still delivering after this
// many messages is taken never to quiesce.
const maxSteps = 1 << 20

// A Cluster is a hand-driven network of replicas. Its exported fields are
// the record a test reads (and, where it says so, may change).
type Cluster struct {
	// T receives failures. Nil makes them panics of type *Failure, which
	// the script runner catches.
	T testing.TB
	// Config is the configuration every replica starts from; ID and
	// Restore are set per replica.
	Config paxos.Config
	// New builds each replica.
	New paxos.Constructor

	// Queue holds the messages sent and not yet delivered or dropped, in
	// send order. Tests may reorder or edit it.
	Queue []paxos.Message
	// Lose, if set, is asked about every message as it is sent; a message
	// it matches is lost (never queued).
	Lose Filter
	// Up says which replicas run; a crashed one keeps what it persisted.
	Up []bool
	// Persisted is what each replica has made durable: its latest snapshot
	// and the records after it.
	Persisted []paxos.Persisted

	// Executed, Committed and DecidedAt are what each replica reported in
	// its current incarnation (a restart clears them).
	Executed  [][]paxos.Execution
	Committed [][]paxos.Commit
	DecidedAt []map[paxos.Instance]paxos.Decision
	// Decided holds, per instance, the first decision any replica learned.
	Decided map[paxos.Instance]paxos.Decision
	// Learned and Applied are every decision and execution reported over
	// all incarnations, for the checker's invariants.
	Learned []check.Learned
	Applied []check.Applied

	// Tolerate records an instance decided twice differently in Conflicts
	// instead of failing (for planted bugs).
	Tolerate  bool
	Conflicts []paxos.Instance
	// NoRecord keeps only messages and persisted records, not reports
	// (for benchmarks).
	NoRecord bool

	reps        []paxos.Replica
	incarnation []int
}

// Failure is what a Cluster without T panics with.
type Failure struct{ Msg string }

func (f *Failure) Error() string { return f.Msg }

// New builds a cluster of cfg.N replicas with newReplica, each from cfg
// with its own ID, and collects what they emit on start.
func New(t testing.TB, newReplica paxos.Constructor, cfg paxos.Config) *Cluster {
	if t != nil {
		t.Helper()
	}
	n := cfg.N
	c := &Cluster{T: t, Config: cfg, New: newReplica, Decided: map[paxos.Instance]paxos.Decision{}}
	c.reps = make([]paxos.Replica, n)
	c.Up = make([]bool, n)
	c.Persisted = make([]paxos.Persisted, n)
	c.Executed = make([][]paxos.Execution, n)
	c.Committed = make([][]paxos.Commit, n)
	c.DecidedAt = make([]map[paxos.Instance]paxos.Decision, n)
	c.incarnation = make([]int, n)
	for i := 0; i < n; i++ {
		c.Start(i, nil)
	}
	return c
}

func (c *Cluster) fatalf(format string, args ...any) {
	if c.T != nil {
		c.T.Helper()
		c.T.Fatalf(format, args...)
		return
	}
	panic(&Failure{Msg: fmt.Sprintf(format, args...)})
}

// N is the number of replicas.
func (c *Cluster) N() int { return len(c.reps) }

// Replica returns replica i's current incarnation.
func (c *Cluster) Replica(i int) paxos.Replica { return c.reps[i] }

// Start builds replica i anew from restore (nil: empty) and collects what
// it emits on start. Its reports of earlier incarnations are cleared.
func (c *Cluster) Start(i int, restore *paxos.Persisted) {
	c.start(i, restore, c.Config.Rebuild)
}

func (c *Cluster) start(i int, restore *paxos.Persisted, rebuild bool) {
	cfg := c.Config
	cfg.ID = paxos.NodeID(i)
	cfg.Restore = restore
	cfg.Rebuild = rebuild
	r, err := c.New(cfg)
	if err != nil {
		c.fatalf("replicatest: build replica %d: %v", i, err)
		return
	}
	c.reps[i], c.Up[i] = r, true
	c.incarnation[i]++
	c.Executed[i] = nil
	c.Committed[i] = nil
	c.DecidedAt[i] = map[paxos.Instance]paxos.Decision{}
	c.Collect(i)
}

// Collect carries out replica i's Ready: persists, queues messages (less
// those Lose matches) and records reports, checking that no instance is
// decided twice differently and that the replica reports an instance at
// most once per incarnation.
func (c *Cluster) Collect(i int) {
	if !c.Up[i] {
		return
	}
	rd := c.reps[i].Ready()
	if rd.Snapshot != nil {
		c.Persisted[i] = paxos.Persisted{Snapshot: rd.Snapshot}
	}
	c.Persisted[i].Records = append(c.Persisted[i].Records, rd.Persist...)
	for _, m := range rd.Messages {
		if c.Lose == nil || !c.Lose(m) {
			c.Queue = append(c.Queue, m)
		}
	}
	if c.NoRecord {
		return
	}
	c.Executed[i] = append(c.Executed[i], rd.Executed...)
	c.Committed[i] = append(c.Committed[i], rd.Committed...)
	id := paxos.NodeID(i)
	for _, e := range rd.Executed {
		c.Applied = append(c.Applied, check.Applied{Replica: id, Incarnation: c.incarnation[i], Exec: e})
	}
	for _, d := range rd.Decided {
		c.Learned = append(c.Learned, check.Learned{Replica: id, Incarnation: c.incarnation[i], Decision: d})
		if prev, dup := c.DecidedAt[i][d.Instance]; dup {
			c.fatalf("replica %d reported instance %v twice in one incarnation:\n%+v\n%+v", i, d.Instance, prev, d)
		}
		c.DecidedAt[i][d.Instance] = d
		old, ok := c.Decided[d.Instance]
		switch {
		case !ok:
			c.Decided[d.Instance] = d
		case !reflect.DeepEqual(old, d) && c.Tolerate:
			c.Conflicts = append(c.Conflicts, d.Instance)
		case !reflect.DeepEqual(old, d):
			c.fatalf("instance %v decided twice differently:\n%+v\n%+v", d.Instance, old, d)
		}
	}
}

// Propose proposes cmd at replica i and collects.
func (c *Cluster) Propose(i int, cmd paxos.Command) {
	c.reps[i].Propose(cmd)
	c.Collect(i)
}

// Step hands m to its receiver at once (whether queued or not) and
// collects; a message to a crashed replica is lost.
func (c *Cluster) Step(m paxos.Message) {
	if !c.Up[m.To] {
		return
	}
	if err := c.reps[m.To].Step(m); err != nil {
		c.fatalf("replica %d refused %T from %d: %v", m.To, m.Body, m.From, err)
		return
	}
	c.Collect(int(m.To))
}

// Deliver delivers, in queue order, every queued message f matches (nil:
// all), including those sent meanwhile, until none is left; it returns
// how many reached a running replica.
func (c *Cluster) Deliver(f Filter) int {
	return c.deliver(f, nil)
}

func (c *Cluster) deliver(f Filter, seen func(paxos.Message)) int {
	count := 0
	for steps := 0; steps < maxSteps; steps++ {
		idx := -1
		for j, m := range c.Queue {
			if f == nil || f(m) {
				idx = j
				break
			}
		}
		if idx < 0 {
			return count
		}
		m := c.Queue[idx]
		if idx == 0 {
			c.Queue = c.Queue[1:]
		} else {
			c.Queue = slices.Delete(c.Queue, idx, idx+1)
		}
		if !c.Up[m.To] {
			continue
		}
		if seen != nil {
			seen(m)
		}
		c.Step(m)
		count++
	}
	c.fatalf("replicatest: no quiescence after %d messages", maxSteps)
	return count
}

// Drop removes every queued message f matches and returns them.
func (c *Cluster) Drop(f Filter) []paxos.Message {
	var out []paxos.Message
	c.Queue = slices.DeleteFunc(c.Queue, func(m paxos.Message) bool {
		if f == nil || f(m) {
			out = append(out, m)
			return true
		}
		return false
	})
	return out
}

// Duplicate queues a second copy of every queued message f matches, at
// the end of the queue, and returns the copies.
func (c *Cluster) Duplicate(f Filter) []paxos.Message {
	var out []paxos.Message
	for _, m := range c.Queue {
		if f == nil || f(m) {
			out = append(out, m)
		}
	}
	c.Queue = append(c.Queue, out...)
	return out
}

// Tick ticks replica i k times, collecting after each; a crashed replica
// does not tick. Messages sent are queued, not delivered.
func (c *Cluster) Tick(i, k int) {
	for j := 0; j < k && c.Up[i]; j++ {
		c.reps[i].Tick()
		c.Collect(i)
	}
}

// TickAll ticks every running replica once, k times over.
func (c *Cluster) TickAll(k int) {
	for j := 0; j < k; j++ {
		for i := range c.reps {
			c.Tick(i, 1)
		}
	}
}

// Crash stops replica i; the messages queued to it are lost. It keeps
// what it persisted.
func (c *Cluster) Crash(i int) {
	c.Up[i] = false
	c.Drop(To(i))
}

// Restart builds replica i again from what it persisted.
func (c *Cluster) Restart(i int) {
	p := c.Persisted[i]
	p.Records = slices.Clone(p.Records)
	c.Start(i, &p)
}

// Wipe crashes replica i (if it runs), erases what it persisted, as a lost
// disk does, and starts it again empty with Config.Rebuild set.
func (c *Cluster) Wipe(i int) {
	c.Crash(i)
	c.Persisted[i] = paxos.Persisted{}
	c.start(i, nil, true)
}

// Settle alternates delivering everything and ticking every running
// replica, at most rounds times, until cond holds (nil: never, so all
// rounds run); it reports whether cond held.
func (c *Cluster) Settle(cond func() bool, rounds int) bool {
	for k := 0; k < rounds; k++ {
		c.Deliver(nil)
		if cond != nil && cond() {
			return true
		}
		c.TickAll(1)
	}
	c.Deliver(nil)
	return cond != nil && cond()
}

// ExecutedIDs lists the commands replica i executed in its current
// incarnation, in order, less duplicates and no-ops.
func (c *Cluster) ExecutedIDs(i int) []paxos.CommandID {
	var out []paxos.CommandID
	for _, e := range c.Executed[i] {
		if !e.Duplicate && !e.Command.IsNop() {
			out = append(out, e.Command.ID())
		}
	}
	return out
}

// AllCommitted returns every replica's commit reports of its current
// incarnation, replica by replica.
func (c *Cluster) AllCommitted() []paxos.Commit {
	var out []paxos.Commit
	for _, cs := range c.Committed {
		out = append(out, cs...)
	}
	return out
}

// Invariants runs the checker's protocol invariants (one value per
// instance, EPaxos dependencies, one write order per key) over everything
// reported so far and returns the violations.
func (c *Cluster) Invariants() []string {
	return check.Invariants(c.Learned, c.Applied)
}
