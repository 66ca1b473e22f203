package explore

import (
	"bytes"
	"context"
	"hash/maphash"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/longtest"
	_ "github.com/paxos-lab/paxos/protocols"
)

// scripted drives a world by hand, for tests of the model itself.
type scripted struct {
	t     *testing.T
	w     *world
	trace []Action
}

func instOf(m paxos.Message) paxos.Instance {
	v := reflect.ValueOf(m.Body)
	if f := v.FieldByName("Inst"); f.IsValid() {
		return f.Interface().(paxos.Instance)
	}
	return paxos.Instance{}
}

func typeName(m paxos.Message) string { return reflect.TypeOf(m.Body).Name() }

// match selects messages by sender (-1: any), receiver (-1: any), type
// ("" any) and instance (zero: any).
func match(from, to int, typ string, in paxos.Instance) func(paxos.Message) bool {
	return func(m paxos.Message) bool {
		return (from < 0 || int(m.From) == from) && (to < 0 || int(m.To) == to) &&
			(typ == "" || typeName(m) == typ) && (in == paxos.Instance{} || instOf(m) == in)
	}
}

func (s *scripted) do(a Action) {
	s.t.Helper()
	require.True(s.t, s.w.apply(&a), "%v", a)
	s.trace = append(s.trace, a)
}

// deliverAll delivers every message matching pred, including ones sent meanwhile.
func (s *scripted) deliverAll(pred func(paxos.Message) bool) int {
	n := 0
	for {
		i := -1
		for j, p := range s.w.pending {
			if pred(p.m) {
				i = j
				break
			}
		}
		if i < 0 {
			return n
		}
		s.do(Action{Kind: Deliver, Msg: s.w.pending[i].m, key: s.w.pending[i].key})
		n++
	}
}

func (s *scripted) dropAll(pred func(paxos.Message) bool) {
	for i := len(s.w.pending) - 1; i >= 0; i-- {
		if i < len(s.w.pending) && pred(s.w.pending[i].m) {
			s.do(Action{Kind: Drop, Msg: s.w.pending[i].m, key: s.w.pending[i].key})
		}
	}
}

// tickUntil ticks replica i until a message matching pred is in flight.
func (s *scripted) tickUntil(i int, pred func(paxos.Message) bool) {
	s.t.Helper()
	for k := 0; k < 200; k++ {
		for _, p := range s.w.pending {
			if pred(p.m) {
				return
			}
		}
		s.do(Action{Kind: Tick, Replica: paxos.NodeID(i)})
	}
	s.t.Fatalf("replica %d never sent the awaited message", i)
}

// rule4aReplicas builds the EPaxos replicas with the rule-4a bug of issue
// 10 (a restart shrinks the per-key index rule 4a relies on). Once the fix
// is merged, plain epaxos no longer has it and the bug lives on as the
// registered mutant; until then plain epaxos is the buggy one.
func rule4aReplicas(cfg *Config) {
	if m, err := paxos.LookupMutant("epaxos/rule4a-after-restart"); err == nil {
		cfg.New = m.New
		return
	}
	cfg.Protocol = "epaxos"
}

// TestModelExpressesRule4aSchedule plays issue 10's schedule by hand
// through the explorer's own model (its actions, its network, its crash
// and restart, its invariant checks): the model can express the schedule
// and catches the violation it leads to. This is a test of the model, not
// of the search; see TestSearchFindsRule4a for that.
func TestModelExpressesRule4aSchedule(t *testing.T) {
	cfg := Config{Replicas: 5, Walks: 1, MaxDrops: 100000, MaxCrashes: 100}
	rule4aReplicas(&cfg)
	cfg = cfg.withDefaults()
	s := &scripted{t: t, w: newWorld(&cfg, 1, maphash.MakeSeed(), false)}
	any := -1
	delta := paxos.Instance{Replica: 1, Slot: 1}
	gamma := paxos.Instance{Replica: 0, Slot: 1}
	notWM := func(m paxos.Message) bool { return typeName(m) != "Watermark" }
	// (1) δ at 1 reaches 4 only; 1 crashes and restarts.
	s.do(Action{Kind: Propose, Replica: 1, Command: 1})
	s.deliverAll(match(1, 4, "PreAccept", delta))
	s.do(Action{Kind: Crash, Replica: 1})
	s.dropAll(match(1, any, "", paxos.Instance{}))
	s.do(Action{Kind: Restart, Replica: 1})
	// (2) 1 recovers δ; only 2 hears the Prepare; 2 recovers δ through 0 and 3.
	s.tickUntil(1, match(1, any, "Prepare", delta))
	s.deliverAll(match(1, 2, "Prepare", delta))
	s.dropAll(func(m paxos.Message) bool { return m.From == 1 || m.To == 1 })
	s.tickUntil(2, match(2, any, "Prepare", delta))
	s.dropAll(match(2, 1, "", paxos.Instance{}))
	s.dropAll(match(2, 4, "", paxos.Instance{}))
	for k := 0; k < 5; k++ {
		s.deliverAll(func(m paxos.Message) bool {
			return notWM(m) && (m.From == 2 || m.To == 2) && m.From != 4 && m.To != 4 && (m.To != 1 || typeName(m) == "Commit")
		})
		s.dropAll(match(any, 4, "", paxos.Instance{}))
	}
	// (3) 1 restarts again.
	s.do(Action{Kind: Crash, Replica: 1})
	s.do(Action{Kind: Restart, Replica: 1})
	s.dropAll(func(m paxos.Message) bool { return true })
	// (4) γ at 0, pre-accepted unchanged by 1 and 2: fast commit; 4 hears
	// the PreAccept too; 0 and 1 stop.
	s.do(Action{Kind: Propose, Replica: 0, Command: 0})
	s.deliverAll(match(0, 1, "PreAccept", gamma))
	s.deliverAll(match(0, 2, "PreAccept", gamma))
	s.deliverAll(match(0, 4, "PreAccept", gamma))
	s.deliverAll(match(1, 0, "PreAcceptReply", gamma))
	s.deliverAll(match(2, 0, "PreAcceptReply", gamma))
	s.do(Action{Kind: Crash, Replica: 0})
	s.do(Action{Kind: Crash, Replica: 1})
	s.dropAll(func(m paxos.Message) bool { return true })
	// (5) 4 recovers γ through 2 and 3.
	for k := 0; k < 400 && len(s.w.failures) == 0; k++ {
		s.do(Action{Kind: Tick, Replica: 4})
		s.dropAll(func(m paxos.Message) bool { return instOf(m) == delta || !notWM(m) })
		s.deliverAll(func(m paxos.Message) bool { return instOf(m) == gamma })
		s.do(Action{Kind: Tick, Replica: 2})
		s.do(Action{Kind: Tick, Replica: 3})
		s.dropAll(func(m paxos.Message) bool { return instOf(m) == delta || !notWM(m) })
	}
	require.NotEmpty(t, s.w.failures, "the schedule must break an invariant")
	assert.Contains(t, s.w.failures[0], "instance 0.1 decided twice")

	// Replayed from scratch as a schedule, it fails the same way, and it
	// shrinks.
	fails, err := Replay(cfg, 1, s.trace)
	require.NoError(t, err)
	assert.Equal(t, s.w.failures, fails)
	shrunk, fails := shrink(&cfg, 1, s.trace, maphash.MakeSeed())
	require.NotEmpty(t, fails)

	// Saved and read back, the shrunk schedule still fails.
	var buf bytes.Buffer
	require.NoError(t, WriteFile(&buf, File{Protocol: "epaxos", Replicas: 5, Commands: 2, TickStep: cfg.TickStep, Seed: 1, Actions: shrunk}))
	file, err := ReadFile(&buf)
	require.NoError(t, err)
	fails, err = Replay(cfg, file.Seed, file.Actions)
	require.NoError(t, err)
	assert.NotEmpty(t, fails)
	t.Logf("%d actions, %d after shrinking:\n%s", len(s.trace), len(shrunk), Format(shrunk))
	rule4aShrunk = shrunk
}

// rule4aShrunk is the shrunk schedule, for measurements.
var rule4aShrunk []Action

// TestSearchFindsRule4a is the bar issue 10 sets: the randomized search
// (episode mode, the default, guided by coverage) finds the rule-4a
// violation (N = 5, two commands) on its own, from scratch. From seed 1 it
// takes a few seconds (up to some 20 s on two loaded cores; docs/checker.md,
// "paxos explore"), more under the race detector, so it runs with the long tests (CI sets
// PAXOS_LONG_TESTS=1) or when PAXOS_EXPLORE_RULE4A=1, with a budget of
// PAXOS_EXPLORE_BUDGET (default 4m) and PAXOS_EXPLORE_WALKS walks
// (default rule4aWalks). Whether or not it finds it, it logs which stages
// of the hand-made schedule (TestFeaturesMarkRule4aStages) the archive
// reached, and how many walks started from them.
func TestSearchFindsRule4a(t *testing.T) {
	if os.Getenv("PAXOS_EXPLORE_RULE4A") != "1" {
		longtest.Skip(t, "a search of up to 4 minutes (seconds from seed 1)")
	}
	budget := 4 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("PAXOS_EXPLORE_BUDGET")); err == nil {
		budget = d
	}
	walks := rule4aWalks
	if w, err := strconv.Atoi(os.Getenv("PAXOS_EXPLORE_WALKS")); err == nil {
		walks = w
	}
	cfg := Config{Replicas: 5, Commands: 2, Budget: budget, Walks: walks, Seed: 1}
	rule4aReplicas(&cfg)
	cfg = cfg.withDefaults()
	hs := maphash.MakeSeed()
	_, trace, stages := rule4aEpisodes(t, &cfg, hs)
	cfg.Progress = func(p Progress) {
		if p.Elapsed%(30*time.Second) < time.Second {
			t.Logf("%d walks, %d cells, %s", p.Walks, p.Cells, p.Elapsed.Round(time.Second))
		}
	}
	res, ar, err := explore(context.Background(), cfg, hs)
	require.NoError(t, err)
	for si, end := range stages {
		w := newWorld(&cfg, 1, hs, true)
		for i := range trace[:end] {
			w.apply(&trace[i])
		}
		if i, ok := ar.index[w.cellOf(w.features())]; ok {
			t.Logf("stage %d of the hand-made schedule reached as a cell; %d walks started from it", si, ar.cells[i].chosen)
		}
	}
	// How far the archive got along the scenario, by the features that
	// mark its stages (TestFeaturesMarkRule4aStages).
	marks := [][]string{
		{"restart/own-undecided=1"},
		{"cov/recovery-nops=1", "stale/nop-decided", "stale/holder-up=1"},
		{"held/own-nop=1", "stale/nop-decided", "stale/holder-up=1"},
		{"restart/own-nop=1", "stale/nop-decided", "stale/holder-up=1"},
		{"restart/own-nop=1", "stale/nop-decided", "stale/holder-up=1", "decided-without-deps=1"},
		{"restart/own-nop=1", "stale/nop-decided", "stale/deps-decided", "decided-without-deps=1"},
		{"restart/own-nop=1", "stale/nop-decided", "stale/deps-decided", "decided-without-deps=1", "stale/per-holder=2"},
	}
	for k, m := range marks {
		cells, started := 0, 0
		for i := range ar.cells {
			if isSubset(m, ar.cells[i].feats) {
				cells++
				started += ar.cells[i].chosen
			}
		}
		t.Logf("mark %d %v: %d cells, %d walks started from them", k, m, cells, started)
	}
	require.NotNil(t, res.Violation, "%d walks, %d steps, %d states, %d cells in %s", res.Walks, res.Steps, res.States, len(ar.cells), res.Elapsed)
	t.Logf("found after %s, %d walks, %d cells; shrunk %d -> %d actions:\n%s", res.Violation.FoundAfter, res.Walks, len(ar.cells),
		len(res.Violation.Walked), len(res.Violation.Schedule), Format(res.Violation.Schedule))
}

// rule4aWalks bounds TestSearchFindsRule4a's search (about 350 walks a
// second of CPU: some 4 minutes on two idle cores; seed 1 finds it within
// a few thousand).
const rule4aWalks = 150000

func isSubset(sub, set []string) bool {
	for _, x := range sub {
		found := false
		for _, y := range set {
			found = found || x == y
		}
		if !found {
			return false
		}
	}
	return true
}
