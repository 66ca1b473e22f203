package node

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

func TestWitnessRules(t *testing.T) {
	dir := t.TempDir()
	lg := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	wal, err := storage.OpenWAL(dir, storage.WALOptions{Logger: lg})
	require.NoError(t, err)
	defer wal.Close()
	w, err := newWitness(0, dir, "me", wal, false, lg)
	require.NoError(t, err)
	self := w.Self()
	assert.Equal(t, "me", self.Incarnation)
	assert.Positive(t, self.Progress)

	info := func(inc, run string, pos uint64, reb bool) transport.WitnessInfo {
		return transport.WitnessInfo{Incarnation: inc, Run: run, Progress: pos, Rebuilding: reb}
	}
	require.NoError(t, w.Check(1, info("A", "r1", 5, false), false), "a peer seen for the first time")
	require.NoError(t, w.Check(1, info("A", "r1", 9, false), true), "progress within a run")
	require.NoError(t, w.Check(1, info("A", "r1", 9, false), false), "a reconnection of the same run")
	require.NoError(t, w.Check(1, info("A", "r2", 10, false), false), "a restart announces more")
	require.NoError(t, w.Check(1, info("A", "r1", 3, false), true), "a late announcement of an old run is ignored")

	// A restart that announces no more than was seen went back.
	err = w.Check(1, info("A", "r3", 10, false), false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--rebuild")
	err = w.Check(1, info("A", "r4", 1000, false), false)
	assert.Error(t, err, "an incarnation once refused stays refused")

	// Another incarnation: refused unless rebuilding.
	err = w.Check(1, info("B", "r5", 1, false), false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "incarnation")
	require.NoError(t, w.Check(1, info("B", "r5", 1, true), false))
	require.NoError(t, w.Check(1, info("B", "r6", 2, false), false), "the rebuilt incarnation restarts normally")

	// Within a run, progress never goes back.
	require.NoError(t, w.Check(2, info("C", "r1", 7, false), false))
	assert.Error(t, w.Check(2, info("C", "r1", 6, false), true))

	// What was seen survives a restart of this replica.
	w.save()
	w2, err := newWitness(0, dir, "me", wal, false, lg)
	require.NoError(t, err)
	assert.Error(t, w2.Check(1, info("B", "r7", 2, false), false))
	assert.Error(t, w2.Check(2, info("C", "r9", 100, false), false), "replica 2 stays refused")
}
