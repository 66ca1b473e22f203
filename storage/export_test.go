package storage

// SetAfterCopyTail makes every background snapshot call f between copying
// the log's records to the next log and installing the snapshot (nil:
// nothing), so a test can append in that window.
func SetAfterCopyTail(f func()) { afterCopyTail = f }
