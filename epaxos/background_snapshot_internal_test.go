package epaxos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// restoredState is what a replica restored from p holds, in a form that
// does not depend on how its index is laid out in memory.
type restoredState struct {
	Snap        SnapshotRecord
	Keys        map[string]IndexEntry
	Open        [][]uint64
	MaxSlot     []uint64
	NextSlot    uint64
	PendingExec []paxos.Instance
	Uncommitted []paxos.Instance
}

func restoreState(t *testing.T, cfg paxos.Config, p paxos.Persisted) restoredState {
	t.Helper()
	cfg.Restore = &p
	r, err := NewReplica(cfg)
	require.NoError(t, err)
	st := restoredState{Snap: r.snapshot(), Keys: map[string]IndexEntry{}, MaxSlot: slices.Clone(r.maxSlot), NextSlot: r.nextSlot}
	st.Snap.Keys = IndexSnapshot{}
	require.NoError(t, r.index.each(func(k string, f keyFacts) error {
		st.Keys[k] = r.indexEntry(f)
		return nil
	}))
	for _, o := range r.open {
		st.Open = append(st.Open, slices.Sorted(slices.Values(o)))
	}
	less := func(a, b paxos.Instance) int {
		if a.Replica != b.Replica {
			return int(a.Replica) - int(b.Replica)
		}
		return int(a.Slot) - int(b.Slot)
	}
	for id := range r.pendingExec {
		st.PendingExec = append(st.PendingExec, id)
	}
	for id := range r.uncommitted {
		st.Uncommitted = append(st.Uncommitted, id)
	}
	slices.SortFunc(st.PendingExec, less)
	slices.SortFunc(st.Uncommitted, less)
	return st
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := paxos.Encode(v)
	require.NoError(t, err)
	d, err := paxos.Decode(b)
	require.NoError(t, err)
	return d
}

// A routine snapshot is a background one: its Ready keeps its records,
// and restoring them after the snapshot gives the state the snapshot alone
// gives. Three replicas run commands on four keys with messages delivered
// in a random order, some dropped (so recoveries run too), a snapshot
// every executed instance; every routine snapshot is checked.
func TestRoutineSnapshotKeepsItsRecords(t *testing.T) {
	const n = 3
	cfg := func(id int) paxos.Config {
		return paxos.Config{ID: paxos.NodeID(id), N: n, SnapshotEvery: 1}
	}
	rs := make([]*Replica, n)
	for i := range rs {
		r, err := NewReplica(cfg(i))
		require.NoError(t, err)
		rs[i] = r
	}
	rng := rand.New(rand.NewPCG(11, 3))
	var net []paxos.Message
	checked, withRecords := 0, 0
	drain := func(i int) {
		rd := rs[i].Ready()
		net = append(net, rd.Messages...)
		snap, ok := rd.Snapshot.(SnapshotRecord)
		if !ok {
			return
		}
		require.True(t, snap.BackgroundSnapshot(), "replica %d: a routine snapshot is a background one", i)
		checked++
		if len(rd.Persist) > 0 {
			withRecords++
		}
		without := restoreState(t, cfg(i), paxos.Persisted{Snapshot: snap})
		with := restoreState(t, cfg(i), paxos.Persisted{Snapshot: snap, Records: slices.Clone(rd.Persist)})
		require.Equal(t, without, with, "replica %d: its Ready's %d records replayed after the snapshot", i, len(rd.Persist))
		// As the live runtime restores them: decoded.
		dsnap, drecs := roundTrip(t, snap), make([]any, len(rd.Persist))
		for j, rec := range rd.Persist {
			drecs[j] = roundTrip(t, rec)
		}
		without = restoreState(t, cfg(i), paxos.Persisted{Snapshot: dsnap})
		with = restoreState(t, cfg(i), paxos.Persisted{Snapshot: dsnap, Records: drecs})
		require.Equal(t, without, with, "replica %d: its Ready's %d records replayed after the snapshot, decoded", i, len(rd.Persist))
	}
	seq := uint64(0)
	for step := 0; step < 6000; step++ {
		switch x := rng.IntN(100); {
		case x < 10 && step < 5000:
			seq++
			op := paxos.OpPut
			if rng.IntN(4) == 0 {
				op = paxos.OpGet
			}
			rs[rng.IntN(n)].Propose(paxos.Command{Client: 1 + rng.Uint64N(3), Seq: seq, Op: op,
				Key: fmt.Sprintf("k%d", rng.IntN(4)), Value: "v"})
		case x < 25:
			rs[rng.IntN(n)].Tick()
		case len(net) > 0:
			j := rng.IntN(len(net))
			m := net[j]
			net = slices.Delete(net, j, j+1)
			if rng.IntN(12) > 0 {
				require.NoError(t, rs[m.To].Step(m))
			}
		}
		drain(rng.IntN(n))
	}
	for i, r := range rs {
		t.Logf("replica %d: %d recoveries, collected up to %v, executed up to %v", i, r.stats.Recoveries, r.gcUpTo, r.execUpTo)
	}
	t.Logf("%d routine snapshots checked, %d with records kept", checked, withRecords)
	assert.Greater(t, checked, 50)
	assert.Greater(t, withRecords, 20)
}
