package basic

import (
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/stretchr/testify/require"
)

// cluster is a tiny in-memory network for stepping replicas by hand: it
// collects each replica's Ready, keeps persisted records, and delivers
// messages in FIFO order unless a filter drops them.
type cluster struct {
	t       testing.TB
	reps    []*Replica
	down    []bool
	records [][]any
	execs   [][]paxos.Execution
	commits [][]paxos.Commit
	decided []map[uint64][]paxos.Command
	queue   []paxos.Message
	// drop, if set, is asked about every message before delivery.
	drop func(m paxos.Message) bool
	// keep disables recording executions (for benchmarks).
	noRecord bool
}

func newCluster(t testing.TB, n int, broken bool) *cluster {
	c := &cluster{t: t}
	for i := 0; i < n; i++ {
		r, err := newReplica(paxos.Config{ID: paxos.NodeID(i), N: n, Seed: 7}, bugs{ignorePromises: broken})
		require.NoError(t, err)
		c.reps = append(c.reps, r)
	}
	c.down = make([]bool, n)
	c.records = make([][]any, n)
	c.execs = make([][]paxos.Execution, n)
	c.commits = make([][]paxos.Commit, n)
	c.decided = make([]map[uint64][]paxos.Command, n)
	for i := range c.decided {
		c.decided[i] = map[uint64][]paxos.Command{}
	}
	return c
}

// collect carries out replica i's Ready.
func (c *cluster) collect(i int) {
	rd := c.reps[i].Ready()
	c.records[i] = append(c.records[i], rd.Persist...)
	c.queue = append(c.queue, rd.Messages...)
	if c.noRecord {
		return
	}
	c.execs[i] = append(c.execs[i], rd.Executed...)
	c.commits[i] = append(c.commits[i], rd.Committed...)
	for _, d := range rd.Decided {
		prev, ok := c.decided[i][d.Instance.Slot]
		require.False(c.t, ok, "replica %d reported slot %d twice (before %v)", i, d.Instance.Slot, prev)
		c.decided[i][d.Instance.Slot] = d.Commands
	}
}

func (c *cluster) propose(i int, cmd paxos.Command) {
	c.reps[i].Propose(cmd)
	c.collect(i)
}

// deliver delivers queued messages until none are left (or limit reached).
func (c *cluster) deliver(limit int) {
	for steps := 0; len(c.queue) > 0 && steps < limit; steps++ {
		m := c.queue[0]
		c.queue = c.queue[1:]
		if c.down[m.To] || c.down[m.From] || (c.drop != nil && c.drop(m)) {
			continue
		}
		require.NoError(c.t, c.reps[m.To].Step(m))
		c.collect(int(m.To))
	}
}

// tick ticks every live replica once and delivers the results.
func (c *cluster) tick() {
	for i, r := range c.reps {
		if !c.down[i] {
			r.Tick()
			c.collect(i)
		}
	}
	c.deliver(1 << 20)
}

// restart rebuilds replica i from its persisted records.
func (c *cluster) restart(i int) {
	r, err := newReplica(paxos.Config{ID: paxos.NodeID(i), N: len(c.reps), Seed: 7,
		Restore: &paxos.Persisted{Records: append([]any(nil), c.records[i]...)}}, c.reps[i].bug)
	require.NoError(c.t, err)
	c.reps[i] = r
	c.down[i] = false
	c.execs[i] = nil
	c.decided[i] = map[uint64][]paxos.Command{}
	c.collect(i)
}

// executedIDs lists the non-duplicate commands replica i executed.
func (c *cluster) executedIDs(i int) []paxos.CommandID {
	var out []paxos.CommandID
	for _, e := range c.execs[i] {
		if !e.Duplicate {
			out = append(out, e.Command.ID())
		}
	}
	return out
}

// agree checks that no two replicas decided different values for a slot.
func (c *cluster) agree() {
	for s := uint64(1); ; s++ {
		var ref []paxos.Command
		found := false
		for i := range c.reps {
			v, ok := c.decided[i][s]
			if !ok {
				continue
			}
			if found {
				require.Equal(c.t, ref, v, "slot %d decided differently at replica %d", s, i)
			}
			ref, found = v, true
		}
		if !found && s > c.maxDecided() {
			return
		}
	}
}

func (c *cluster) maxDecided() uint64 {
	var m uint64
	for i := range c.decided {
		for s := range c.decided[i] {
			m = max(m, s)
		}
	}
	return m
}

func put(client, seq uint64, key, value string) paxos.Command {
	return paxos.Command{Client: client, Seq: seq, Op: paxos.OpPut, Key: key, Value: value}
}

func get(client, seq uint64, key string) paxos.Command {
	return paxos.Command{Client: client, Seq: seq, Op: paxos.OpGet, Key: key}
}

// idle checks that live replicas have no proposal or command left in flight.
func (c *cluster) idle() {
	for i, r := range c.reps {
		if c.down[i] {
			continue
		}
		require.Zero(c.t, r.inflight, "replica %d counts proposals in flight", i)
		require.Empty(c.t, r.queue, "replica %d has queued commands", i)
		require.Empty(c.t, r.waiting, "replica %d waits for commands", i)
		for s, st := range r.slots {
			require.Nil(c.t, st.prop, "replica %d still proposes in slot %d", i, s)
		}
	}
}
