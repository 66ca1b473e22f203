package explore

import (
	"context"
	"hash/maphash"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/epaxos"
)

func TestDiagEpisodes(t *testing.T) {
	if os.Getenv("DIAG") == "" {
		t.Skip()
	}
	cfg := Config{Replicas: 5, Commands: 2, Walks: 1}
	rule4aReplicas(&cfg)
	cfg = cfg.withDefaults()
	hs := maphash.MakeSeed()
	w := newWorld(&cfg, 1, hs, true)
	var trace []Action
	do := func(a Action) bool {
		if w.apply(&a) {
			trace = append(trace, a)
		}
		return len(w.failures) == 0
	}
	e := newEpisodes(7, 5)
	e.lifo = 0
	grp := func(ids ...int) []bool {
		in := make([]bool, 5)
		for _, i := range ids {
			in[i] = true
		}
		return in
	}
	var stages []int
	var stageCells []uint64
	mark := func(name string) {
		stages = append(stages, len(trace))
		stageCells = append(stageCells, w.symCell())
		t.Logf("stage %s score %d", name, w.score())
		t.Logf("stage %s: %d actions, pending %d, failures %v", name, len(trace), len(w.pending), w.failures)
		for _, l := range w.learned {
			t.Logf("   learned r%d %v %v seq %d deps %v", l.Replica, l.Decision.Instance, l.Decision.Commands, l.Decision.Seq, l.Decision.Deps)
		}
		for _, p := range w.pending[:0] {
			t.Logf("   pending %d->%d %T", p.m.From, p.m.To, p.m.Body)
		}
	}
	delta := paxos.Instance{Replica: 1, Slot: 1}
	mark("start")
	do(Action{Kind: Propose, Replica: 1, Command: 1})
	for _, p := range append([]inflight(nil), w.pending...) {
		if p.m.To == 4 {
			do(Action{Kind: Deliver, Msg: p.m, key: p.key})
		}
	}
	do(Action{Kind: Crash, Replica: 1, Outbox: true})
	do(Action{Kind: Restart, Replica: 1})
	mark("delta at 4, 1 restarted")
	e.runWith(w, runPlan{fast: -1, in: grp(1), ticks: 8}, do)
	mark("1 prepares")
	for _, p := range append([]inflight(nil), w.pending...) {
		if p.m.From == 1 && p.m.To == 2 && typeName(p.m) == "Prepare" {
			do(Action{Kind: Deliver, Msg: p.m, key: p.key})
		}
	}
	e.runWith(w, runPlan{fast: -1, in: grp(0, 2, 3), ticks: 16, edgeDrop: true}, do)
	mark("2 recovers")
	e.runWith(w, runPlan{fast: -1, in: grp(0, 1, 2, 3), ticks: 8, edgeDrop: true}, do)
	mark("nop at 0123")
	do(Action{Kind: Crash, Replica: 1})
	do(Action{Kind: Restart, Replica: 1})
	mark("1 restarted again")
	do(Action{Kind: Propose, Replica: 0, Command: 0})

	for _, p := range append([]inflight(nil), w.pending...) {
		if p.m.From == 0 && (p.m.To == 1 || p.m.To == 2 || p.m.To == 4) && typeName(p.m) == "PreAccept" {
			do(Action{Kind: Deliver, Msg: p.m, key: p.key})
		}
	}
	e.runWith(w, runPlan{fast: -1, in: grp(0, 1, 2), holdType: reflect.TypeOf(epaxos.Commit{})}, do)
	mark("gamma fast")
	do(Action{Kind: Crash, Replica: 0})
	do(Action{Kind: Crash, Replica: 1})
	mark("0 1 down")
	for k := 0; k < 20 && len(w.failures) == 0; k++ {
		e.runWith(w, runPlan{in: grp(2, 3, 4), ticks: 8, fast: 4, holdTopic: delta, holdInst: true}, do)
	}
	mark("end")
	scfg := Config{Replicas: 5, Commands: 2, Budget: 1 * time.Second, Seed: 1}
	rule4aReplicas(&scfg)
	res, ar, err := explore(context.Background(), scfg, hs)
	t.Logf("search: %+v %v", res, err)
	for k, c := range stageCells {
		i, ok := ar.index[c]
		if ok {
			t.Logf("stage %d in archive: score %d chosen %d len %d", k, ar.cells[i].score, ar.cells[i].chosen, len(ar.cells[i].sched))
		} else {
			t.Logf("stage %d NOT in archive", k)
		}
	}
	for si, end := range stages {
		hits, tries := 0, 200
		reach := map[int]int{}
		for s := 0; s < tries; s++ {
			seen := newVisited()
			_, cells, w2 := walk(context.Background(), &cfg, 1, trace[:end], uint64(1000+s), hs, seen)
			if len(w2.failures) > 0 {
				hits++
			}
			for _, c := range cells {
				for k := si + 1; k < len(stageCells); k++ {
					if c.cell == stageCells[k] {
						reach[k]++
					}
				}
			}
		}
		t.Logf("from stage %d (%d actions): %d/%d; later stage cells reached: %v", si, end, hits, tries, reach)
	}
}
