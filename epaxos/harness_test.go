package epaxos

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// tnet steps EPaxos replicas by hand on the shared harness
// (internal/replicatest): messages wait in a queue until the test delivers
// or drops them; crashed replicas keep what they persisted; every decision
// is checked against earlier ones as it is reported. opts holds the
// planted bugs the next replica built gets.
type tnet struct {
	*replicatest.Cluster
	opts plants
}

func newNet(t *testing.T, n int, tweak func(*paxos.Config)) *tnet {
	t.Helper()
	cfg := paxos.Config{N: n, Seed: 7, RetryTicks: 5}
	if tweak != nil {
		tweak(&cfg)
	}
	nw := &tnet{}
	nw.Cluster = replicatest.New(t, func(cfg paxos.Config) (paxos.Replica, error) {
		return newReplica(cfg, nw.opts)
	}, cfg)
	return nw
}

// rep is replica i's current incarnation.
func (nw *tnet) rep(i int) *Replica { return nw.Replica(i).(*Replica) }

func (nw *tnet) allDecided(ids ...paxos.Instance) func() bool {
	return func() bool {
		for i := 0; i < nw.N(); i++ {
			if !nw.Up[i] {
				continue
			}
			for _, id := range ids {
				in := nw.rep(i).inst[id.Replica][id.Slot]
				if (in == nil && !nw.rep(i).collected(id)) || (in != nil && in.status != StatusCommitted) {
					return false
				}
			}
		}
		return true
	}
}

// Message filters.
var from, to, and = replicatest.From, replicatest.To, replicatest.And

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
