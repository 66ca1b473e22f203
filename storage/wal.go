package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paxos-lab/paxos"
)

// On-disk layout of a WAL directory:
//
//	LOCK                the directory's exclusive lock (see LockDir)
//	snapshot            the latest snapshot (absent until the first one)
//	wal-<gen>.log       records appended after snapshot generation <gen>
//	wal.mark            the last durable position: (generation, log size)
//
// A record frame is a 12-byte header followed by the payload (paxos.Encode):
//
//	uint32 LE  payload length
//	uint32 LE  CRC32C (Castagnoli) of the payload
//	uint32 LE  CRC32C of the first 8 header bytes
//
// The snapshot file is: the 8-byte magic "PXSNAP01", uint64 LE generation,
// uint32 LE payload length, uint32 LE CRC32C of the payload, the payload.
//
// Taking a snapshot writes snapshot.tmp, fsyncs it, renames it over snapshot,
// fsyncs the directory, then starts wal-<gen+1>.log and deletes the old log. A
// crash at any point leaves either the old snapshot with its log or the new
// snapshot (whose log is then missing, i.e. empty): never a mix.
//
// In a WAL without fsync, a snapshot that says it may be written in the
// background (Background) is written to snapshot.tmp on a goroutine of its
// own while Appends go on into the current log. Once the file is written
// (and fsynced, here even without fsync: see writeBackground), the records
// appended after the snapshot are copied to wal-<gen+1>.log.tmp, most of
// them without the lock and the rest under it; then snapshot.tmp is renamed
// over snapshot and the log's temporary name dropped (the directory synced
// after each rename, the log before them, wherever the WAL syncs), and the
// old log is deleted once the lock is released. A crash before the first
// rename leaves the old snapshot with its complete log (the temporary
// files are removed at open); one between the renames leaves the new
// snapshot and wal-<gen>.log.tmp of its generation, complete, which
// OpenWAL renames into place.
//
// The mark file has two 32-byte slots, written alternately so that a torn
// write of one leaves the other: the 4-byte magic "PXMK", uint64 LE sequence
// number, uint64 LE generation, uint64 LE log size, uint32 LE CRC32C of the
// first 28 bytes; the valid slot with the higher sequence number counts.
// After every fsync of the log the WAL writes the size it made durable into
// the mark (a write to the page cache, no extra fsync: it is written only
// after the log's fsync returned, so whenever it is on disk the log is
// durable up to it), and after a snapshot the new generation (fsynced). At
// open, a log that ends before the mark, a snapshot older than the mark's
// generation, or a log of a generation newer than the snapshot means
// records that were acknowledged are gone: OpenWAL refuses (ErrLost).
const (
	headerSize = 12
	// MaxRecordSize is the largest record a WAL accepts (64 MiB). A larger
	// length in a header is treated as damage.
	MaxRecordSize = 64 << 20
	snapMagic     = "PXSNAP01"
	snapName      = "snapshot"
	snapTmpName   = "snapshot.tmp"
	logTmpSuffix  = ".log.tmp"
	markName      = "wal.mark"
	markMagic     = "PXMK"
	markSlot      = 32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by errors about damaged files that cannot be a torn
// final write: a complete record whose checksum fails (wherever it is in
// the log), a damaged record header with data after it, or a damaged
// snapshot or mark.
var ErrCorrupt = errors.New("storage corrupt")

// rebuildHint ends every refusal caused by damaged or lost storage.
const rebuildHint = "do not delete or edit the files; start the replica with --rebuild (paxos serve --rebuild), which moves them aside and rebuilds the replica's state from its peers"

// WALOptions tunes a WAL.
type WALOptions struct {
	// Logger receives warnings such as a truncated torn tail (default
	// slog.Default()).
	Logger *slog.Logger
	// NoSync skips fsync. It is unsafe against power loss and machine
	// crashes (a killed process is still safe: written data is in the page
	// cache); meant for benchmarks that want to measure the protocol alone.
	NoSync bool
	// Lock, if set, is the directory's lock, already taken by the caller
	// (see LockDir); the WAL releases it on Close. Otherwise OpenWAL takes
	// the lock itself.
	Lock *DirLock
	// OnSync, if set, is called after every fsync of the log with how long
	// it took (for metrics; never with NoSync). It must not block.
	OnSync func(time.Duration)
	// OnSnapshot, if set, is called after every snapshot written with its
	// size in bytes and how long writing it (file, fsyncs, new log) took.
	// It must not block.
	OnSnapshot func(bytes int, took time.Duration)
}

// WALStats counts what a WAL wrote since it was opened.
type WALStats struct {
	Syncs         uint64 // fsyncs of the log issued by Append
	Bytes         uint64 // bytes of log frames written
	Snapshots     uint64 // snapshots written
	SnapshotBytes uint64 // bytes of snapshots written
}

// WAL is a Storage in a directory: a write-ahead log plus a snapshot file.
// It is safe for concurrent use; concurrent Appends share fsyncs (group
// commit).
type WAL struct {
	dir    string
	log    *slog.Logger
	noSync bool

	mu   sync.Mutex
	cond *sync.Cond
	// markBuf is where writeMark builds a mark (under mu).
	markBuf [markSlot]byte
	lock    *DirLock
	f       *os.File // current log file
	markF   *os.File // the mark file
	mark    mark     // last mark written
	// durableSeq is the sequence number of the last mark known to be on
	// disk (fsynced).
	durableSeq uint64
	gen        uint64 // generation of the current snapshot (0 = none)
	size       int64  // bytes of valid frames in f
	written    uint64 // Appends written to f (monotonic)
	synced     uint64 // Appends known durable
	syncing    bool
	err        error // sticky: after a failed write or fsync nothing is trusted
	closed     bool
	syncs      uint64
	bytes      uint64 // log frame bytes written (monotonic)
	snapshots  uint64
	snapBytes  uint64
	onSync     func(time.Duration)
	onSnapshot func(int, time.Duration)
	// bg is set while a background snapshot is written (see Background).
	bg bool
	// tidying counts background snapshots past their install whose
	// superseded files are still being closed and the old log removed
	// (outside the lock); Close waits for none.
	tidying int
	// skipped counts background snapshots not written because another
	// was still being written.
	skipped uint64
}

// Background is implemented by snapshot values that a WAL without fsync
// (WALOptions.NoSync) may write on a goroutine of its own while later
// Appends go on; with fsync it writes them in place, since measured live
// the log's fsyncs during a snapshot's write got slower and throughput
// fell. Append then returns once its records are durable, and the
// snapshot replaces the records before it
// only once it is durable itself; until then a crash leaves the previous
// snapshot and every record since, the records of the snapshot's own
// Append included (they follow it). A protocol may mark a snapshot so only
// if its Ready keeps its records (they are not folded into the snapshot)
// and replaying them after the snapshot changes nothing, and if nothing it
// does afterwards needs the snapshot on disk: a crash before the snapshot
// is written is then like a crash just before it was taken. A background
// snapshot that arrives while another is being written is not written
// (a later one covers it). Protocols implement it without importing this
// package (a method BackgroundSnapshot() bool).
type Background interface {
	BackgroundSnapshot() bool
}

// Unsynced reports whether the WAL skips fsync (WALOptions.NoSync): an
// Append then returns once its bytes are in the page cache, with no wait
// for the disk, so a driver may call it on its event loop (node does).
func (w *WAL) Unsynced() bool { return w.noSync }

func isBackground(snapshot any) bool {
	b, ok := snapshot.(Background)
	return ok && b.BackgroundSnapshot()
}

// OpenWAL opens (creating if needed) the WAL in dir, holding the
// directory's exclusive lock until Close. It validates what it finds:
//
//   - a torn final record (one that extends past the end of the file, or a
//     zero-filled tail) after the last durable position in wal.mark was
//     never acknowledged: it is truncated with a warning;
//   - a complete record whose checksum fails, wherever it is, or a damaged
//     header with data after it, is an error wrapping ErrCorrupt that names
//     the file and offset;
//   - a log that ends before the durable position in wal.mark, a snapshot
//     missing or older than the mark or the log says was written, or a
//     missing mark beside records, is an error wrapping ErrLost.
//
// It never deletes a log it could not replay; the only logs it removes are
// those of generations older than the snapshot (superseded by it).
func OpenWAL(dir string, opts WALOptions) (*WAL, error) {
	lock := opts.Lock
	if lock == nil {
		var err error
		if lock, err = LockDir(dir); err != nil {
			return nil, err
		}
	}
	w, err := openWAL(dir, opts, lock)
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	return w, nil
}

func openWAL(dir string, opts WALOptions, lock *DirLock) (*WAL, error) {
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	w := &WAL{dir: dir, log: lg, noSync: opts.NoSync, lock: lock, onSync: opts.OnSync, onSnapshot: opts.OnSnapshot}
	w.cond = sync.NewCond(&w.mu)
	gen, _, err := w.readSnapshot()
	if err != nil {
		return nil, err
	}
	w.gen = gen
	if err := w.recoverLogTmp(); err != nil {
		return nil, err
	}
	if err := w.checkGenerations(); err != nil {
		return nil, err
	}
	markPath := filepath.Join(dir, markName)
	mf, err := openFile(markPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w; check the --data directory and its permissions", markPath, err)
	}
	ok := false
	defer func() {
		if !ok {
			mf.Close()
		}
	}()
	mk, hasMark, err := readMark(mf, markPath)
	if err != nil {
		return nil, err
	}
	if hasMark && mk.gen > gen {
		return nil, fmt.Errorf("storage: %s says snapshot generation %d was written, but the snapshot in %s is %s: the snapshot was deleted or replaced by an older copy, and the records it held are gone: %w; %s",
			markPath, mk.gen, dir, describeGen(gen), ErrLost, rebuildHint)
	}
	path := w.logPath(gen)
	f, err := openFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: open log %s: %w; check the --data directory and its permissions", path, err)
	}
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	valid, total, tail, _, err := scanLog(f, path, false)
	if err != nil {
		return nil, err
	}
	if !hasMark && (gen > 0 || total > 0) {
		return nil, fmt.Errorf("storage: %s is missing although %s holds records: the directory was damaged or assembled by hand, so acknowledged records may be missing: %w; %s",
			markPath, dir, ErrLost, rebuildHint)
	}
	durable := int64(0)
	if hasMark && mk.gen == gen {
		durable = mk.size
	}
	if valid < durable {
		what := "ends"
		if tail != tailNone {
			what = "has its last complete record ending"
		}
		return nil, fmt.Errorf("storage: log %s %s at offset %d, but %s records that the replica made durable (and may have acted on) up to offset %d: the log was truncated, damaged or replaced by an older copy: %w; %s",
			path, what, valid, markPath, durable, ErrLost, rebuildHint)
	}
	if valid < total {
		lg.Warn("storage: truncating a torn final record of the log: a write that was never acknowledged was cut short by a crash",
			"file", path, "offset", valid, "dropped_bytes", total-valid, "kind", tail.String())
		if err := f.Truncate(valid); err != nil {
			return nil, fmt.Errorf("storage: truncate torn tail of %s at offset %d: %w", path, valid, err)
		}
		if !w.noSync {
			if err := f.Sync(); err != nil {
				return nil, fmt.Errorf("storage: fsync %s: %w", path, err)
			}
		}
	}
	if _, err := f.Seek(valid, 0); err != nil {
		return nil, fmt.Errorf("storage: seek %s: %w", path, err)
	}
	w.f, w.size, w.markF, w.mark = f, valid, mf, mk
	w.removeStale()
	// The log and mark may have just been created: make their directory
	// entries durable before any Append reports success.
	if err := w.syncDir(); err != nil {
		return nil, err
	}
	// Every open advances the mark (fsynced): the progress a replica
	// announces to its peers (DurableProgress) grows at every start.
	if err := w.writeMark(gen, valid, true); err != nil {
		return nil, err
	}
	w.durableSeq = w.mark.seq
	ok = true
	return w, nil
}

func describeGen(gen uint64) string {
	if gen == 0 {
		return "missing"
	}
	return fmt.Sprintf("generation %d", gen)
}

// checkGenerations refuses a log of a generation newer than the snapshot:
// its snapshot was lost (or replaced by an older one).
func (w *WAL) checkGenerations() error {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return fmt.Errorf("storage: read data directory %s: %w", w.dir, err)
	}
	for _, e := range entries {
		g, ok := logGen(e.Name())
		if ok && g > w.gen {
			return fmt.Errorf("storage: log %s follows snapshot generation %d, but the snapshot in %s is %s: the snapshot was deleted or replaced by an older copy: %w; %s",
				filepath.Join(w.dir, e.Name()), g, w.dir, describeGen(w.gen), ErrLost, rebuildHint)
		}
	}
	return nil
}

// recoverLogTmp finishes a background snapshot that a crash interrupted
// between installing the snapshot and naming its log: the snapshot's
// generation has no log but a complete wal-<gen>.log.tmp, which becomes
// the log. Other temporary logs are removed (removeStale).
func (w *WAL) recoverLogTmp() error {
	if w.gen == 0 {
		return nil
	}
	tmp := w.logPath(w.gen) + ".tmp"
	if _, err := os.Stat(tmp); err != nil {
		return nil
	}
	path := w.logPath(w.gen)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	w.log.Info("storage: completing a snapshot that a crash interrupted: naming its log", "file", path)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("storage: rename %s to %s: %w; check the --data directory and its permissions", tmp, path, err)
	}
	return w.syncDir()
}

// logGen parses the generation of a log file name wal-<gen>.log.
func logGen(name string) (uint64, bool) {
	if !strings.HasPrefix(name, "wal-") || !strings.HasSuffix(name, ".log") {
		return 0, false
	}
	g, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "wal-"), ".log"), 16, 64)
	return g, err == nil
}

func (w *WAL) logPath(gen uint64) string {
	return filepath.Join(w.dir, fmt.Sprintf("wal-%016x.log", gen))
}

// removeStale deletes logs of generations older than the snapshot (the
// snapshot supersedes them; a crash during a snapshot leaves them) and a
// leftover temporary snapshot.
func (w *WAL) removeStale() {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		n := e.Name()
		stale := n == snapTmpName || (strings.HasPrefix(n, "wal-") && strings.HasSuffix(n, logTmpSuffix))
		if g, ok := logGen(n); ok && g < w.gen {
			stale = true
		}
		if stale {
			w.log.Info("storage: removing a file superseded by the snapshot", "file", n, "snapshot_generation", w.gen)
			if err := os.Remove(filepath.Join(w.dir, n)); err != nil {
				w.log.Warn("storage: cannot remove stale file", "file", n, "err", err)
			}
		}
	}
}

// mark is the last durable position of the log.
type mark struct {
	seq, gen uint64
	size     int64
}

// readMark returns the newest valid slot of the mark file (ok=false when
// the file is empty). A file with data but no valid slot is corrupt.
func readMark(f *os.File, path string) (mark, bool, error) {
	buf := make([]byte, 2*markSlot)
	n, err := f.ReadAt(buf, 0)
	if err != nil && n == 0 && !errors.Is(err, io.EOF) {
		return mark{}, false, fmt.Errorf("storage: read %s: %w", path, err)
	}
	buf = buf[:n]
	if allZero(buf) {
		return mark{}, false, nil
	}
	var best mark
	found := false
	for i := 0; i+markSlot <= len(buf); i += markSlot {
		b := buf[i : i+markSlot]
		if string(b[:4]) != markMagic || crc32.Checksum(b[:28], castagnoli) != binary.LittleEndian.Uint32(b[28:]) {
			continue
		}
		m := mark{seq: binary.LittleEndian.Uint64(b[4:]), gen: binary.LittleEndian.Uint64(b[12:]), size: int64(binary.LittleEndian.Uint64(b[20:]))}
		if !found || m.seq > best.seq {
			best, found = m, true
		}
	}
	if !found {
		return mark{}, false, fmt.Errorf("storage: %s is damaged (no valid slot): %w; %s", path, ErrCorrupt, rebuildHint)
	}
	return best, true, nil
}

// writeMark records (gen, size) as durable in the next slot of the mark
// file, fsyncing it when sync is set (and fsync is on).
func (w *WAL) writeMark(gen uint64, size int64, sync bool) error {
	m := mark{seq: w.mark.seq + 1, gen: gen, size: size}
	b := &w.markBuf // a field, not a local array: WriteAt would make it escape
	clear(b[:])
	copy(b[:], markMagic)
	binary.LittleEndian.PutUint64(b[4:], m.seq)
	binary.LittleEndian.PutUint64(b[12:], m.gen)
	binary.LittleEndian.PutUint64(b[20:], uint64(m.size))
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	if _, err := w.markF.WriteAt(b[:], int64(m.seq%2)*markSlot); err != nil {
		return fmt.Errorf("storage: write %s: %w; the replica must stop", w.markF.Name(), err)
	}
	if sync && !w.noSync {
		if err := w.markF.Sync(); err != nil {
			return fmt.Errorf("storage: fsync %s: %w; the replica must stop", w.markF.Name(), err)
		}
	}
	w.mark = m
	if sync {
		w.durableSeq = m.seq
	}
	return nil
}

// DurableProgress returns a counter of the WAL's durable writes: the
// sequence number of its position mark, fsynced first if needed. It never
// decreases over the directory's life, across crashes and restarts, and
// grows at every OpenWAL and with the log. A copy of the directory
// restored later announces less than the original reached: peers that saw
// the original's progress can tell (see transport.Witness).
func (w *WAL) DurableProgress() (uint64, error) {
	w.mu.Lock()
	if w.closed {
		defer w.mu.Unlock()
		return w.durableSeq, ErrClosed
	}
	if w.durableSeq == w.mark.seq || w.noSync {
		w.durableSeq = w.mark.seq
		defer w.mu.Unlock()
		return w.durableSeq, nil
	}
	seq, f := w.mark.seq, w.markF
	w.mu.Unlock()
	// The mark is written only after the log's fsync, so fsyncing the
	// mark file makes seq durable without reordering anything.
	if err := f.Sync(); err != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.durableSeq, fmt.Errorf("storage: fsync %s: %w", f.Name(), err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq > w.durableSeq {
		w.durableSeq = seq
	}
	return w.durableSeq, nil
}

// readSnapshot returns the snapshot's generation and payload (0, nil when
// there is none).
func (w *WAL) readSnapshot() (uint64, []byte, error) {
	path := filepath.Join(w.dir, snapName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("storage: read snapshot %s: %w; check the --data directory and its permissions", path, err)
	}
	const hdr = len(snapMagic) + 16
	if len(data) < hdr || string(data[:len(snapMagic)]) != snapMagic {
		return 0, nil, fmt.Errorf("storage: snapshot %s at offset 0: bad header: %w", path, ErrCorrupt)
	}
	gen := binary.LittleEndian.Uint64(data[8:])
	n := binary.LittleEndian.Uint32(data[16:])
	sum := binary.LittleEndian.Uint32(data[20:])
	payload := data[hdr:]
	if uint64(len(payload)) != uint64(n) {
		return 0, nil, fmt.Errorf("storage: snapshot %s at offset %d: length %d, file holds %d bytes: %w", path, hdr, n, len(payload), ErrCorrupt)
	}
	if crc32.Checksum(payload, castagnoli) != sum {
		return 0, nil, fmt.Errorf("storage: snapshot %s at offset %d: checksum mismatch: %w", path, hdr, ErrCorrupt)
	}
	if gen == 0 {
		return 0, nil, fmt.Errorf("storage: snapshot %s at offset 8: generation 0: %w", path, ErrCorrupt)
	}
	return gen, payload, nil
}

// tailKind says how a log's valid part ends.
type tailKind int

const (
	tailNone tailKind = iota // the file ends at a record boundary
	tailTorn                 // the final record extends past the end of the file
	tailZero                 // a zero-filled tail (space allocated, never written)
)

func (k tailKind) String() string {
	switch k {
	case tailTorn:
		return "record extends past the end of the file"
	case tailZero:
		return "zero-filled tail"
	}
	return "none"
}

// scanLog reads f from the start and returns the end of the last valid frame,
// the file size and what follows the valid part (see scanFrames). With
// collect, it also returns the payloads.
func scanLog(f *os.File, path string, collect bool) (valid, total int64, tail tailKind, payloads [][]byte, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, tailNone, nil, fmt.Errorf("storage: stat %s: %w", path, err)
	}
	if st.IsDir() {
		return 0, 0, tailNone, nil, fmt.Errorf("storage: log %s is a directory; remove it or use another --data directory", path)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && int64(len(data)) > 0 {
		return 0, 0, tailNone, nil, fmt.Errorf("storage: read log %s: %w", path, err)
	}
	off, tail, payloads, err := scanFrames(data, path, collect)
	return off, int64(len(data)), tail, payloads, err
}

// scanFrames validates the frames of a log image. Only two endings can be a
// write cut short: a final record that extends past the end of the file
// (an incomplete header, or a valid header whose payload is longer than
// what remains) and a zero-filled tail; they end the valid part and are
// reported as the tail. A complete record whose checksum fails, even the
// last one, and a damaged header with non-zero data after it, are errors
// wrapping ErrCorrupt: those bytes were written whole, so they may be
// records the replica acknowledged.
func scanFrames(data []byte, path string, collect bool) (int64, tailKind, [][]byte, error) {
	var out [][]byte
	off := 0
	for off < len(data) {
		rest := data[off:]
		if allZero(rest) {
			return int64(off), tailZero, out, nil
		}
		if len(rest) < headerSize {
			return int64(off), tailTorn, out, nil
		}
		n := binary.LittleEndian.Uint32(rest[0:])
		sum := binary.LittleEndian.Uint32(rest[4:])
		hsum := binary.LittleEndian.Uint32(rest[8:])
		if crc32.Checksum(rest[:8], castagnoli) != hsum || n > MaxRecordSize {
			return int64(off), tailNone, out, fmt.Errorf("storage: log %s at offset %d: damaged record header with data after it: %w; %s", path, off, ErrCorrupt, rebuildHint)
		}
		end := headerSize + int(n)
		if len(rest) < end {
			return int64(off), tailTorn, out, nil
		}
		if crc32.Checksum(rest[headerSize:end], castagnoli) != sum {
			where := "a complete record"
			if len(rest) == end {
				where = "the final record, complete (not torn),"
			}
			return int64(off), tailNone, out, fmt.Errorf("storage: log %s at offset %d: %s fails its checksum: %w; %s", path, off, where, ErrCorrupt, rebuildHint)
		}
		if collect {
			out = append(out, rest[headerSize:end])
		}
		off += end
	}
	return int64(off), tailNone, out, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// putHeader writes the frame header of payload into h (headerSize bytes).
func putHeader(h, payload []byte) {
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(h[8:], crc32.Checksum(h[:8], castagnoli))
}

// frameBufs holds the buffers Append encodes records into.
var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func putFrameBuf(bp *[]byte) {
	if cap(*bp) <= 1<<20 {
		frameBufs.Put(bp)
	}
}

// Append implements Storage: it writes snapshot (if any) and records and
// returns once they are durable. One fsync covers all records of a call, and
// calls that overlap share fsyncs.
func (w *WAL) Append(snapshot any, records []any) error {
	// The frames are encoded in place into one pooled buffer (header
	// first, filled in once the payload is there) and written at once.
	bp := frameBufs.Get().(*[]byte)
	defer putFrameBuf(bp)
	buf := (*bp)[:0]
	for i, r := range records {
		start := len(buf)
		buf = append(buf, make([]byte, headerSize)...)
		var err error
		buf, err = paxos.AppendEncode(buf, r)
		*bp = buf
		if err != nil {
			return fmt.Errorf("storage: encode record %d: %w", i, err)
		}
		payload := buf[start+headerSize:]
		if len(payload) > MaxRecordSize {
			return fmt.Errorf("storage: record %d is %d bytes, more than the %d a log frame holds", i, len(payload), MaxRecordSize)
		}
		putHeader(buf[start:start+headerSize], payload)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if snapshot != nil && w.noSync && isBackground(snapshot) {
		if w.bg {
			w.skipped++
		} else {
			w.bg = true
			go w.writeBackground(snapshot, w.gen+1, w.size)
		}
		snapshot = nil // the records follow it in the current log
	}
	if snapshot != nil {
		for w.bg {
			w.cond.Wait()
		}
		if w.closed {
			return ErrClosed
		}
		if w.err != nil {
			return w.err
		}
		if err := w.snapshotLocked(snapshot); err != nil {
			// A snapshot that cannot be encoded leaves the storage as it
			// was; a failed write may not.
			if !errors.As(err, new(snapshotEncodeError)) {
				w.err = err
			}
			return err
		}
	}
	if len(buf) == 0 && snapshot == nil {
		return nil
	}
	if len(buf) > 0 {
		if _, err := w.f.Write(buf); err != nil {
			w.err = fmt.Errorf("storage: write log %s: %w; the replica must stop", w.f.Name(), err)
			return w.err
		}
		w.size += int64(len(buf))
		w.bytes += uint64(len(buf))
	}
	w.written++
	my := w.written
	for w.synced < my {
		if w.err != nil {
			return w.err
		}
		if w.syncing {
			w.cond.Wait()
			continue
		}
		target, targetGen, targetSize := w.written, w.gen, w.size
		w.syncing = true
		f := w.f
		w.mu.Unlock()
		var err error
		if !w.noSync {
			if w.onSync != nil {
				t0 := time.Now()
				err = f.Sync()
				w.onSync(time.Since(t0))
			} else {
				err = f.Sync()
			}
		}
		w.mu.Lock()
		w.syncing = false
		w.syncs++
		if err != nil {
			w.err = fmt.Errorf("storage: fsync log %s: %w; the replica must stop", f.Name(), err)
		} else {
			if target > w.synced {
				w.synced = target
			}
			// Only now, with the log durable up to targetSize, may the
			// mark say so.
			if targetGen == w.gen && (w.mark.gen != targetGen || targetSize > w.mark.size) {
				if err := w.writeMark(targetGen, targetSize, false); err != nil {
					w.err = err
				}
			}
		}
		w.cond.Broadcast()
	}
	return w.err
}

// snapshotLocked writes a snapshot atomically and starts a new log.
func (w *WAL) snapshotLocked(snapshot any) error {
	for w.syncing {
		w.cond.Wait()
	}
	t0 := time.Now()
	gen := w.gen + 1
	tmp := filepath.Join(w.dir, snapTmpName)
	size, err := writeSnapshotFile(tmp, gen, snapshot, w.noSync)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, snapName)); err != nil {
		return fmt.Errorf("storage: install snapshot: %w", err)
	}
	if err := w.syncDir(); err != nil {
		return err
	}
	path := w.logPath(gen)
	f, err := openFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("storage: create log %s: %w", path, err)
	}
	if err := w.syncDir(); err != nil {
		f.Close()
		return err
	}
	old := w.f
	w.f, w.gen, w.size = f, gen, 0
	w.synced = w.written // everything written before is superseded by the snapshot
	if err := w.writeMark(gen, 0, true); err != nil {
		old.Close()
		return err
	}
	old.Close()
	if err := os.Remove(old.Name()); err != nil {
		w.log.Warn("storage: cannot remove the log a snapshot superseded", "file", old.Name(), "err", err)
	}
	w.snapshots++
	w.snapBytes += uint64(size)
	if w.onSnapshot != nil {
		w.onSnapshot(size, time.Since(t0))
	}
	return nil
}

// writeBackground writes a Background snapshot of generation gen to
// snapshot.tmp without holding the lock, then installs it with the records
// appended to the current log from offset start on (see the layout above).
// Only what must be atomic with Appends holds the lock: the records
// appended since start are copied to the next log outside it, up to the
// log's end when the copy began, and under it only those appended during
// the copy; the superseded log is closed and removed after the lock is
// released (Close waits for that) (removing a log of tens of MB took 10-50 ms on the benchmark
// machine's ext4 with discard, during which every Append, and so every
// message the replica sends, waited; so did renaming the snapshot over
// the previous one, see below).
func (w *WAL) writeBackground(snapshot any, gen uint64, start int64) {
	t0 := time.Now()
	tmp := filepath.Join(w.dir, snapTmpName)
	// Fsynced even without fsync (this runs only then): installing it
	// renames it over the previous snapshot, and ext4 (auto_da_alloc)
	// writes out a file's data inside such a rename, which took 5-28 ms
	// under the lock for snapshots of 6-27 MB on the benchmark machine;
	// written out here, the rename is quick.
	size, err := writeSnapshotFile(tmp, gen, snapshot, false)
	var next *os.File
	copied := start
	if err == nil {
		next, copied, err = w.copyTail(gen, start)
		if afterCopyTail != nil {
			afterCopyTail()
		}
	}
	// Held open across the install, so that the rename that replaces it
	// does not free its blocks (milliseconds for a large file) under the
	// lock: they are freed when this closes.
	prev, perr := os.Open(filepath.Join(w.dir, snapName))
	old, remove := w.finishBackground(tmp, gen, size, t0, next, copied, err)
	if perr == nil {
		prev.Close()
	}
	if old != nil {
		old.Close()
		if remove {
			if err := os.Remove(old.Name()); err != nil {
				w.log.Warn("storage: cannot remove the log a snapshot superseded", "file", old.Name(), "err", err)
			}
		}
	}
	w.mu.Lock()
	w.tidying--
	w.cond.Broadcast()
	w.mu.Unlock()
}

// afterCopyTail, when set (by tests only), runs after copyTail, before the
// snapshot is installed.
var afterCopyTail func()

// copyTail creates the log of generation gen (under its temporary name)
// and copies into it, without holding the lock, the current log's bytes
// from start to the log's end at the time of the call. It returns the new
// log and the offset in the current log up to which it copied. The bytes
// copied are complete frames: Append writes whole frames under the lock,
// and a background snapshot keeps every other snapshot (which would
// replace w.f) waiting.
func (w *WAL) copyTail(gen uint64, start int64) (*os.File, int64, error) {
	w.mu.Lock()
	old, end := w.f, w.size
	w.mu.Unlock()
	logTmp := w.logPath(gen) + ".tmp"
	f, err := openFile(logTmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, start, fmt.Errorf("storage: create log %s: %w", logTmp, err)
	}
	if _, err := io.Copy(f, io.NewSectionReader(old, start, end-start)); err != nil {
		f.Close()
		return nil, start, fmt.Errorf("storage: copy log %s to %s: %w; the replica must stop", old.Name(), logTmp, err)
	}
	return f, end, nil
}

// finishBackground installs the background snapshot written to tmp (its
// write's error in err) under the lock and returns the log it superseded,
// for the caller to close after releasing the lock, and whether to remove
// it (not after a failure, which stops the WAL). next is the log copyTail
// filled up to copied.
func (w *WAL) finishBackground(tmp string, gen uint64, size int, t0 time.Time, next *os.File, copied int64, err error) (old *os.File, remove bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.cond.Broadcast()
	defer func() { w.bg = false; w.tidying++ }()
	discard := func() {
		if next != nil {
			next.Close()
			_ = os.Remove(next.Name())
		}
	}
	if err != nil {
		discard()
		if errors.As(err, new(snapshotEncodeError)) {
			w.log.Warn("storage: a snapshot could not be encoded; the log keeps the records it would have replaced", "err", err)
		} else if w.err == nil && !w.closed {
			w.err = err
		}
		return nil, false
	}
	for w.syncing {
		w.cond.Wait()
	}
	if w.closed || w.err != nil || w.gen+1 != gen {
		discard()
		_ = os.Remove(tmp)
		return nil, false
	}
	old, err = w.installLocked(tmp, gen, next, copied)
	if err != nil {
		w.err = err
		return old, false
	}
	w.snapshots++
	w.snapBytes += uint64(size)
	if w.onSnapshot != nil {
		w.onSnapshot(size, time.Since(t0))
	}
	return old, true
}

// installLocked makes the snapshot written to tmp the WAL's snapshot of
// generation gen and f (the new log, under its temporary name, holding the
// current log's bytes up to copied from the snapshot's start on) its log,
// after appending the current log's bytes from copied to its end. It
// returns the superseded log, still open, for the caller to close and
// remove once it releases the lock; on an error it closes f.
func (w *WAL) installLocked(tmp string, gen uint64, f *os.File, copied int64) (*os.File, error) {
	old := w.f
	logTmp := f.Name()
	path := w.logPath(gen)
	fail := func(err error) (*os.File, error) {
		f.Close()
		return nil, err
	}
	if _, err := io.Copy(f, io.NewSectionReader(old, copied, w.size-copied)); err != nil {
		return fail(fmt.Errorf("storage: copy log %s to %s: %w; the replica must stop", old.Name(), logTmp, err))
	}
	if !w.noSync {
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("storage: fsync log %s: %w; the replica must stop", logTmp, err))
		}
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, snapName)); err != nil {
		return fail(fmt.Errorf("storage: install snapshot: %w", err))
	}
	if err := w.syncDir(); err != nil {
		return fail(err)
	}
	if err := os.Rename(logTmp, path); err != nil {
		return fail(fmt.Errorf("storage: rename %s to %s: %w", logTmp, path, err))
	}
	if err := w.syncDir(); err != nil {
		return fail(err)
	}
	// Reopened under its name, which errors and the next snapshot use.
	n, err := f.Seek(0, io.SeekCurrent)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("storage: seek %s: %w; the replica must stop", path, err)
	}
	if f, err = openFile(path, os.O_RDWR, 0o644); err != nil {
		return nil, fmt.Errorf("storage: open log %s: %w; the replica must stop", path, err)
	}
	if _, err := f.Seek(n, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: seek %s: %w; the replica must stop", path, err)
	}
	w.f, w.gen, w.size = f, gen, n
	w.synced = w.written // the records before the snapshot's start are superseded, the others are durable in f
	if err := w.writeMark(gen, w.size, true); err != nil {
		return old, err
	}
	return old, nil
}

// snapshotEncodeError is a snapshot that could not be encoded (nothing
// was written in its place).
type snapshotEncodeError struct{ error }

func (e snapshotEncodeError) Unwrap() error { return e.error }

// snapshotChunk is the buffer through which a snapshot is written.
const snapshotChunk = 1 << 20

// countingCRC counts and checksums the bytes written through it.
type countingCRC struct {
	n   int64
	crc uint32
}

func (c *countingCRC) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	c.crc = crc32.Update(c.crc, castagnoli, p)
	return len(p), nil
}

// writeSnapshotFile writes the snapshot file of generation gen at path and
// fsyncs it (unless noSync), returning the payload's size. The payload is
// encoded straight into the file (header last, once its length and
// checksum are known), so the encoded state is never held in memory whole.
func writeSnapshotFile(path string, gen uint64, snapshot any, noSync bool) (int, error) {
	f, err := openFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, fmt.Errorf("storage: create %s: %w", path, err)
	}
	var hdr [len(snapMagic) + 16]byte
	fail := func(err error) (int, error) {
		f.Close()
		return 0, err
	}
	if _, err := f.Write(hdr[:]); err != nil {
		return fail(fmt.Errorf("storage: write %s: %w", path, err))
	}
	var sum countingCRC
	bw := bufio.NewWriterSize(io.MultiWriter(f, &sum), snapshotChunk)
	if err := paxos.EncodeTo(bw, snapshot); err != nil {
		_, _ = fail(nil)
		_ = os.Remove(path)
		return 0, snapshotEncodeError{fmt.Errorf("storage: encode snapshot: %w", err)}
	}
	if err := bw.Flush(); err != nil {
		return fail(fmt.Errorf("storage: write %s: %w", path, err))
	}
	if sum.n > math.MaxUint32 {
		return fail(fmt.Errorf("storage: snapshot of %d bytes, more than the 4 GiB a snapshot file holds", sum.n))
	}
	copy(hdr[:], snapMagic)
	binary.LittleEndian.PutUint64(hdr[8:], gen)
	binary.LittleEndian.PutUint32(hdr[16:], uint32(sum.n))
	binary.LittleEndian.PutUint32(hdr[20:], sum.crc)
	if _, err := f.WriteAt(hdr[:], 0); err != nil {
		return fail(fmt.Errorf("storage: write %s: %w", path, err))
	}
	if !noSync {
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("storage: fsync %s: %w", path, err))
		}
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("storage: close %s: %w", path, err)
	}
	return int(sum.n), nil
}

func writeFileSync(path string, data []byte, noSync bool) error {
	f, err := openFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("storage: create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("storage: write %s: %w", path, err)
	}
	if !noSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("storage: fsync %s: %w", path, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("storage: close %s: %w", path, err)
	}
	return nil
}

func (w *WAL) syncDir() error { return syncDir(w.dir, w.noSync) }

func syncDir(dir string, noSync bool) error {
	if noSync {
		return nil
	}
	d, err := openFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("storage: open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage: fsync directory %s: %w", dir, err)
	}
	return nil
}

// Load implements Storage: it decodes the snapshot and every record in the
// log after it. A record that does not decode (for example, its type is not
// registered because the protocol package is not imported) is an error
// naming the file and offset.
func (w *WAL) Load() (paxos.Persisted, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var p paxos.Persisted
	if w.closed {
		return p, ErrClosed
	}
	_, snap, err := w.readSnapshot()
	if err != nil {
		return p, err
	}
	if snap != nil {
		v, err := paxos.Decode(snap)
		if err != nil {
			return p, fmt.Errorf("storage: snapshot %s: %w", filepath.Join(w.dir, snapName), err)
		}
		p.Snapshot = v
	}
	data := make([]byte, w.size)
	if _, err := w.f.ReadAt(data, 0); err != nil && w.size > 0 {
		return p, fmt.Errorf("storage: read log %s: %w", w.f.Name(), err)
	}
	off := 0
	for off < len(data) {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		v, err := paxos.Decode(data[off+headerSize : off+headerSize+n])
		if err != nil {
			return p, fmt.Errorf("storage: log %s at offset %d: %w", w.f.Name(), off, err)
		}
		p.Records = append(p.Records, v)
		off += headerSize + n
	}
	return p, nil
}

// Syncs returns how many fsyncs of the log Append has issued (for tests and
// metrics).
func (w *WAL) Syncs() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncs
}

// Stats returns what the WAL wrote since it was opened (for metrics).
func (w *WAL) Stats() WALStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return WALStats{Syncs: w.syncs, Bytes: w.bytes, Snapshots: w.snapshots, SnapshotBytes: w.snapBytes}
}

// Dir returns the WAL's directory.
func (w *WAL) Dir() string { return w.dir }

// Close implements Storage and releases the directory's lock. Appends
// already returned are durable.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	for w.syncing || w.bg || w.tidying > 0 {
		w.cond.Wait()
	}
	w.closed = true
	w.cond.Broadcast()
	var errs []error
	if w.err == nil && !w.noSync {
		if err := w.markF.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("storage: fsync %s: %w", w.markF.Name(), err))
		}
	}
	if err := w.markF.Close(); err != nil {
		errs = append(errs, fmt.Errorf("storage: close mark: %w", err))
	}
	if err := w.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("storage: close log: %w", err))
	}
	errs = append(errs, w.lock.Unlock())
	return errors.Join(errs...)
}

// VerifyFrames checks a log image (the bytes of a wal-*.log file) the way
// OpenWAL does (without a mark: a torn tail is not an error) and returns the
// length of its valid prefix. It is exported for
// tools and fuzzing.
func VerifyFrames(data []byte) (int64, error) {
	off, _, _, err := scanFrames(bytes.Clone(data), "<image>", false)
	return off, err
}
