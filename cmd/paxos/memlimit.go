package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// memoryLimitUsage documents `paxos serve --memory-limit`.
const memoryLimitUsage = "Go's soft memory limit for this process: auto (the default unless GOMEMLIMIT is set: the collector's headroom is held to half the live heap (at least 64 MiB) instead of GOGC=100's whole live heap), off (Go's defaults, GOGC and GOMEMLIMIT as the environment sets them), or a fixed size such as 512MiB, 2GiB or 300MB (a soft limit: with more live data than that the collector runs often, using up to half the CPU)"

// memAuto is the --memory-limit mode that tracks the live heap.
const memAuto = -1

// autoHeadroomMin is the least headroom, over the live heap, the auto
// limit leaves the collector: with a small heap GOGC=100 decides alone.
const autoHeadroomMin = 64 << 20

// autoLimitEvery is how often the auto mode re-reads the live heap.
const autoLimitEvery = 500 * time.Millisecond

// parseMemoryLimit parses a --memory-limit value: memAuto for "auto", 0 for
// "off", else a size in bytes (suffixes B, KB, MB, GB, KiB, MiB, GiB).
func parseMemoryLimit(s string) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto":
		return memAuto, nil
	case "off":
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"b", 1}}
	num, mult := strings.ToLower(strings.TrimSpace(s)), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) || v*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("bad --memory-limit %q: want auto, off or a positive size such as 512MiB or 2GiB", s)
	}
	if v*float64(mult) < 16<<20 {
		return 0, fmt.Errorf("--memory-limit %q is below 16MiB: the replica would collect garbage all the time; give at least 16MiB", s)
	}
	return int64(v * float64(mult)), nil
}

// applyMemoryLimit sets the process's soft memory limit as --memory-limit
// asks (limit from parseMemoryLimit). In auto mode, and unless GOMEMLIMIT
// is set, it starts a goroutine, stopped by ctx, that keeps the limit at
// the live heap plus max(half of it, autoHeadroomMin): GOGC=100 lets
// the heap reach twice the live data before it collects, which for a
// replica whose state grows (distinct keys) doubles its resident memory.
// The limit moves with the live heap, so it never falls below it and the
// collector's cost per byte allocated stays bounded (about twice
// GOGC=100's on a large heap).
func applyMemoryLimit(ctx context.Context, limit int64) {
	switch {
	case limit > 0:
		debug.SetMemoryLimit(limit)
		return
	case limit == 0 || os.Getenv("GOMEMLIMIT") != "":
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	set := func() {
		metrics.Read(sample)
		v := make([]uint64, len(sample))
		for i, s := range sample {
			if s.Value.Kind() == metrics.KindUint64 {
				v[i] = s.Value.Uint64()
			}
		}
		live := v[0]
		// What the runtime maps besides the heap (stacks, GC metadata,
		// buffers) counts against the limit too.
		other := v[1] - min(v[1], v[2]+v[3]+v[4]+v[5])
		debug.SetMemoryLimit(int64(live + max(live/2, autoHeadroomMin) + other))
	}
	set()
	go func() {
		t := time.NewTicker(autoLimitEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				set()
			}
		}
	}()
}
