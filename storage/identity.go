package storage

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// IdentityName is the file in a data directory that says whose it is.
const IdentityName = "IDENTITY"

// ErrLost is wrapped by errors about storage that may have gone backwards:
// records a replica had made durable (and may have acted on) are missing, so
// starting it as a voter could break consensus. The way out is to rebuild
// the replica from its peers (`paxos serve --rebuild`).
var ErrLost = errors.New("storage lost or went backwards")

// Identity is the content of a data directory's IDENTITY file, written
// (atomically, fsynced) at the first start of a replica on the directory.
// A directory that holds records but no identity, or the identity of
// another cluster or replica, is refused.
type Identity struct {
	// Cluster is the cluster file's name.
	Cluster string `json:"cluster"`
	// Replica is the replica id.
	Replica int `json:"replica"`
	// Incarnation is a random id chosen when the directory was created
	// (or rebuilt): two directories with different incarnations never
	// hold the same replica's history.
	Incarnation string `json:"incarnation"`
	// Created is when the directory was created (or rebuilt).
	Created time.Time `json:"created"`
	// Rebuilding says the directory was started empty by a rebuild: every
	// start passes paxos.Config.Rebuild until the protocol reports the
	// rebuild finished.
	Rebuilding bool `json:"rebuilding,omitempty"`
	// Rebuilt, when set, is when the last rebuild finished.
	Rebuilt *time.Time `json:"rebuilt,omitempty"`
	// Refused, when set, is why a peer refused this storage (it went
	// backwards): the replica must be rebuilt before it runs again.
	Refused string `json:"refused,omitempty"`
}

// NewIncarnation returns a fresh random incarnation id.
func NewIncarnation() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// ReadIdentity returns the identity of dir, or nil when it has none.
func ReadIdentity(dir string) (*Identity, error) {
	path := filepath.Join(dir, IdentityName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: read %s: %w; check the --data directory and its permissions", path, err)
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil || id.Incarnation == "" {
		if err == nil {
			err = errors.New("no incarnation")
		}
		return nil, fmt.Errorf("storage: identity file %s is damaged (%v): %w; start the replica with --rebuild to move the directory's contents aside and rebuild it from its peers", path, err, ErrCorrupt)
	}
	return &id, nil
}

// WriteIdentity writes dir's identity atomically: a temporary file,
// fsynced, renamed over IDENTITY, then the directory fsynced.
func WriteIdentity(dir string, id Identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("storage: encode identity: %w", err)
	}
	tmp := filepath.Join(dir, IdentityName+".tmp")
	if err := writeFileSync(tmp, append(b, '\n'), false); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, IdentityName)); err != nil {
		return fmt.Errorf("storage: install identity: %w", err)
	}
	return syncDir(dir, false)
}

// HasState reports whether dir holds records of a WAL: a snapshot, a
// non-empty log, or a mark of a non-empty position; that is whether a
// replica ever persisted anything there. The empty log and mark OpenWAL
// creates on an empty directory are not state. A missing directory has
// none.
func HasState(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: read data directory %s: %w", dir, err)
	}
	for _, e := range entries {
		n := e.Name()
		if n == snapName || n == snapTmpName {
			return true, nil
		}
		if _, ok := logGen(n); ok {
			if info, err := e.Info(); err != nil || info.Size() > 0 {
				return true, nil
			}
		}
		if n == markName {
			f, err := os.Open(filepath.Join(dir, n))
			if err != nil {
				return true, nil
			}
			m, ok, err := readMark(f, f.Name())
			f.Close()
			if err != nil || (ok && (m.gen > 0 || m.size > 0)) {
				return true, nil
			}
		}
	}
	return false, nil
}

// HasWAL reports whether dir holds the mark file every WAL writes when it
// is first opened.
func HasWAL(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, markName))
	return err == nil
}

// MoveAside moves every file of dir except its lock into a new sibling
// directory <dir>.damaged-<UTC time> and returns that directory's path.
// Nothing is deleted: the old state stays there for inspection. dir is left
// empty but for the lock (which the caller should hold).
func MoveAside(dir string, now time.Time) (string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("storage: read data directory %s: %w", dir, err)
	}
	var move []string
	for _, e := range entries {
		if e.Name() != LockName {
			move = append(move, e.Name())
		}
	}
	if len(move) == 0 {
		return "", nil
	}
	clean := filepath.Clean(dir)
	dst := clean + ".damaged-" + now.UTC().Format("20060102T150405.000000000Z")
	if err := os.Mkdir(dst, 0o755); err != nil {
		return "", fmt.Errorf("storage: create %s to move the old state aside: %w", dst, err)
	}
	for _, n := range move {
		if err := os.Rename(filepath.Join(dir, n), filepath.Join(dst, n)); err != nil {
			return dst, fmt.Errorf("storage: move %s aside into %s: %w", n, dst, err)
		}
	}
	if err := syncDir(dst, false); err != nil {
		return dst, err
	}
	return dst, syncDir(dir, false)
}
