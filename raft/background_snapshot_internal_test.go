package raft

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/storage"
)

// restoredState is what a replica restored from persisted state holds:
// its raft log above the snapshot, HardState, snapshot and applied
// indexes, store and sessions, rebuild state.
type restoredState struct {
	Entries   []Entry
	HardState HardStateRecord
	Snap      uint64
	Applied   uint64
	Data      map[string]string
	Sessions  []byte
	NoVote    uint64
	Rebuild   bool
}

func restoreState(t *testing.T, cfg paxos.Config, p paxos.Persisted) restoredState {
	t.Helper()
	cfg.Restore = &p
	r, err := newReplica(cfg, bugs{})
	require.NoError(t, err)
	st := restoredState{Snap: r.snapIndex, Applied: r.applied, NoVote: r.noVote, Rebuild: r.rb != nil}
	st.Entries = logAbove(t, r, r.snapIndex)
	hs, _, err := r.storage.InitialState()
	require.NoError(t, err)
	st.HardState = hardState(hs)
	kvs := r.store.Snapshot()
	st.Data, st.Sessions = kvs.Map(), kvs.Sessions
	return st
}

// logAbove returns the entries of r's raft storage above index.
func logAbove(t *testing.T, r *Replica, index uint64) []Entry {
	t.Helper()
	last, err := r.storage.LastIndex()
	require.NoError(t, err)
	if last <= index {
		return nil
	}
	ents, err := r.storage.Entries(index+1, last+1, ^uint64(0))
	require.NoError(t, err)
	out := make([]Entry, len(ents))
	for i, e := range ents {
		out[i] = fromPB(e)
	}
	return out
}

// randomRun steps three replicas (Config.SnapshotEvery 1) through a run
// of commands on a few keys with messages delivered in a random order,
// some dropped, and now and then one replica cut off for a while (so
// leaders change, and new leaders overwrite the entries an old one
// appended alone). It calls ready with every Ready a replica returns, and
// whether an append had replaced entries of its log when it was asked for
// it.
func randomRun(t *testing.T, steps int, ready func(i int, r *Replica, replaced bool, rd paxos.Ready)) {
	t.Helper()
	const n = 3
	rs := make([]*Replica, n)
	for i := range rs {
		r, err := newReplica(randomCfg(i), bugs{})
		require.NoError(t, err)
		rs[i] = r
	}
	// Seed 14 has a new leader overwrite entries three times; seed 11 no
	// longer did once the adapter reported each snapshot it sent.
	rng := rand.New(rand.NewPCG(14, 3))
	var net []paxos.Message
	seq := uint64(0)
	cut := -1 // a replica whose messages are all dropped for a while
	for step := 0; step < steps; step++ {
		if step%500 == 0 {
			cut = -1
			if rng.IntN(2) == 0 {
				cut = rng.IntN(n)
			}
		}
		switch x := rng.IntN(100); {
		case x < 12 && step < steps-steps/20:
			seq++
			op := paxos.OpPut
			if rng.IntN(4) == 0 {
				op = paxos.OpGet
			}
			rs[rng.IntN(n)].Propose(paxos.Command{Client: 1 + rng.Uint64N(3), Seq: seq, Op: op,
				Key: fmt.Sprintf("k%d", rng.IntN(4)), Value: fmt.Sprint(seq)})
		case x < 30:
			rs[rng.IntN(n)].Tick()
		default:
			// Deliver a few messages, each picked among the oldest
			// (more when many wait, so that the backlog stays short).
			for k := 1 + len(net)/16; k > 0 && len(net) > 0; k-- {
				j := rng.IntN(min(len(net), 8))
				m := net[j]
				net = slices.Delete(net, j, j+1)
				if rng.IntN(10) > 0 && int(m.From) != cut && int(m.To) != cut {
					require.NoError(t, rs[m.To].Step(m))
				}
			}
		}
		i := rng.IntN(n)
		replaced := rs[i].replaced
		rd := rs[i].Ready()
		net = append(net, rd.Messages...)
		ready(i, rs[i], replaced, rd)
	}
}

func randomCfg(id int) paxos.Config {
	return paxos.Config{ID: paxos.NodeID(id), N: 3, SnapshotEvery: 1, Seed: 7}
}

// A routine snapshot is a background one unless an append replaced log
// entries since the last snapshot written in place: its Ready keeps its
// records, and restoring them after the snapshot gives the state the
// snapshot alone gives. Every snapshot of a randomRun is checked, as a
// storage would restore it: the records of every Ready since the last
// snapshot written in place replayed after a background one (a node
// persisting those Readys in one Append writes them all after it), in
// memory and decoded. A crash before a background snapshot is on disk
// restores the snapshot before it and every record since: that gives the
// same log above the snapshot's index and the same HardState.
func TestRoutineSnapshotKeepsItsRecords(t *testing.T) {
	// inPlace[i] is what replica i's storage holds while none of its
	// background snapshots is written: the last snapshot written in place
	// (none at first) and every record since.
	inPlace := make([]paxos.Persisted, 3)
	background, withRecords, inPlaceSnaps, replacedSnaps := 0, 0, 0, 0
	randomRun(t, 20000, func(i int, _ *Replica, replaced bool, rd paxos.Ready) {
		snap, ok := rd.Snapshot.(SnapshotRecord)
		if !ok {
			inPlace[i].Records = append(inPlace[i].Records, rd.Persist...)
			return
		}
		if !snap.BackgroundSnapshot() {
			assert.Empty(t, rd.Persist, "replica %d: a snapshot written in place holds its Ready's records", i)
			inPlace[i] = paxos.Persisted{Snapshot: snap}
			inPlaceSnaps++
			if replaced {
				replacedSnaps++
			}
			return
		}
		require.False(t, replaced, "replica %d: a snapshot after an append replaced entries is written in place", i)
		background++
		if len(rd.Persist) > 0 {
			withRecords++
		}
		inPlace[i].Records = append(inPlace[i].Records, rd.Persist...)
		kept := slices.Clone(inPlace[i].Records)
		without := restoreState(t, randomCfg(i), paxos.Persisted{Snapshot: snap})
		with := restoreState(t, randomCfg(i), paxos.Persisted{Snapshot: snap, Records: kept})
		require.Equal(t, without, with, "replica %d: %d records replayed after the snapshot at %d", i, len(kept), snap.Index)
		// Decoded, as a storage loads them.
		m := storage.NewMemory()
		require.NoError(t, m.Append(snap, kept))
		loaded, err := m.Load()
		require.NoError(t, err)
		with = restoreState(t, randomCfg(i), loaded)
		require.Equal(t, without, with, "replica %d: %d records replayed after the snapshot at %d, decoded", i, len(kept), snap.Index)

		p := inPlace[i]
		p.Records = slices.Clone(p.Records)
		c := randomCfg(i)
		c.Restore = &p
		old, err := newReplica(c, bugs{})
		require.NoError(t, err)
		assert.Equal(t, without.Entries, logAbove(t, old, snap.Index), "replica %d: the log above %d after a crash before the snapshot is written", i, snap.Index)
		hs, _, err := old.storage.InitialState()
		require.NoError(t, err)
		assert.Equal(t, without.HardState, hardState(hs), "replica %d: the HardState after a crash before the snapshot is written", i)
	})
	t.Logf("%d background snapshots checked (%d with records of their own Ready), %d written in place (%d after an append replaced entries)",
		background, withRecords, inPlaceSnaps, replacedSnaps)
	assert.Greater(t, background, 400)
	assert.Greater(t, withRecords, 100)
	assert.Positive(t, replacedSnaps, "no new leader overwrote entries: the run does not exercise replaced")
}

// Through a WAL without fsync, which writes background snapshots on a
// goroutine of its own (some skipped while another is written): replica
// 0's Readys are appended to one, which is closed and opened again every
// 1000 steps; restored from what it loads, and once its Ready has applied
// what the restored HardState commits, a replica holds the live one's
// log, HardState, applied index and store.
func TestBackgroundSnapshotsThroughWAL(t *testing.T) {
	dir := t.TempDir()
	open := func() *storage.WAL {
		w, err := storage.OpenWAL(dir, storage.WALOptions{NoSync: true, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		return w
	}
	w := open()
	readys, checks := 0, 0
	var snaps uint64
	randomRun(t, 12000, func(i int, live *Replica, _ bool, rd paxos.Ready) {
		if i != 0 {
			return
		}
		require.NoError(t, w.Append(rd.Snapshot, rd.Persist))
		if readys++; readys%330 != 0 {
			return
		}
		snaps += w.Stats().Snapshots
		require.NoError(t, w.Close())
		w = open()
		p, err := w.Load()
		require.NoError(t, err)
		c := randomCfg(0)
		c.Restore = &p
		r, err := newReplica(c, bugs{})
		require.NoError(t, err)
		r.Ready()
		lhs, _, err := live.storage.InitialState()
		require.NoError(t, err)
		rhs, _, err := r.storage.InitialState()
		require.NoError(t, err)
		require.Equal(t, hardState(lhs), hardState(rhs))
		require.Equal(t, live.applied, r.applied)
		lf, err := live.storage.FirstIndex()
		require.NoError(t, err)
		rf, err := r.storage.FirstIndex()
		require.NoError(t, err)
		from := max(lf, rf) - 1 // what both still hold
		require.Equal(t, logAbove(t, live, from), logAbove(t, r, from))
		require.Equal(t, live.store.Snapshot().Map(), r.store.Snapshot().Map())
		checks++
	})
	require.NoError(t, w.Close())
	t.Logf("%d restores checked, %d snapshots written", checks, snaps)
	assert.Greater(t, checks, 5)
	assert.Greater(t, snaps, uint64(5), "each reopening waits for the snapshot being written")
}

// A snapshot installed from a leader holds state no record holds: it is
// written in place, its Ready's records folded into it.
func TestInstalledSnapshotWrittenInPlace(t *testing.T) {
	r, err := newReplica(paxos.Config{ID: 1, N: 3, SnapshotEvery: 1}, bugs{})
	require.NoError(t, err)
	r.snapDue, r.snapTaken = true, true
	r.rd.Persist = []any{HardStateRecord{Term: 1}}
	rd := r.Ready()
	rec, ok := rd.Snapshot.(SnapshotRecord)
	require.True(t, ok)
	assert.True(t, rec.BackgroundSnapshot(), "a snapshot the replica took")
	assert.NotEmpty(t, rd.Persist)

	for name, set := range map[string]func(*Replica){
		"installed":  func(r *Replica) { r.snapDue, r.snapTaken = true, false },
		"replaced":   func(r *Replica) { r.snapDue, r.snapTaken, r.replaced = true, true, true },
		"rebuilding": func(r *Replica) { r.snapDue, r.snapTaken, r.rb = true, true, &rebuild{} },
		"rebuilt": func(r *Replica) {
			r.snapDue, r.snapTaken, r.rd.Persist = true, true, []any{RebuildRecord{Done: true, Term: 1}}
		},
	} {
		r, err := newReplica(paxos.Config{ID: 1, N: 3, SnapshotEvery: 1}, bugs{})
		require.NoError(t, err, name)
		r.rd.Persist = append(r.rd.Persist, HardStateRecord{Term: 1})
		set(r)
		rd := r.Ready()
		rec, ok := rd.Snapshot.(SnapshotRecord)
		require.True(t, ok, name)
		assert.False(t, rec.BackgroundSnapshot(), name)
		assert.Empty(t, rd.Persist, name)
		assert.False(t, r.replaced, "%s: a snapshot written in place clears replaced", name)
	}
}

// Why a snapshot taken after an append replaced entries is written in
// place: replayed after the snapshot, the records of its Ready would not
// give the snapshot's log. Here a follower appended an old leader's
// entries 5..12 (term 2); a new leader's entries 6..7 (term 3) replaced
// them from 6 on, cutting 8..12 off; 7 committed and applied, and the
// snapshot at 7 holds no entry above it. Restore skips the second append
// (wholly at or below the snapshot's index), so the first one's 8..12
// would come back.
func TestReplacedEntriesWouldNotReplay(t *testing.T) {
	ents := func(from, to, term uint64) []Entry {
		var out []Entry
		for i := from; i <= to; i++ {
			out = append(out, Entry{Term: term, Index: i})
		}
		return out
	}
	snap := SnapshotRecord{HardState: HardStateRecord{Term: 3, Vote: 2, Commit: 7}, Index: 7, Term: 3, Voters: []uint64{1, 2, 3}}
	kept := []any{EntriesRecord{Entries: ents(5, 12, 2)}, EntriesRecord{Entries: ents(6, 7, 3)}, HardStateRecord{Term: 3, Vote: 2, Commit: 7}}
	cfg := paxos.Config{ID: 1, N: 3}
	without := restoreState(t, cfg, paxos.Persisted{Snapshot: snap})
	with := restoreState(t, cfg, paxos.Persisted{Snapshot: snap, Records: kept})
	assert.Empty(t, without.Entries)
	assert.Equal(t, ents(8, 12, 2), with.Entries, "the cut-off entries come back")
}
