// Package proccpu reads the CPU time the running process has used, for the
// benchmarks that report CPU per operation: on a machine shared with other
// jobs it is less disturbed than elapsed time, which also counts the time
// other processes held the cores.
package proccpu

import "time"

// Time returns the user and system CPU time this process has used, over
// all its threads, or 0 where the platform does not report it.
func Time() time.Duration { return processTime() }
