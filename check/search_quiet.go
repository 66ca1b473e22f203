package check

import (
	"math/rand/v2"
)

// More quiet runs. The faults that set up one schedule over several round
// trips (the amnesiac bridges, the recovery chains, the lost decisions and
// lost proposers) act undisturbed only in runs where they are alone: among
// the other faults' crashes, cuts and losses they catch the planted bugs
// they aim at in almost no run, alone in a few percent of runs (some in a
// third). Until now a run was quiet only when the swarm drew the recovery
// chains or the bridges and then a coin left one of them alone (about one
// run in four at N = 3 and 5, one in five at N = 7), and at N = 7 the
// bridges were never drawn at all, so the bugs that only such a schedule
// reaches were caught in one or two seeds of 500 or not at all, and a
// reviewer's variant of one of them could slip through. moreQuiet makes
// another share of the runs quiet, spread over the schedules that are
// known to be needed at each size.

// moreQuiet returns, in a quarter of the runs that are not already down
// to one injector, one quiet injector alone instead of on, drawn among
// moreQuietInjectors(n) of the fault kinds the run injects. It draws from
// its own random streams (the draw, then the pick), so the other runs of
// a seed stay what they were. Runs with leader leases (whose clocks may
// not jump, and whose own faults are search_lease.go's) and clusters
// below three replicas are left alone.
func moreQuiet(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	if !moreQuietRuns || leaseTicks > 0 || n < 3 || len(on) <= 1 {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x6d6f72657175)).IntN(2) != 0 {
		return on
	}
	var pool []injector
	for _, in := range moreQuietInjectors(n) {
		if has[in.kind] {
			pool = append(pool, in)
		}
	}
	if len(pool) == 0 {
		return on
	}
	return []injector{pool[rand.New(rand.NewPCG(seed, 0x7069636b32)).IntN(len(pool))]}
}

// moreQuietRuns switches moreQuiet on; tests that choose a run's
// injectors themselves (withInjectors) switch it off.
var moreQuietRuns = true

// moreQuietInjectors lists the quiet injectors moreQuiet draws from in a
// cluster of n replicas, one listed twice drawn twice as often. Measured
// alone (every run one injector, the planted bugs of the catalog): at
// N = 3 the amnesiac bridges catch a HardState persisted after its votes
// were sent (raft/hardstate-after-send) in 4% of runs and a proposer that
// adopts the first reported value (basic/adopt-first-value) in 3%, the
// recovery chains neither, and the lost decisions the three-replica
// shortcut with PreAccept to all (epaxos/shortcut-to-all) in 31%; at N = 5
// and 7 the chains catch basic/adopt-first-value in 4.5%; at N = 7 the
// bridges catch raft/hardstate-after-send in 6% and the lost proposers an
// EPaxos fast quorum reduced to a majority in 6 to 9%. Hence, at N = 7,
// the bridges in half the draws and the chains and lost proposers in a
// quarter each (with a third each, raft/hardstate-after-send was first
// caught at seed 435 instead of 233). The chains' own
// quiet runs at N = 3 (see quietInjectors) already cover the EPaxos
// recovery bugs there.
func moreQuietInjectors(n int) []injector {
	chains := injector{FaultRecovery, injectRecoveryChains}
	bridges := injector{FaultCrash, injectAmnesiacBridges}        // search_persist.go
	lostDecisions := injector{FaultRecovery, injectLostDecisions} // search_lost_decision.go
	lostProposers := injector{FaultWipe, injectLostProposers}     // search_lost_decision.go
	switch n {
	case 3:
		return []injector{bridges, bridges, bridges, lostDecisions}
	case 5:
		return []injector{bridges, chains}
	default:
		return []injector{bridges, bridges, chains, lostProposers}
	}
}

// echoesOnly returns the rejoin echoes among ins (search_persist.go), the
// one injector of persistInjectors that joins the swarm at N = 7 and
// above. The amnesiac bridges stay out of the swarm there (among the
// other faults they cost the kill of epaxos/majority-fast-quorum, whose
// lost proposers need those runs) and act in moreQuiet's runs instead;
// the echoes, which make a replica that catches up get its snapshots and
// retransmissions twice, catch a replica installing a stale snapshot
// (multi/stale-snapshot-install) at N = 7 as they do at 3 and 5, and
// moved no other kill of the catalog at N = 7 past 500 seeds.
func echoesOnly(ins []injector) []injector {
	var out []injector
	for _, in := range ins {
		if in.is(injectRejoinEchoes) {
			out = append(out, in)
		}
	}
	return out
}
