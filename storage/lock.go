package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// LockName is the file in a data directory that its exclusive lock is taken
// on. It holds the process id of the holder, for the error a second opener
// gets.
const LockName = "LOCK"

// ErrLocked is wrapped by the error LockDir returns when another process
// (or another open WAL in this process) holds the directory.
var ErrLocked = errors.New("data directory in use")

// DirLock is an exclusive lock on a data directory: while one is held, no
// other DirLock on that directory can be taken, in this process or another.
// The operating system releases it when the process exits, however it
// exits.
type DirLock struct {
	dir string
	f   *os.File
}

// LockDir creates dir if needed and takes its exclusive lock (flock(2) on
// dir/LOCK where the platform has it). It fails at once, wrapping ErrLocked
// and naming the holder's pid, when the lock is held.
func LockDir(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create data directory: %w", err)
	}
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: open lock file %s: %w; check the --data directory and its permissions", path, err)
	}
	held, err := flockExclusive(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: lock %s: %w", path, err)
	}
	if held {
		pid := "unknown"
		if b, err := os.ReadFile(path); err == nil {
			if p := string(bytes.TrimSpace(b)); p != "" {
				pid = p
			}
		}
		f.Close()
		return nil, fmt.Errorf("storage: data directory %s is in use by another process (pid %s): %w; stop that process first, or give this one another --data directory", dir, pid, ErrLocked)
	}
	// Record our pid for the message a second opener gets; failing to do
	// so does not weaken the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DirLock{dir: dir, f: f}, nil
}

// Dir returns the locked directory.
func (l *DirLock) Dir() string { return l.dir }

// Unlock releases the lock. It is safe to call more than once and on nil.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	// Closing the descriptor releases the flock.
	if err := f.Close(); err != nil {
		return fmt.Errorf("storage: release lock on %s: %w", l.dir, err)
	}
	return nil
}
