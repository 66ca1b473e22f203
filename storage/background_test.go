package storage_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/storage"
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

// In a WAL without fsync, a background snapshot lets Appends go on while it is written; until it
// is installed the old snapshot and every record stay, and once installed
// it replaces the records before it, those appended meanwhile following
// it. One that arrives while another is written is skipped.
func TestWALBackgroundSnapshot(t *testing.T) {
	dir := t.TempDir()
	open := func(t *testing.T, dir string) *storage.WAL {
		w, err := storage.OpenWAL(dir, storage.WALOptions{Logger: quiet(), NoSync: true})
		require.NoError(t, err)
		return w
	}
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
	// Two more in one run of the WAL, each installed before the next.
	for i, upto := range []int{8, 8} {
		require.NoError(t, w.Append(gatedSnap{Upto: upto}, nil))
		require.Eventually(t, func() bool { return w.Stats().Snapshots == uint64(i+1) }, 10*time.Second, time.Millisecond)
	}
	require.NoError(t, w.Append(nil, recs(3, 8)))
	require.NoError(t, w.Close())
	logs, _ := filepath.Glob(filepath.Join(dir, "wal-*"))
	assert.Len(t, logs, 1, "one log, no temporary file")

	// A crash between installing the snapshot and naming its log leaves
	// the log under its temporary name (and the superseded log): the
	// next open names it and replays it.
	require.NoError(t, os.Rename(logs[0], logs[0]+".tmp"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wal-0000000000000002.log"), nil, 0o644))
	w = open(t, dir)
	p, err = w.Load()
	require.NoError(t, err)
	assert.Equal(t, gatedSnap{Upto: 8}, p.Snapshot)
	assert.Equal(t, recs(3, 8), p.Records)
	require.NoError(t, w.Close())
	logs, _ = filepath.Glob(filepath.Join(dir, "wal-*"))
	assert.Equal(t, []string{filepath.Join(dir, "wal-0000000000000003.log")}, logs)
}

// kvSnap and kvBg are snapshots of n 16-byte values, the second a
// background one.
type kvSnap struct{ KV map[string]string }

type kvBg struct{ KV map[string]string }

func (kvBg) BackgroundSnapshot() bool { return true }

func init() {
	paxos.Register("storage_test.kvSnap", kvSnap{})
	paxos.Register("storage_test.kvBg", kvBg{})
}

// BenchmarkWALAppendWithSnapshot: how long the Append that carries a
// snapshot of 200,000 keys (and one record) takes to return, that is how
// long the messages of its Ready wait, written in place (sync) and in
// the background (background). Without fsync, as `paxos bench --no-sync`.
func BenchmarkWALAppendWithSnapshot(b *testing.B) {
	kv := make(map[string]string, 200_000)
	for i := range 200_000 {
		kv[fmt.Sprintf("key-%07d", i)] = "0123456789abcdef"
	}
	for _, bc := range []struct {
		name string
		snap any
	}{{"sync", kvSnap{KV: kv}}, {"background", kvBg{KV: kv}}} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := storage.OpenWAL(b.TempDir(), storage.WALOptions{Logger: quiet(), NoSync: true})
			require.NoError(b, err)
			defer w.Close()
			var worst time.Duration
			for b.Loop() {
				t0 := time.Now()
				require.NoError(b, w.Append(bc.snap, recs(0, 1)))
				worst = max(worst, time.Since(t0))
				b.StopTimer()
				require.NoError(b, w.Close()) // waits for a background snapshot
				w, err = storage.OpenWAL(w.Dir(), storage.WALOptions{Logger: quiet(), NoSync: true})
				require.NoError(b, err)
				b.StartTimer()
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
		})
	}
}

// gatedSnap2 is a background snapshot of the records before Upto.
type gatedSnap2 struct{ Upto int }

func (gatedSnap2) BackgroundSnapshot() bool { return true }

func init() { paxos.Register("storage_test.gatedSnap2", gatedSnap2{}) }

// The records appended while a background snapshot's log is being copied
// (after the copy began, before the install) are in the new log too: the
// install copies what the first pass did not, under the lock.
func TestWALBackgroundSnapshotAppendDuringCopy(t *testing.T) {
	dir := t.TempDir()
	w, err := storage.OpenWAL(dir, storage.WALOptions{Logger: quiet(), NoSync: true})
	require.NoError(t, err)
	appended := make(chan error, 1)
	storage.SetAfterCopyTail(func() { appended <- w.Append(nil, recs(5, 9)) })
	t.Cleanup(func() { storage.SetAfterCopyTail(nil) })
	require.NoError(t, w.Append(nil, recs(0, 3)))
	require.NoError(t, w.Append(gatedSnap2{Upto: 3}, recs(3, 5)))
	require.NoError(t, <-appended)
	require.NoError(t, w.Close(), "Close waits for the snapshot and the removal of the old log")
	assert.Equal(t, uint64(1), w.Stats().Snapshots)
	logs, _ := filepath.Glob(filepath.Join(dir, "wal-*"))
	assert.Len(t, logs, 1, "the superseded log is removed, no temporary file")

	w, err = storage.OpenWAL(dir, storage.WALOptions{Logger: quiet(), NoSync: true})
	require.NoError(t, err)
	p, err := w.Load()
	require.NoError(t, err)
	assert.Equal(t, gatedSnap2{Upto: 3}, p.Snapshot)
	assert.Equal(t, recs(3, 9), p.Records, "its Append's records, then those appended during the copy")
	require.NoError(t, w.Append(nil, recs(9, 10)), "appends after the copied records")
	require.NoError(t, w.Close())
	w, err = storage.OpenWAL(dir, storage.WALOptions{Logger: quiet(), NoSync: true})
	require.NoError(t, err)
	p, err = w.Load()
	require.NoError(t, err)
	assert.Equal(t, recs(3, 10), p.Records)
	require.NoError(t, w.Close())
}
