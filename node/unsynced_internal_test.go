package node

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/storage"
)

// unsyncedRecorder is an appendRecorder that says it skips fsync, as a
// WAL opened with NoSync does.
type unsyncedRecorder struct{ appendRecorder }

func (*unsyncedRecorder) Unsynced() bool { return true }

// TestUnsyncedStoragePersistsOnTheLoop: with a storage that skips fsync
// and nothing in flight, a Ready's records are appended and its messages
// sent before carryOut returns, without going through the persister; one
// that comes while a Ready is in flight still waits behind it, so the
// order of records and messages is what the persister gives.
func TestUnsyncedStoragePersistsOnTheLoop(t *testing.T) {
	g := newPromptRig()
	st := &unsyncedRecorder{}
	g.n.cfg.Storage, g.n.unsynced = st, unsyncedStorage(st)
	require.True(t, g.n.unsynced)

	g.propose(t, 1)
	assert.Equal(t, []any{plainBody{"accept 1"}}, g.tr.take(), "sent at once")
	assert.Equal(t, [][]any{{uint64(1)}}, st.recs, "appended before it was sent")
	assert.Empty(t, g.n.toDisk, "went through the persister")
	assert.Zero(t, g.n.inflight)

	// A snapshot written in place still goes to the persister; what
	// follows it waits.
	require.NoError(t, g.n.carryOut(&paxos.Ready{Snapshot: syncSnap("s"), Messages: []paxos.Message{{From: 0, To: 1, Body: plainBody{"after snapshot"}}}}))
	g.propose(t, 2)
	assert.Empty(t, g.tr.sent, "overtook a Ready in flight")
	assert.Len(t, st.recs, 1)
	g.disk(t, -1)
	assert.Equal(t, []any{plainBody{"after snapshot"}, plainBody{"accept 2"}}, g.tr.take())
	assert.Equal(t, [][]any{{uint64(1)}, nil, {uint64(2)}}, st.recs)

	g.propose(t, 3) // nothing in flight again
	assert.Equal(t, []any{plainBody{"accept 3"}}, g.tr.take())
}

// A WAL says it skips fsync exactly when opened with NoSync; the
// in-memory recorder of the other tests does not say so.
func TestUnsyncedStorage(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		w, err := storage.OpenWAL(filepath.Join(t.TempDir(), "wal"), storage.WALOptions{NoSync: noSync})
		require.NoError(t, err)
		assert.Equal(t, noSync, unsyncedStorage(w), "NoSync %v", noSync)
		require.NoError(t, w.Close())
	}
	assert.False(t, unsyncedStorage(&appendRecorder{}))
}
