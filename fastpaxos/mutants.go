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
	// Real by the classic argument: the leader's classic round of a slot
	// at (term, sub) stalls, it recovers the slot at (term, sub+1), and an
	// acceptor that reported to that recovery then takes the older
	// round's late Accept; if the recovery picked another value (the
	// reports it got differ from the earlier round's), both rounds can
	// reach a classic quorum. Neither the search nor the explorer has
	// reached it yet: the two rounds pick the same value unless their
	// reports differ.
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "fastpaxos/accept-ignores-recovery-promise",
		Protocol: "fastpaxos",
		Bug:      "a classic Accept is checked against the leader's term promise only, not the slot's higher recovery promise, so an acceptor that reported its vote to a recovery still votes in the older round",
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			return newReplica(cfg, bugs{acceptTermPromise: true})
		},
	})
}
