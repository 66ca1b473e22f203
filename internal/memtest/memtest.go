// Package memtest holds what the memory tests and benchmarks of the
// protocol packages share.
package memtest

import "runtime"

// HeapMB returns the live Go heap in MB, measured after two full garbage
// collections (the second frees what finalizers of the first released).
func HeapMB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}
