package explore

import (
	"context"
	"hash/maphash"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDiagRule4a(t *testing.T) {
	if os.Getenv("PAXOS_DIAG") == "" {
		t.Skip()
	}
	cfg := Config{Replicas: 5, Commands: 2, Budget: diagBudget(), Seed: 1, Walks: 0}
	rule4aReplicas(&cfg)
	cfg = cfg.withDefaults()
	hs := maphash.MakeSeed()
	_, trace, stages := rule4aEpisodes(t, &cfg, hs)
	var scells []uint64
	for si, end := range stages {
		w2 := newWorld(&cfg, 1, hs, true)
		for i := range trace[:end] {
			w2.apply(&trace[i])
		}
		t.Logf("stage %d: %v", si, w2.features())
		scells = append(scells, cell(w2.features()))
	}
	res, ar, err := explore(context.Background(), cfg, hs)
	if err != nil {
		t.Fatal(err)
	}
	for si, c := range scells {
		if i, ok := ar.index[c]; ok {
			t.Logf("stage %d cell reached, chosen %d", si, ar.cells[i].chosen)
		}
	}
	t.Logf("%d walks, %d cells, violation %v", res.Walks, len(ar.cells), res.Violation != nil)
	has := func(e *cellEntry, fs ...string) bool {
		for _, f := range fs {
			if !slices.Contains(e.feats, f) {
				return false
			}
		}
		return true
	}
	for _, q := range [][]string{
		{"proposed=1", "stale/nop-decided"},
		{"proposed=1", "restart/own-nop=1"},
		{"proposed=1", "restart/own-nop=1", "stale/nop-decided"},
		{"proposed=1", "held/own-nop=1", "stale/nop-decided"},
		{"proposed=1", "held/own-nop=1", "stale/nop-decided", "stale/holder-up=1"},
		{"proposed=1", "restart/own-nop=1", "stale/nop-decided", "stale/holder-up=1"},
		{"proposed=2", "restart/own-nop=1", "stale/nop-decided", "stale/holder-up=1", "decided=2"},
		{"proposed=2", "restart/own-nop=1", "stale/nop-decided", "stale/holder-up=1", "decided=2", "decided-without-deps=1"},
	} {
		n, ch := 0, 0
		for i := range ar.cells {
			if has(&ar.cells[i], q...) {
				n++
				ch += ar.cells[i].chosen
			}
		}
		t.Logf("%v: %d cells, chosen %d", q, n, ch)
	}
	type cw struct {
		w float64
		i int
	}
	var top []cw
	for i := range ar.cells {
		top = append(top, cw{ar.rarity(i), i})
	}
	slices.SortFunc(top, func(a, b cw) int {
		if a.w > b.w {
			return -1
		}
		return 1
	})
	for _, c := range top[:min(15, len(top))] {
		t.Logf("%.2f chosen %d: %s", c.w, ar.cells[c.i].chosen, strings.Join(ar.cells[c.i].feats, " "))
	}
}

func diagBudget() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("PAXOS_DIAG")); err == nil {
		return d
	}
	return time.Minute
}
