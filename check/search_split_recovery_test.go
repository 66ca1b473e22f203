package check

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/epaxos"
	"github.com/paxos-lab/paxos/sim"
)

// TestDevSplitChain is a measuring tool, skipped unless SPLITDEV is set:
// with the split recoveries alone, it counts over SPLITSEEDS seeds at
// SPLITN replicas how many runs reach each step of the schedule of
// a promise kept in memory only on the injector's instance γ (run the
// mutant named by SPLITMUT, e.g. epaxos/volatile-promise or
// epaxos/promise-not-persisted, or the protocol SPLITPROTO). SPLITLOG=SEED
// logs γ's messages in that seed (SPLITALLMSG=1 adds every step of L),
// SPLITSHOW=1 prints the steps each seed reached, SPLITALL=1 runs every
// fault instead of the split recoveries alone. Example:
//
//	SPLITDEV=1 SPLITN=3 SPLITSEEDS=500 SPLITMUT=epaxos/volatile-promise \
//	  go test ./check -run TestDevSplitChain -v
func TestDevSplitChain(t *testing.T) {
	if os.Getenv("SPLITDEV") == "" {
		t.Skip("a measuring tool: set SPLITDEV=1, SPLITN, SPLITSEEDS and SPLITMUT or SPLITPROTO")
	}
	n, _ := strconv.Atoi(os.Getenv("SPLITN"))
	seeds, _ := strconv.Atoi(os.Getenv("SPLITSEEDS"))
	var newR func(paxos.Config) (paxos.Replica, error)
	proto := os.Getenv("SPLITPROTO")
	if proto == "" {
		m, err := paxos.LookupMutant(os.Getenv("SPLITMUT"))
		require.NoError(t, err)
		newR = m.New
	}
	alone := os.Getenv("SPLITALL") == ""
	cnt := map[string]int{}
	faults := []string{FaultCrash}
	if !alone {
		faults = AllFaults
	}
	run := func() {
		for seed := 1; seed <= seeds; seed++ {
			if os.Getenv("SPLITLOG") != "" && os.Getenv("SPLITLOG") != strconv.Itoa(seed) {
				continue
			}
			hit := map[string]bool{}
			var gamma paxos.Instance
			var granted epaxos.Ballot
			grantInc := -1
			splitTrace = func(o sim.Output, l, lo, hi, phase int, now time.Duration) {
				id := int(o.Replica)
				if id == l && o.Proposed != nil && o.Proposed.Key == "split-recovery" {
					for _, mm := range o.Ready.Messages {
						if p, ok := mm.Body.(epaxos.PreAccept); ok {
							gamma = p.Inst
						}
					}
				}
				if gamma == (paxos.Instance{}) {
					return
				}
				if os.Getenv("SPLITLOG") == strconv.Itoa(seed) {
					var in string
					if o.Input != nil {
						in = fmt.Sprintf("%d:%s", o.Input.From, brief(o.Input.Body, gamma))
					}
					var outs []string
					for _, mm := range o.Ready.Messages {
						if x := brief(mm.Body, gamma); x != "" {
							outs = append(outs, fmt.Sprintf("->%d %s", mm.To, x))
						}
					}
					if os.Getenv("SPLITALLMSG") != "" && id == l {
						t.Logf("ALL %v r%d in=%T out=%d p=%d", now, id, func() any {
							if o.Input != nil {
								return o.Input.Body
							}
							return nil
						}(), len(o.Ready.Messages), len(o.Ready.Persist))
					}
					if (o.Input != nil && brief(o.Input.Body, gamma) != "") || len(outs) > 0 {
						t.Logf("s%d %v ph%d L%d lo%d hi%d | r%d.%d in=%s p=%d out=%v", seed, now, phase, l, lo, hi, id, o.Incarnation, in, len(o.Ready.Persist), outs)
					}
				}
				for _, mm := range o.Ready.Messages {
					if p, ok := mm.Body.(epaxos.Prepare); ok && p.Inst == gamma {
						switch id {
						case hi:
							hit["1 hi recovers γ"] = true
						case lo:
							hit["1 lo recovers γ"] = true
						case l:
							hit["1 L recovers γ"] = true
						}
					}
				}
				if id != l || o.Input == nil {
					return
				}
				// L's refusal at hi's ballot is not counted: the step that
				// handles it returns nothing, and the simulator shows only
				// steps that return something.
				switch b := o.Input.Body.(type) {
				case epaxos.Prepare:
					if b.Inst != gamma {
						return
					}
					if int(o.Input.From) == hi {
						hit["3 hi's Prepare(γ) reaches L"] = true
						ok := false
						for _, mm := range o.Ready.Messages {
							if r, isR := mm.Body.(epaxos.PrepareReply); isR && r.OK && r.Status != epaxos.StatusCommitted {
								ok = true
							}
						}
						if ok && len(o.Ready.Persist) == 0 {
							hit["4 ...granted unpersisted"] = true
							granted, grantInc = b.Ballot, o.Incarnation
						}
					}
					if granted != 0 && b.Ballot < granted && o.Incarnation != grantInc {
						hit["5 lower Prepare at L after its restart"] = true
						for _, mm := range o.Ready.Messages {
							if r, ok := mm.Body.(epaxos.PrepareReply); ok && r.OK && r.Status != epaxos.StatusCommitted {
								hit["6 ...granted"] = true
							}
						}
					}
				}
			}
			res, err := Run(Options{New: newR, Protocol: proto, Replicas: n, Seed: uint64(seed), Faults: faults,
				Replica: paxos.Config{InitialLeader: -1}})
			splitTrace = nil
			require.NoError(t, err)
			for k := range hit {
				cnt[k]++
			}
			if os.Getenv("SPLITSHOW") != "" && len(hit) > 0 {
				ks := []string{}
				for k := range hit {
					ks = append(ks, k[:1])
				}
				slices.Sort(ks)
				t.Logf("hits %d %v ok=%v", seed, ks, res.OK())
			}
			if !res.OK() {
				cnt["9 caught"]++
				t.Logf("seed %d: %v", seed, res.Failures[0])
			}
		}
	}
	if alone {
		withInjectors(t, []injector{{FaultCrash, injectSplitRecoveries}}, run)
	} else {
		run()
	}
	t.Logf("n=%d seeds=%d %v", n, seeds, cnt)
}

func brief(b any, g paxos.Instance) string {
	switch m := b.(type) {
	case epaxos.Prepare:
		if m.Inst == g {
			return fmt.Sprintf("Prep(%v)", m.Ballot)
		}
	case epaxos.PrepareReply:
		if m.Inst == g {
			return fmt.Sprintf("PrepR(%v,%v,%v)", m.Ballot, m.OK, m.Status)
		}
	case epaxos.PreAccept:
		if m.Inst == g {
			return fmt.Sprintf("PA(%v,%v)", m.Ballot, m.Deps)
		}
	case epaxos.PreAcceptReply:
		if m.Inst == g {
			return fmt.Sprintf("PAR(%v,%v,%v)", m.Ballot, m.OK, m.Deps)
		}
	case epaxos.Accept:
		if m.Inst == g {
			return fmt.Sprintf("Acc(%v,%v)", m.Ballot, m.Deps)
		}
	case epaxos.AcceptReply:
		if m.Inst == g {
			return fmt.Sprintf("AccR(%v,%v)", m.Ballot, m.OK)
		}
	case epaxos.Commit:
		if m.Inst == g {
			return fmt.Sprintf("Commit(%v)", m.Deps)
		}
	}
	return ""
}

// The split recoveries, alone, keep correct protocols correct: EPaxos,
// whose recoveries they compose, over 10 seeds at N = 3, 5 and 7 (300
// seeds at each size pass, see docs/checker.md), the others over 2 at N = 3
// and 5.
func TestSplitRecoveriesKeepCorrectProtocolsCorrect(t *testing.T) {
	withInjectors(t, []injector{{FaultRecovery, injectSplitRecoveries}}, func() {
		for _, proto := range []string{"epaxos", "basic", "multi", "fastpaxos", "raft"} {
			for _, n := range []int{3, 5, 7} {
				seeds := uint64(2)
				switch {
				case proto == "epaxos":
					seeds = 10
				case n == 7:
					continue
				}
				for seed := uint64(1); seed <= seeds; seed++ {
					res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultRecovery},
						Replica: paxos.Config{InitialLeader: -1}})
					require.NoError(t, err)
					require.Empty(t, res.Failures, "%s n=%d seed=%d", proto, n, seed)
				}
			}
		}
	})
}

// The split recoveries, alone, catch both EPaxos promises kept in memory
// only (a Prepare granted without persisting the promise it raised, or
// granted at a ballot first seen in a refusal), at N = 3 and 5, within a
// few seeds: the two recoveries decide γ differently.
func TestSplitRecoveriesCatchPromisesInMemory(t *testing.T) {
	for _, name := range []string{"epaxos/promise-not-persisted", "epaxos/volatile-promise"} {
		for _, n := range []int{3, 5} {
			first := firstKillWith(t, []injector{{FaultRecovery, injectSplitRecoveries}}, []string{FaultRecovery}, name, n, 30)
			require.Positive(t, first, "%s at N = %d survived 30 seeds of split recoveries alone", name, n)
			t.Logf("%s n=%d caught at seed %d", name, n, first)
		}
	}
}
