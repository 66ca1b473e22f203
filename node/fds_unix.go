//go:build unix

package node

import "syscall"

// raiseFDLimit raises the soft descriptor limit to the hard one and
// returns the soft limit in force.
func raiseFDLimit() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	if r.Cur < r.Max {
		want := r
		want.Cur = r.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			r = want
		}
	}
	return uint64(r.Cur), true
}
