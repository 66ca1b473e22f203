package epaxos

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// tnet is a tiny hand-driven network for scripted tests: messages wait in a
// queue until the test delivers or drops them; crashed replicas keep what
// they persisted. It checks agreement on every decision as it goes.
type tnet struct {
	t         *testing.T
	n         int
	opts      plants
	cfg       paxos.Config
	reps      []*Replica
	up        []bool
	persisted []paxos.Persisted
	queue     []paxos.Message
	decided   map[paxos.Instance]paxos.Decision
	executed  [][]paxos.Execution // per replica, latest incarnation
	committed []paxos.Commit
	// With tolerate set, an instance decided twice differently is recorded
	// in conflicts instead of failing the test (for planted bugs).
	tolerate  bool
	conflicts []paxos.Instance
}

func newNet(t *testing.T, n int, tweak func(*paxos.Config)) *tnet {
	t.Helper()
	nw := &tnet{t: t, n: n, decided: map[paxos.Instance]paxos.Decision{}}
	nw.cfg = paxos.Config{N: n, Seed: 7, RetryTicks: 5}
	if tweak != nil {
		tweak(&nw.cfg)
	}
	nw.reps = make([]*Replica, n)
	nw.up = make([]bool, n)
	nw.persisted = make([]paxos.Persisted, n)
	nw.executed = make([][]paxos.Execution, n)
	for i := 0; i < n; i++ {
		nw.start(i, nil)
	}
	return nw
}

func (nw *tnet) start(i int, restore *paxos.Persisted) {
	cfg := nw.cfg
	cfg.ID = paxos.NodeID(i)
	cfg.Restore = restore
	r, err := newReplica(cfg, nw.opts)
	require.NoError(nw.t, err)
	nw.reps[i], nw.up[i] = r, true
	nw.executed[i] = nil
	nw.collect(i)
}

// collect drains replica i's Ready: persists, queues messages, checks
// decisions agree with every earlier one.
func (nw *tnet) collect(i int) {
	if !nw.up[i] {
		return
	}
	rd := nw.reps[i].Ready()
	if rd.Snapshot != nil {
		nw.persisted[i] = paxos.Persisted{Snapshot: rd.Snapshot}
	}
	nw.persisted[i].Records = append(nw.persisted[i].Records, rd.Persist...)
	nw.queue = append(nw.queue, rd.Messages...)
	nw.executed[i] = append(nw.executed[i], rd.Executed...)
	nw.committed = append(nw.committed, rd.Committed...)
	for _, d := range rd.Decided {
		if old, ok := nw.decided[d.Instance]; ok {
			if nw.tolerate && !reflect.DeepEqual(old, d) {
				nw.conflicts = append(nw.conflicts, d.Instance)
				continue
			}
			require.True(nw.t, reflect.DeepEqual(old, d), "instance %v decided twice differently:\n%+v\n%+v", d.Instance, old, d)
		} else {
			nw.decided[d.Instance] = d
		}
	}
}

func (nw *tnet) propose(i int, cmd paxos.Command) {
	nw.reps[i].Propose(cmd)
	nw.collect(i)
}

func (nw *tnet) tick(i, k int) {
	for j := 0; j < k; j++ {
		if nw.up[i] {
			nw.reps[i].Tick()
			nw.collect(i)
		}
	}
}

func (nw *tnet) tickAll(k int) {
	for j := 0; j < k; j++ {
		for i := 0; i < nw.n; i++ {
			nw.tick(i, 1)
		}
	}
}

func (nw *tnet) crash(i int) {
	nw.up[i] = false
	// messages in flight to a crashed replica are lost
	nw.drop(func(m paxos.Message) bool { return int(m.To) == i })
}

func (nw *tnet) restart(i int) {
	p := nw.persisted[i]
	nw.start(i, &p)
}

// deliver delivers, in queue order, every queued message matching pred
// (nil = all), including ones produced meanwhile; it returns how many.
func (nw *tnet) deliver(pred func(paxos.Message) bool) int {
	count := 0
	for steps := 0; steps < 100000; steps++ {
		idx := -1
		for j, m := range nw.queue {
			if pred == nil || pred(m) {
				idx = j
				break
			}
		}
		if idx < 0 {
			return count
		}
		m := nw.queue[idx]
		nw.queue = slices.Delete(nw.queue, idx, idx+1)
		if !nw.up[m.To] {
			continue
		}
		require.NoError(nw.t, nw.reps[m.To].Step(m))
		nw.collect(int(m.To))
		count++
	}
	nw.t.Fatal("deliver: no quiescence after 100000 messages")
	return count
}

func (nw *tnet) drop(pred func(paxos.Message) bool) {
	nw.queue = slices.DeleteFunc(nw.queue, pred)
}

// settle alternates ticks and full delivery until cond holds.
func (nw *tnet) settle(cond func() bool, rounds int) bool {
	for k := 0; k < rounds; k++ {
		nw.deliver(nil)
		if cond() {
			return true
		}
		nw.tickAll(1)
	}
	nw.deliver(nil)
	return cond()
}

func (nw *tnet) allDecided(ids ...paxos.Instance) func() bool {
	return func() bool {
		for i := 0; i < nw.n; i++ {
			if !nw.up[i] {
				continue
			}
			for _, id := range ids {
				in := nw.reps[i].inst[id.Replica][id.Slot]
				if (in == nil && !nw.reps[i].collected(id)) || (in != nil && in.status != StatusCommitted) {
					return false
				}
			}
		}
		return true
	}
}

// Message predicates.
func typ[T any](m paxos.Message) bool { _, ok := m.Body.(T); return ok }
func from(i int) func(paxos.Message) bool {
	return func(m paxos.Message) bool { return int(m.From) == i }
}
func to(i int) func(paxos.Message) bool { return func(m paxos.Message) bool { return int(m.To) == i } }
func and(ps ...func(paxos.Message) bool) func(paxos.Message) bool {
	return func(m paxos.Message) bool {
		for _, p := range ps {
			if !p(m) {
				return false
			}
		}
		return true
	}
}

func put(client, seq uint64, key, val string) paxos.Command {
	return paxos.Command{Client: client, Seq: seq, Op: paxos.OpPut, Key: key, Value: val}
}

// keyOrders returns, per key, the order of what execution fixes: the
// writes in order, and for each read the number of writes before it (reads
// of one key commute, so their order among themselves is free).
func keyOrders(ex []paxos.Execution) map[string][]string {
	out := map[string][]string{}
	writes := map[string]int{}
	var reads []string
	for _, e := range ex {
		if e.Duplicate || e.Command.IsNop() {
			continue
		}
		id := fmt.Sprintf("%d.%d", e.Command.Client, e.Command.Seq)
		if e.Command.Writes() {
			out[e.Command.Key] = append(out[e.Command.Key], id)
			writes[e.Command.Key]++
		} else {
			reads = append(reads, fmt.Sprintf("%s|read %s after %d writes", e.Command.Key, id, writes[e.Command.Key]))
		}
	}
	slices.Sort(reads)
	for _, r := range reads {
		k, rest, _ := strings.Cut(r, "|")
		out[k+" reads"] = append(out[k+" reads"], rest)
	}
	return out
}

func depends(d paxos.Decision, on paxos.Instance) bool { return d.Deps[on.Replica] >= on.Slot }
