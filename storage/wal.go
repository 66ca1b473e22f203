package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/paxos-lab/paxos"
)

// On-disk layout of a WAL directory:
//
//	snapshot            the latest snapshot (absent until the first one)
//	wal-<gen>.log       records appended after snapshot generation <gen>
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
const (
	headerSize = 12
	// MaxRecordSize is the largest record a WAL accepts (64 MiB). A larger
	// length in a header is treated as damage.
	MaxRecordSize = 64 << 20
	snapMagic     = "PXSNAP01"
	snapName      = "snapshot"
	snapTmpName   = "snapshot.tmp"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by errors about damaged files that cannot be a torn
// final write: a bad record in the middle of a log, or a damaged snapshot.
var ErrCorrupt = errors.New("storage corrupt")

// WALOptions tunes a WAL.
type WALOptions struct {
	// Logger receives warnings such as a truncated torn tail (default
	// slog.Default()).
	Logger *slog.Logger
	// NoSync skips fsync. It is unsafe against power loss and machine
	// crashes (a killed process is still safe: written data is in the page
	// cache); meant for benchmarks that want to measure the protocol alone.
	NoSync bool
}

// WAL is a Storage in a directory: a write-ahead log plus a snapshot file.
// It is safe for concurrent use; concurrent Appends share fsyncs (group
// commit).
type WAL struct {
	dir    string
	log    *slog.Logger
	noSync bool

	mu      sync.Mutex
	cond    *sync.Cond
	f       *os.File // current log file
	gen     uint64   // generation of the current snapshot (0 = none)
	size    int64    // bytes of valid frames in f
	written uint64   // Appends written to f (monotonic)
	synced  uint64   // Appends known durable
	syncing bool
	err     error // sticky: after a failed write or fsync nothing is trusted
	closed  bool
	syncs   uint64
}

// OpenWAL opens (creating if needed) the WAL in dir. It validates the log:
// a torn final record (a crash in the middle of a write) is truncated with a
// warning; any other damage is an error wrapping ErrCorrupt that names the
// file and offset.
func OpenWAL(dir string, opts WALOptions) (*WAL, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create data directory: %w", err)
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	w := &WAL{dir: dir, log: lg, noSync: opts.NoSync}
	w.cond = sync.NewCond(&w.mu)
	gen, _, err := w.readSnapshot()
	if err != nil {
		return nil, err
	}
	w.gen = gen
	path := w.logPath(gen)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: open log %s: %w; check the --data directory and its permissions", path, err)
	}
	valid, total, _, err := scanLog(f, path, false)
	if err != nil {
		f.Close()
		return nil, err
	}
	if valid < total {
		lg.Warn("storage: truncating torn final record of the log (a write was cut short by a crash)",
			"file", path, "offset", valid, "dropped_bytes", total-valid)
		if err := f.Truncate(valid); err != nil {
			f.Close()
			return nil, fmt.Errorf("storage: truncate torn tail of %s at offset %d: %w", path, valid, err)
		}
		if !w.noSync {
			if err := f.Sync(); err != nil {
				f.Close()
				return nil, fmt.Errorf("storage: fsync %s: %w", path, err)
			}
		}
	}
	if _, err := f.Seek(valid, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: seek %s: %w", path, err)
	}
	w.f, w.size = f, valid
	w.removeStale()
	// The log may have just been created: make its directory entry
	// durable before any Append reports success.
	if err := w.syncDir(); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func (w *WAL) logPath(gen uint64) string {
	return filepath.Join(w.dir, fmt.Sprintf("wal-%016x.log", gen))
}

// removeStale deletes logs of other generations and a leftover temporary
// snapshot: both are garbage from a crash during a snapshot.
func (w *WAL) removeStale() {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return
	}
	cur := filepath.Base(w.logPath(w.gen))
	for _, e := range entries {
		n := e.Name()
		stale := n == snapTmpName
		if strings.HasPrefix(n, "wal-") && strings.HasSuffix(n, ".log") && n != cur {
			if _, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, "wal-"), ".log"), 16, 64); err == nil {
				stale = true
			}
		}
		if stale {
			if err := os.Remove(filepath.Join(w.dir, n)); err != nil {
				w.log.Warn("storage: cannot remove stale file", "file", n, "err", err)
			}
		}
	}
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

// scanLog reads f from the start and returns the end of the last valid frame
// and the file size. A defect that can only be a torn final write (an
// incomplete header or payload at the end, a bad checksum on the final frame,
// or a bad header followed only by zeros) ends the valid part; any other
// defect is an error naming path and offset. With collect, it also returns
// the payloads.
func scanLog(f *os.File, path string, collect bool) (valid, total int64, payloads [][]byte, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("storage: stat %s: %w", path, err)
	}
	if st.IsDir() {
		return 0, 0, nil, fmt.Errorf("storage: log %s is a directory; remove it or use another --data directory", path)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && int64(len(data)) > 0 {
		return 0, 0, nil, fmt.Errorf("storage: read log %s: %w", path, err)
	}
	off, payloads, err := scanFrames(data, path, collect)
	return off, int64(len(data)), payloads, err
}

func scanFrames(data []byte, path string, collect bool) (int64, [][]byte, error) {
	var out [][]byte
	off := 0
	for off < len(data) {
		rest := data[off:]
		if len(rest) < headerSize {
			return int64(off), out, nil // torn header
		}
		n := binary.LittleEndian.Uint32(rest[0:])
		sum := binary.LittleEndian.Uint32(rest[4:])
		hsum := binary.LittleEndian.Uint32(rest[8:])
		if crc32.Checksum(rest[:8], castagnoli) != hsum || n > MaxRecordSize {
			if allZero(rest) {
				return int64(off), out, nil // preallocated or zero-filled tail
			}
			return int64(off), out, fmt.Errorf("storage: log %s at offset %d: damaged record header with data after it: %w; restore the replica's data from a backup or rebuild it from the other replicas", path, off, ErrCorrupt)
		}
		end := headerSize + int(n)
		if len(rest) < end {
			return int64(off), out, nil // torn payload
		}
		if crc32.Checksum(rest[headerSize:end], castagnoli) != sum {
			if len(rest) == end {
				return int64(off), out, nil // the final frame was torn
			}
			return int64(off), out, fmt.Errorf("storage: log %s at offset %d: record checksum mismatch with data after it: %w; restore the replica's data from a backup or rebuild it from the other replicas", path, off, ErrCorrupt)
		}
		if collect {
			out = append(out, rest[headerSize:end])
		}
		off += end
	}
	return int64(off), out, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// appendFrame appends the frame of payload to buf.
func appendFrame(buf, payload []byte) []byte {
	var h [headerSize]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(h[8:], crc32.Checksum(h[:8], castagnoli))
	buf = append(buf, h[:]...)
	return append(buf, payload...)
}

// Append implements Storage: it writes snapshot (if any) and records and
// returns once they are durable. One fsync covers all records of a call, and
// calls that overlap share fsyncs.
func (w *WAL) Append(snapshot any, records []any) error {
	var snap []byte
	if snapshot != nil {
		b, err := paxos.Encode(snapshot)
		if err != nil {
			return fmt.Errorf("storage: encode snapshot: %w", err)
		}
		snap = b
	}
	var buf []byte
	for i, r := range records {
		b, err := paxos.Encode(r)
		if err != nil {
			return fmt.Errorf("storage: encode record %d: %w", i, err)
		}
		if len(b) > MaxRecordSize {
			return fmt.Errorf("storage: record %d is %d bytes, more than the %d a log frame holds", i, len(b), MaxRecordSize)
		}
		buf = appendFrame(buf, b)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if snap != nil {
		if err := w.snapshotLocked(snap); err != nil {
			w.err = err
			return err
		}
	}
	if len(buf) == 0 && snap == nil {
		return nil
	}
	if len(buf) > 0 {
		if _, err := w.f.Write(buf); err != nil {
			w.err = fmt.Errorf("storage: write log %s: %w; the replica must stop", w.f.Name(), err)
			return w.err
		}
		w.size += int64(len(buf))
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
		target := w.written
		w.syncing = true
		f := w.f
		w.mu.Unlock()
		var err error
		if !w.noSync {
			err = f.Sync()
		}
		w.mu.Lock()
		w.syncing = false
		w.syncs++
		if err != nil {
			w.err = fmt.Errorf("storage: fsync log %s: %w; the replica must stop", f.Name(), err)
		} else if target > w.synced {
			w.synced = target
		}
		w.cond.Broadcast()
	}
	return w.err
}

// snapshotLocked writes a snapshot atomically and starts a new log.
func (w *WAL) snapshotLocked(payload []byte) error {
	for w.syncing {
		w.cond.Wait()
	}
	gen := w.gen + 1
	tmp := filepath.Join(w.dir, snapTmpName)
	var hdr [len(snapMagic) + 16]byte
	copy(hdr[:], snapMagic)
	binary.LittleEndian.PutUint64(hdr[8:], gen)
	binary.LittleEndian.PutUint32(hdr[16:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[20:], crc32.Checksum(payload, castagnoli))
	if err := w.writeFileSync(tmp, append(hdr[:], payload...)); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, snapName)); err != nil {
		return fmt.Errorf("storage: install snapshot: %w", err)
	}
	if err := w.syncDir(); err != nil {
		return err
	}
	path := w.logPath(gen)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
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
	old.Close()
	if err := os.Remove(old.Name()); err != nil {
		w.log.Warn("storage: cannot remove the log a snapshot superseded", "file", old.Name(), "err", err)
	}
	return nil
}

func (w *WAL) writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("storage: create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("storage: write %s: %w", path, err)
	}
	if !w.noSync {
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

func (w *WAL) syncDir() error {
	if w.noSync {
		return nil
	}
	d, err := os.Open(w.dir)
	if err != nil {
		return fmt.Errorf("storage: open directory %s: %w", w.dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage: fsync directory %s: %w", w.dir, err)
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

// Dir returns the WAL's directory.
func (w *WAL) Dir() string { return w.dir }

// Close implements Storage. Appends already returned are durable.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	for w.syncing {
		w.cond.Wait()
	}
	w.closed = true
	w.cond.Broadcast()
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("storage: close log: %w", err)
	}
	return nil
}

// VerifyFrames checks a log image (the bytes of a wal-*.log file) the way
// OpenWAL does and returns the length of its valid prefix. It is exported for
// tools and fuzzing.
func VerifyFrames(data []byte) (int64, error) {
	off, _, err := scanFrames(bytes.Clone(data), "<image>", false)
	return off, err
}
