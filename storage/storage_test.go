package storage_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/storage"
)

type rec struct {
	N    int
	Data string
}

type snap struct {
	Upto int
}

func init() {
	paxos.Register("storage_test.rec", rec{})
	paxos.Register("storage_test.snap", snap{})
}

func recs(from, to int) []any {
	var out []any
	for i := from; i < to; i++ {
		out = append(out, rec{N: i, Data: strings.Repeat("x", i%7)})
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

func open(t *testing.T, dir string) *storage.WAL {
	t.Helper()
	w, err := storage.OpenWAL(dir, storage.WALOptions{Logger: quiet()})
	require.NoError(t, err)
	return w
}

func logFile(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	require.NoError(t, err)
	require.Len(t, m, 1)
	return m[0]
}

func TestMemoryRoundTrip(t *testing.T) {
	m := storage.NewMemory()
	require.NoError(t, m.Append(nil, recs(0, 3)))
	require.NoError(t, m.Append(snap{Upto: 3}, recs(3, 5)))
	require.NoError(t, m.Append(nil, recs(5, 6)))
	p, err := m.Load()
	require.NoError(t, err)
	assert.Equal(t, snap{Upto: 3}, p.Snapshot)
	assert.Equal(t, recs(3, 6), p.Records)
	r := m.Reopen()
	require.NoError(t, m.Close())
	assert.ErrorIs(t, m.Append(nil, recs(0, 1)), storage.ErrClosed)
	p2, err := r.Load()
	require.NoError(t, err)
	assert.Equal(t, p, p2)
	assert.Error(t, r.Append(nil, []any{struct{ X int }{1}}), "unregistered type must fail")
}

func TestWALRoundTripAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing", "data") // created on open
	w := open(t, dir)
	p, err := w.Load()
	require.NoError(t, err)
	assert.True(t, storage.Empty(p))
	require.NoError(t, w.Append(nil, recs(0, 10)))
	require.NoError(t, w.Append(nil, recs(10, 12)))
	require.NoError(t, w.Close())

	w = open(t, dir)
	p, err = w.Load()
	require.NoError(t, err)
	assert.Nil(t, p.Snapshot)
	assert.Equal(t, recs(0, 12), p.Records)
	require.NoError(t, w.Close())
}

func TestWALSnapshotReplay(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	require.NoError(t, w.Append(nil, recs(0, 5)))
	require.NoError(t, w.Append(snap{Upto: 5}, recs(5, 7)))
	require.NoError(t, w.Append(nil, recs(7, 9)))
	require.NoError(t, w.Close())

	w = open(t, dir)
	p, err := w.Load()
	require.NoError(t, err)
	assert.Equal(t, snap{Upto: 5}, p.Snapshot)
	assert.Equal(t, recs(5, 9), p.Records)
	// A second snapshot supersedes the first and its log.
	require.NoError(t, w.Append(snap{Upto: 9}, nil))
	require.NoError(t, w.Append(nil, recs(9, 10)))
	require.NoError(t, w.Close())

	w = open(t, dir)
	defer w.Close()
	p, err = w.Load()
	require.NoError(t, err)
	assert.Equal(t, snap{Upto: 9}, p.Snapshot)
	assert.Equal(t, recs(9, 10), p.Records)
	logs, _ := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	assert.Len(t, logs, 1, "old logs are removed")
}

// The WAL reports every fsync and snapshot to its hooks and counts what it
// wrote, for metrics.
func TestWALStatsAndHooks(t *testing.T) {
	var syncs, snaps, snapBytes int
	w, err := storage.OpenWAL(t.TempDir(), storage.WALOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnSync:     func(d time.Duration) { syncs++ },
		OnSnapshot: func(n int, d time.Duration) { snaps++; snapBytes += n }})
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.Append(nil, recs(0, 5)))
	require.NoError(t, w.Append(snap{Upto: 5}, recs(5, 7)))
	st := w.Stats()
	assert.Equal(t, uint64(2), st.Syncs)
	assert.Equal(t, 2, syncs)
	assert.Positive(t, st.Bytes)
	assert.Equal(t, uint64(1), st.Snapshots)
	assert.Equal(t, 1, snaps)
	assert.Equal(t, uint64(snapBytes), st.SnapshotBytes)
	assert.Positive(t, snapBytes)
}

func TestWALCrashDuringSnapshotLeavesOldState(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	require.NoError(t, w.Append(nil, recs(0, 3)))
	require.NoError(t, w.Close())
	// A crash after writing the temporary snapshot but before the rename
	// (for a background snapshot, with the records appended meanwhile in
	// the next generation's temporary log).
	require.NoError(t, os.WriteFile(filepath.Join(dir, "snapshot.tmp"), []byte("half a snapsh"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wal-0000000000000001.log.tmp"), []byte("its records"), 0o644))
	w = open(t, dir)
	defer w.Close()
	p, err := w.Load()
	require.NoError(t, err)
	assert.Nil(t, p.Snapshot)
	assert.Equal(t, recs(0, 3), p.Records)
	left, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	assert.Empty(t, left, "leftover temporary snapshot and log removed")
}

func markFile(dir string) string { return filepath.Join(dir, "wal.mark") }

func TestWALTornTailTruncated(t *testing.T) {
	for _, cut := range []int{1, 5, 11, 12, 13, 20} {
		t.Run(fmt.Sprint("cut", cut), func(t *testing.T) {
			dir := t.TempDir()
			w := open(t, dir)
			require.NoError(t, w.Append(nil, recs(0, 4)))
			require.NoError(t, w.Close())
			path := logFile(t, dir)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			full := len(data)
			mark, err := os.ReadFile(markFile(dir))
			require.NoError(t, err)
			// Append a fifth record and cut it short, as a crash in the
			// middle of its write would: the mark, written only after
			// the fsync, still says four records.
			w = open(t, dir)
			require.NoError(t, w.Append(nil, []any{rec{N: 99, Data: strings.Repeat("y", 40)}}))
			require.NoError(t, w.Close())
			data, err = os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, data[:full+cut], 0o644))
			require.NoError(t, os.WriteFile(markFile(dir), mark, 0o644))

			var logs bytes.Buffer
			w, err = storage.OpenWAL(dir, storage.WALOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			require.NoError(t, err)
			p, err := w.Load()
			require.NoError(t, err)
			assert.Equal(t, recs(0, 4), p.Records)
			assert.Contains(t, logs.String(), "torn")
			// The log continues cleanly after the truncation.
			require.NoError(t, w.Append(nil, recs(4, 5)))
			require.NoError(t, w.Close())
			w = open(t, dir)
			defer w.Close()
			p, err = w.Load()
			require.NoError(t, err)
			assert.Equal(t, recs(0, 5), p.Records)
		})
	}
}

// A log cut anywhere before its last fsynced position (mid-record or at a
// record boundary) lost acknowledged records: refused, and left as it was.
func TestWALCutBeforeDurablePositionRefused(t *testing.T) {
	for _, cut := range []string{"mid-record", "boundary", "empty"} {
		t.Run(cut, func(t *testing.T) {
			dir := t.TempDir()
			w := open(t, dir)
			require.NoError(t, w.Append(nil, recs(0, 2)))
			require.NoError(t, w.Close())
			path := logFile(t, dir)
			two, err := os.ReadFile(path)
			require.NoError(t, err)
			w = open(t, dir)
			require.NoError(t, w.Append(nil, recs(2, 4)))
			require.NoError(t, w.Close())
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			n := map[string]int{"mid-record": len(two) + 7, "boundary": len(two), "empty": 0}[cut]
			require.NoError(t, os.WriteFile(path, data[:n], 0o644))

			_, err = storage.OpenWAL(dir, storage.WALOptions{Logger: quiet()})
			require.Error(t, err)
			assert.ErrorIs(t, err, storage.ErrLost)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "--rebuild")
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, data[:n], after, "a refused log is left untouched")
		})
	}
}

func TestWALFinalRecordBadChecksumRefused(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	require.NoError(t, w.Append(nil, recs(0, 3)))
	require.NoError(t, w.Close())
	path := logFile(t, dir)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	// Flip a bit in the last byte (the final record's payload): the record
	// is complete, so it is damage, not a torn write.
	data[len(data)-1] ^= 0x10
	require.NoError(t, os.WriteFile(path, data, 0o644))
	_, err = storage.OpenWAL(dir, storage.WALOptions{Logger: quiet()})
	require.Error(t, err)
	assert.ErrorIs(t, err, storage.ErrCorrupt)
	assert.Contains(t, err.Error(), "final record")
	assert.Contains(t, err.Error(), "--rebuild")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, data, after, "the damaged log is left untouched")
}

func TestWALZeroTail(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	require.NoError(t, w.Append(nil, recs(0, 2)))
	require.NoError(t, w.Close())
	path := logFile(t, dir)
	two, err := os.ReadFile(path)
	require.NoError(t, err)
	w = open(t, dir)
	require.NoError(t, w.Append(nil, recs(2, 3)))
	require.NoError(t, w.Close())
	data, err := os.ReadFile(path)
	require.NoError(t, err)

	// Zero-filled space after the durable position (allocated by a write
	// a crash cut short) is a torn tail.
	require.NoError(t, os.WriteFile(path, append(bytes.Clone(data), make([]byte, 100)...), 0o644))
	w = open(t, dir)
	p, err := w.Load()
	require.NoError(t, err)
	assert.Equal(t, recs(0, 3), p.Records)
	require.NoError(t, w.Close())

	// Zeros over the whole acknowledged final record are not.
	zeroed := bytes.Clone(data)
	clear(zeroed[len(two):])
	require.NoError(t, os.WriteFile(path, zeroed, 0o644))
	_, err = storage.OpenWAL(dir, storage.WALOptions{Logger: quiet()})
	assert.ErrorIs(t, err, storage.ErrLost)
}

func TestWALCorruptionInTheMiddle(t *testing.T) {
	for _, where := range []string{"payload", "header"} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			w := open(t, dir)
			require.NoError(t, w.Append(nil, recs(0, 1)))
			require.NoError(t, w.Close())
			path := logFile(t, dir)
			first, err := os.ReadFile(path)
			require.NoError(t, err)
			w = open(t, dir)
			require.NoError(t, w.Append(nil, recs(1, 6)))
			require.NoError(t, w.Close())
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			// Damage the second record (starting at len(first)).
			pos := len(first) + 2 // header length field
			if where == "payload" {
				pos = len(first) + 12 + 1
			}
			data[pos] ^= 0x04
			require.NoError(t, os.WriteFile(path, data, 0o644))
			_, err = storage.OpenWAL(dir, storage.WALOptions{Logger: quiet()})
			require.Error(t, err)
			assert.ErrorIs(t, err, storage.ErrCorrupt)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), fmt.Sprintf("offset %d", len(first)))
		})
	}
}

func TestWALCorruptSnapshot(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	require.NoError(t, w.Append(snap{Upto: 1}, recs(0, 1)))
	require.NoError(t, w.Close())
	path := filepath.Join(dir, "snapshot")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[len(data)-1] ^= 1
	require.NoError(t, os.WriteFile(path, data, 0o644))
	_, err = storage.OpenWAL(dir, storage.WALOptions{Logger: quiet()})
	assert.ErrorIs(t, err, storage.ErrCorrupt)
	assert.Contains(t, err.Error(), path)
}

func TestWALUnreadableFiles(t *testing.T) {
	// The log path is a directory: opening must fail with a clear error.
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, fmt.Sprintf("wal-%016x.log", 0)), 0o755))
	_, err := storage.OpenWAL(dir, storage.WALOptions{Logger: quiet()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wal-")

	// The data directory is a file.
	file := filepath.Join(t.TempDir(), "plain")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = storage.OpenWAL(file, storage.WALOptions{Logger: quiet()})
	assert.Error(t, err)

	// The snapshot is a directory.
	dir = t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "snapshot"), 0o755))
	_, err = storage.OpenWAL(dir, storage.WALOptions{Logger: quiet()})
	assert.Error(t, err)
}

func TestWALDamagedFinalRecordRefused(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	require.NoError(t, w.Append(nil, recs(0, 2)))
	require.NoError(t, w.Close())
	path := logFile(t, dir)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	i := bytes.LastIndex(data, []byte("storage_test.rec"))
	require.Positive(t, i)
	data[i+len("storage_test.")] = 'R'
	require.NoError(t, os.WriteFile(path, data, 0o644))
	// The final record's checksum fails but the record is whole: it was
	// written (and fsynced, and maybe acted on), so it is not dropped.
	_, err = storage.OpenWAL(dir, storage.WALOptions{Logger: quiet()})
	assert.ErrorIs(t, err, storage.ErrCorrupt)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "final record")
}

// A missing snapshot that the log or the mark refers to is refused, and
// the log is not deleted.
func TestWALMissingSnapshotRefused(t *testing.T) {
	for _, missing := range []string{"snapshot", "snapshot+log"} {
		t.Run(missing, func(t *testing.T) {
			dir := t.TempDir()
			w := open(t, dir)
			require.NoError(t, w.Append(nil, recs(0, 3)))
			require.NoError(t, w.Append(snap{Upto: 3}, recs(3, 6)))
			require.NoError(t, w.Close())
			path := logFile(t, dir)
			require.NoError(t, os.Remove(filepath.Join(dir, "snapshot")))
			if missing == "snapshot+log" {
				require.NoError(t, os.Remove(path))
			}
			_, err := storage.OpenWAL(dir, storage.WALOptions{Logger: quiet()})
			require.Error(t, err)
			assert.ErrorIs(t, err, storage.ErrLost)
			assert.Contains(t, err.Error(), "snapshot")
			if missing == "snapshot" {
				_, err = os.Stat(path)
				assert.NoError(t, err, "the log of the missing snapshot is kept")
			}
		})
	}
}

func TestWALMissingMarkRefused(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	require.NoError(t, w.Append(nil, recs(0, 3)))
	require.NoError(t, w.Close())
	require.NoError(t, os.Remove(markFile(dir)))
	_, err := storage.OpenWAL(dir, storage.WALOptions{Logger: quiet()})
	assert.ErrorIs(t, err, storage.ErrLost)
	assert.Contains(t, err.Error(), "wal.mark")
}

func TestWALLockRefusesSecondOpener(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	_, err := storage.OpenWAL(dir, storage.WALOptions{Logger: quiet()})
	require.Error(t, err)
	assert.ErrorIs(t, err, storage.ErrLocked)
	assert.Contains(t, err.Error(), fmt.Sprintf("in use by another process (pid %d)", os.Getpid()))
	_, err = storage.LockDir(dir)
	assert.ErrorIs(t, err, storage.ErrLocked)
	require.NoError(t, w.Close())
	// Released on Close.
	l, err := storage.LockDir(dir)
	require.NoError(t, err)
	require.NoError(t, l.Unlock())
	require.NoError(t, l.Unlock())
	w = open(t, dir)
	require.NoError(t, w.Close())
}

func TestIdentityAndMoveAside(t *testing.T) {
	dir := t.TempDir()
	id, err := storage.ReadIdentity(dir)
	require.NoError(t, err)
	assert.Nil(t, id)
	has, err := storage.HasState(dir)
	require.NoError(t, err)
	assert.False(t, has)

	want := storage.Identity{Cluster: "c", Replica: 2, Incarnation: storage.NewIncarnation(), Created: time.Now().UTC().Truncate(time.Second)}
	require.NoError(t, storage.WriteIdentity(dir, want))
	got, err := storage.ReadIdentity(dir)
	require.NoError(t, err)
	assert.Equal(t, want, *got)
	assert.NotEqual(t, want.Incarnation, storage.NewIncarnation())

	lock, err := storage.LockDir(dir)
	require.NoError(t, err)
	defer lock.Unlock()
	w, err := storage.OpenWAL(dir, storage.WALOptions{Logger: quiet(), Lock: lock})
	require.NoError(t, err)
	require.NoError(t, w.Append(nil, recs(0, 2)))
	has, err = storage.HasState(dir)
	require.NoError(t, err)
	assert.True(t, has)
	require.NoError(t, w.Close())

	again, err := storage.LockDir(dir)
	require.NoError(t, err, "Close released the WAL's hold on the lock")
	defer again.Unlock()
	aside, err := storage.MoveAside(dir, time.Now())
	require.NoError(t, err)
	assert.Contains(t, aside, ".damaged-")
	has, err = storage.HasState(dir)
	require.NoError(t, err)
	assert.False(t, has)
	moved, err := storage.HasState(aside)
	require.NoError(t, err)
	assert.True(t, moved, "the old state is kept aside, not deleted")
	_, err = os.Stat(filepath.Join(aside, storage.IdentityName))
	assert.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, storage.LockName))
	assert.NoError(t, err, "the lock stays")

	require.NoError(t, os.WriteFile(filepath.Join(dir, storage.IdentityName), []byte("{"), 0o644))
	_, err = storage.ReadIdentity(dir)
	assert.ErrorIs(t, err, storage.ErrCorrupt)
}

func TestWALOneFsyncPerAppend(t *testing.T) {
	w := open(t, t.TempDir())
	defer w.Close()
	for i := 0; i < 5; i++ {
		require.NoError(t, w.Append(nil, recs(3*i, 3*i+3)))
	}
	assert.Equal(t, uint64(5), w.Syncs(), "three records per Append, one fsync each")
	require.NoError(t, w.Append(nil, nil))
	assert.Equal(t, uint64(5), w.Syncs(), "an empty Append syncs nothing")
}

func TestWALGroupCommit(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				assert.NoError(t, w.Append(nil, []any{rec{N: g*1000 + i}}))
			}
		}(g)
	}
	wg.Wait()
	syncs := w.Syncs()
	assert.LessOrEqual(t, syncs, uint64(writers*each))
	assert.Positive(t, syncs)
	require.NoError(t, w.Close())
	w = open(t, dir)
	defer w.Close()
	p, err := w.Load()
	require.NoError(t, err)
	assert.Len(t, p.Records, writers*each)
	// Each writer's records appear in its own order.
	last := map[int]int{}
	for _, r := range p.Records {
		n := r.(rec).N
		g, i := n/1000, n%1000
		if prev, ok := last[g]; ok {
			assert.Greater(t, i, prev)
		}
		last[g] = i
	}
	assert.ErrorIs(t, w.Close(), nil)
}

func TestVerifyFrames(t *testing.T) {
	n, err := storage.VerifyFrames(nil)
	assert.NoError(t, err)
	assert.Zero(t, n)
	n, err = storage.VerifyFrames([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	assert.ErrorIs(t, err, storage.ErrCorrupt)
	assert.Zero(t, n)
}

func FuzzVerifyFrames(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, _ := storage.VerifyFrames(data)
		if n < 0 || n > int64(len(data)) {
			t.Fatalf("valid prefix %d outside 0..%d", n, len(data))
		}
	})
}
