//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package storage

import "os"

// flockExclusive is a no-op where flock(2) is not available: the lock file
// is written but does not exclude a second opener. Run one process per
// data directory on such platforms.
func flockExclusive(f *os.File) (held bool, err error) { return false, nil }
