package storage_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
)

// gatedSnap is a background snapshot whose encoding waits for gate to
// close, so a test can append while it is being written.
type gatedSnap struct {
	Upto int
}

var gate = make(chan struct{})

func (gatedSnap) BackgroundSnapshot() bool { return true }

func (s gatedSnap) EncodeMsgpack(e *msgpack.Encoder) error {
	<-gate
	return e.EncodeInt(int64(s.Upto))
}

func (s *gatedSnap) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeInt()
	s.Upto = n
	return err
}

func init() { paxos.Register("storage_test.gatedSnap", gatedSnap{}) }

// A background snapshot lets Appends go on while it is written; until it
// is installed the old snapshot and every record stay, and once installed
// it replaces the records before it, those appended meanwhile following
// it. One that arrives while another is written is skipped.
func TestWALBackgroundSnapshot(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	require.NoError(t, w.Append(nil, recs(0, 3)))
	require.NoError(t, w.Append(gatedSnap{Upto: 3}, recs(3, 5)), "returns with its records durable, the snapshot still being written")
	require.NoError(t, w.Append(nil, recs(5, 7)))
	require.NoError(t, w.Append(gatedSnap{Upto: 7}, nil), "skipped: another is being written")
	p, err := w.Load()
	require.NoError(t, err)
	assert.Nil(t, p.Snapshot, "not installed yet")
	assert.Equal(t, recs(0, 7), p.Records)
	close(gate)
	require.NoError(t, w.Close(), "Close waits for the snapshot")
	assert.Equal(t, uint64(1), w.Stats().Snapshots)

	w = open(t, dir)
	p, err = w.Load()
	require.NoError(t, err)
	assert.Equal(t, gatedSnap{Upto: 3}, p.Snapshot)
	assert.Equal(t, recs(3, 7), p.Records, "the records of its Append and after")
	require.NoError(t, w.Append(nil, recs(7, 8)))
	require.NoError(t, w.Close())
	logs, _ := filepath.Glob(filepath.Join(dir, "wal-*"))
	assert.Len(t, logs, 1, "one log, no temporary file")

	// A crash between installing the snapshot and naming its log leaves
	// the log under its temporary name (and the superseded log): the
	// next open names it and replays it.
	require.NoError(t, os.Rename(logs[0], logs[0]+".tmp"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wal-0000000000000000.log"), nil, 0o644))
	w = open(t, dir)
	p, err = w.Load()
	require.NoError(t, err)
	assert.Equal(t, gatedSnap{Upto: 3}, p.Snapshot)
	assert.Equal(t, recs(3, 8), p.Records)
	require.NoError(t, w.Close())
	logs, _ = filepath.Glob(filepath.Join(dir, "wal-*"))
	assert.Equal(t, []string{filepath.Join(dir, "wal-0000000000000001.log")}, logs)
}

// A crash before the background snapshot was installed leaves the old
// state; its temporary files are removed at open.
func TestWALBackgroundSnapshotCrashBeforeInstall(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	require.NoError(t, w.Append(nil, recs(0, 3)))
	require.NoError(t, w.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "snapshot.tmp"), []byte("a whole snapshot"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wal-0000000000000001.log.tmp"), []byte("its records"), 0o644))
	w = open(t, dir)
	defer w.Close()
	p, err := w.Load()
	require.NoError(t, err)
	assert.Nil(t, p.Snapshot)
	assert.Equal(t, recs(0, 3), p.Records)
	left, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	assert.Empty(t, left)
}
