package fastpaxos

import "github.com/paxos-lab/paxos"

// The planted bugs of Fast Paxos (see paxos.Mutant).
func init() {
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "fastpaxos/recovery-ignores-fast-votes",
		Protocol: "fastpaxos",
		Bug:      "recovery after a fast round adopts the vote of the lowest-id reporter at the highest round instead of the value a fast quorum may have chosen (rule O4 ignored)",
		Sizes:    []int{5, 7},
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			return newReplica(cfg, bugs{lowestReporter: true})
		},
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "fastpaxos/fast-quorum-too-small",
		Protocol: "fastpaxos",
		Bug:      "learners take a fast round's value as chosen with one vote fewer than a fast quorum",
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			return newReplica(cfg, bugs{smallFast: true})
		},
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "fastpaxos/snapshot-drops-dedup",
		Protocol: "fastpaxos",
		Bug:      "snapshots leave out the clients' deduplication sessions, so a retry after a restart or a catch-up by snapshot executes twice",
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			return newReplica(cfg, bugs{snapshotDropsDedup: true})
		},
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "fastpaxos/wiped-votes-at-once",
		Protocol: "fastpaxos",
		Bug:      "a replica that lost its disk ignores Config.Rebuild and votes at once on empty state, forgetting its promises and its votes in fast and classic rounds",
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			cfg.Rebuild = false
			return newReplica(cfg, bugs{})
		},
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "fastpaxos/uncoordinated-round-as-classic",
		Protocol: "fastpaxos",
		Bug:      "learners count the acceptors' own recovery round (uncoordinated recovery) as a classic round: a classic quorum of equal votes there is taken as chosen, though acceptors there may vote different values",
		Sizes:    []int{5, 7},
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			return newReplica(cfg, bugs{uncoordinatedClassic: true})
		},
	})
	// An equivalent mutant in this implementation: no run can show it.
	// The slot promise a Recover at (term, sub) leaves binds above the term
	// promise only against classic Accepts of the same term at a lower
	// Sub (one of an older term is refused by the term promise every
	// classic quorum of the newer term's phase 1 holds, which the bug
	// still checks), and a leader never sends one after it recovered the
	// slot: it sends at most one classic Accept a slot in its term, at the
	// Sub of its only phase 1 of that slot, and afterwards only resends
	// it (TestStalledClassicRoundIsOnlyResent). Counted in 500 seeds of
	// every fault at N = 3 and 5, an Accept below the slot's promise is
	// never even taken. Kept in the catalog (and skipped by name in CI) as
	// the record of that check; the schedule its author had in mind, a
	// recovery at (term, sub+1) after a stalled round at (term, sub) that
	// picks another value, would need a leader that recovers a slot it
	// already sent an Accept for.
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "fastpaxos/accept-ignores-recovery-promise",
		Protocol: "fastpaxos",
		Bug:      "a classic Accept is checked against the leader's term promise only, not the slot's higher recovery promise, so an acceptor that reported its vote to a recovery still votes in the older round",
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			return newReplica(cfg, bugs{acceptTermPromise: true})
		},
	})
}
