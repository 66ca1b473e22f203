package storage

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// fdRetryFor is how long opening a file keeps retrying while the process is
// out of file descriptors (EMFILE, ENFILE).
const fdRetryFor = 10 * time.Second

// openFile is os.OpenFile, retried with backoff (1ms doubling to 100ms, for
// up to fdRetryFor) while the process is out of file descriptors, so that a
// burst of connections does not make a replica fail to persist: the
// descriptors come back as the connections' deadlines close them.
func openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	deadline := time.Now().Add(fdRetryFor)
	wait := time.Millisecond
	for {
		f, err := os.OpenFile(name, flag, perm)
		if err == nil || !(errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) || time.Now().After(deadline) {
			return f, err
		}
		time.Sleep(wait)
		wait = min(2*wait, 100*time.Millisecond)
	}
}
