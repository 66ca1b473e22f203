package basic

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// cluster steps Basic Paxos replicas by hand on the shared harness
// (internal/replicatest), with the few views these tests need of the
// replicas' internals.
type cluster struct{ *replicatest.Cluster }

// newCluster builds n replicas.
func newCluster(t testing.TB, n int) cluster {
	return cluster{replicatest.New(t, New, paxos.Config{N: n, Seed: 7})}
}

// rep is replica i's current incarnation.
func (c cluster) rep(i int) *Replica { return c.Replica(i).(*Replica) }

// value is what replica i learned for slot s in its current incarnation.
func (c cluster) value(i int, s uint64) ([]paxos.Command, bool) {
	d, ok := c.DecidedAt[i][paxos.Instance{Slot: s}]
	return d.Commands, ok
}

// tick ticks every live replica once and delivers everything.
func (c cluster) tick() {
	c.TickAll(1)
	c.Deliver(nil)
}

func put(client, seq uint64, key, value string) paxos.Command {
	return paxos.Command{Client: client, Seq: seq, Op: paxos.OpPut, Key: key, Value: value}
}

func get(client, seq uint64, key string) paxos.Command {
	return paxos.Command{Client: client, Seq: seq, Op: paxos.OpGet, Key: key}
}

// idle checks that live replicas have no proposal or command left in flight.
func (c cluster) idle() {
	for i := 0; i < c.N(); i++ {
		if !c.Up[i] {
			continue
		}
		r := c.rep(i)
		require.Zero(c.T, r.inflight, "replica %d counts proposals in flight", i)
		require.Empty(c.T, r.queue, "replica %d has queued commands", i)
		require.Empty(c.T, r.waiting, "replica %d waits for commands", i)
		for s, st := range r.slots {
			require.Nil(c.T, st.prop, "replica %d still proposes in slot %d", i, s)
		}
	}
}

// slot is what replica i learned for slot s (nil: nothing).
func (c cluster) slot(i int, s uint64) []paxos.Command {
	v, _ := c.value(i, s)
	return v
}

// reps lists the replicas' current incarnations.
func (c cluster) reps() []*Replica {
	out := make([]*Replica, c.N())
	for i := range out {
		out[i] = c.rep(i)
	}
	return out
}
