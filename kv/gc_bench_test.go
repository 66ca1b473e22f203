package kv_test

import (
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// gcKeys is how many puts one op of BenchmarkStoreGC makes: 2M distinct keys,
// then 2M more.
const gcKeys = 4_000_000

// BenchmarkStoreGC: one op puts 2M distinct 17-byte keys with 16-byte
// values into an empty store, then 2M more (each key a fresh string, as a
// decoded command's is), and reports the share of the process's CPU the
// garbage collector spent (gc-cpu-%, its mark phases and pauses), the
// heap the collector must scan at the end (scan-MB, runtime/metrics'
// /gc/scan/heap:bytes), the live heap after a collection (live-MB),
// ns/put and the collector's CPU per put (gc-ns/put). A store whose keys and values the collector must mark costs
// more of all three as it grows; one whose data it skips, only ns/put.
func BenchmarkStoreGC(b *testing.B) { benchGC(b, gcKeys) }

// BenchmarkStoreGCReuse: as BenchmarkStoreGC, but the 4M puts cycle over
// 200,000 keys, so most overwrite a value: live-MB is what a store with
// key reuse holds (flat: it must not grow with the puts).
func BenchmarkStoreGCReuse(b *testing.B) { benchGC(b, 200_000) }

// lastKey keeps benchGC's keys on the heap.
var lastKey string

func benchGC(b *testing.B, keys int) {
	samples := []metrics.Sample{
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"},
		{Name: "/cpu/classes/idle:cpu-seconds"},
		{Name: "/gc/scan/heap:bytes"},
	}
	read := func() (gc, busy float64) {
		metrics.Read(samples)
		return samples[0].Value.Float64(), samples[1].Value.Float64() - samples[2].Value.Float64()
	}
	var gcSum, busySum, scan, live float64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st := kv.New()
		runtime.GC()
		gc0, busy0 := read()
		buf := make([]byte, 0, 16)
		for j := 0; j < gcKeys; j++ {
			buf = strconv.AppendUint(append(buf[:0], "key-"...), uint64(100_000_000+j%keys), 10)
			buf = append(buf, "-pad"...)
			lastKey = string(buf) // on the heap, as a decoded command's key is
			st.ApplyKV(paxos.OpPut, lastKey, "0123456789abcdef")
		}
		gc1, busy1 := read()
		gcSum += gc1 - gc0
		busySum += busy1 - busy0
		b.StopTimer()
		scan += float64(samples[3].Value.Uint64())
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		live += float64(ms.HeapAlloc)
		runtime.KeepAlive(st)
		b.StartTimer()
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*gcKeys), "ns/put")
	b.ReportMetric(100*gcSum/busySum, "gc-cpu-%")
	b.ReportMetric(gcSum*1e9/float64(b.N*gcKeys), "gc-ns/put")
	b.ReportMetric(scan/float64(b.N)/(1<<20), "scan-MB")
	b.ReportMetric(live/float64(b.N)/(1<<20), "live-MB")
}
