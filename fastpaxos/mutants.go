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
	// Fifth round.
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "fastpaxos/fast-vote-twice",
		Protocol: "fastpaxos",
		Bug:      "an acceptor that voted in a fast round repeats its vote only when the same value is proposed again and votes a second time for another value in the same round, so two values can each gather a fast quorum",
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			return newReplica(cfg, bugs{voteAgain: true})
		},
	})
	// From N = 5. At N = 3 the fast quorum is all three acceptors, so
	// fast + m - n = m and a value chosen in a fast round is the vote of
	// every reporter: the bug never forces it, but the value left free is
	// then the most voted one, that value, unless the leader placed its
	// own commands in the slot (prefer). It places them only in a slot
	// above every one it knows, and a slot its own acceptor voted in is
	// known; if it placed them first, its acceptor promised the recovery
	// ballot before the fast round's proposal came and refused it, so the
	// value lacks a vote of the three and was not chosen.
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "fastpaxos/o4-strict",
		Protocol: "fastpaxos",
		Bug:      "collision recovery forces a value only when more than fast + m - n of the m reporters voted it in the fast round (> for >=), so a value chosen by a fast quorum whose members are just that many among the reporters is not forced and the leader may propose another",
		Sizes:    []int{5, 7},
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			return newReplica(cfg, bugs{o4Strict: true})
		},
	})
	// Not registered, an equivalent mutant in this implementation: no run
	// can show "a classic Accept checked against the term promise only".
	// The bug lets an acceptor that reported to a leader's Recover of a
	// slot at (term, sub) vote a classic Accept below that ballot but not
	// below its term promise. Of the same term: a leader sends at most one
	// classic Accept a slot in its term, at the Sub of its only phase 1
	// of that slot, and afterwards only resends it, so no Accept of a
	// lower Sub follows a Recover (TestStalledClassicRoundIsOnlyResent).
	// Of an older term: the older round needs a classic quorum of votes,
	// which meets the newer leader's phase-1 quorum; its members refuse
	// the older term once promised (the bug still checks the term
	// promise), so one of them voted before and reported it, and then the
	// newer leader re-proposed the slot in its phase 1 and never recovers
	// it; if none did, the acceptors outside that quorum are too few to
	// decide the older round. Counted in 500 seeds of every fault at N = 3
	// and 5, an Accept below a slot's promise was never even taken. So the
	// bug (bugs.acceptTermPromise) is not in the catalog: a planted bug
	// no run can show would only count as a survivor. The flag stays for
	// the test that shows the lemma.
}
