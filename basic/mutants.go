package basic

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/planted"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/quorum"
)

// bugs are planted bugs: each switch turns one line of Basic Paxos into a
// small, plausible mistake. Only the mutants registered below set them; the
// zero value is the correct protocol. They exist to show that the checkers
// (`paxos check --mutant NAME`, `paxos mutants`) catch such mistakes.
type bugs struct {
	ignorePromises   bool // acceptors promise and accept every ballot
	ballotRoundOnly  bool // acceptors compare ballot rounds only, ignoring the node tie-break
	adoptFirstValue  bool // the proposer adopts the first accepted value reported, not the highest ballot's
	noPersistPromise bool // promises are not written to durable storage
	noPersistAccept  bool // accepted values are not written to durable storage
	commitOwnValue   bool // a Commit is applied to the value the local acceptor holds, whatever its ballot
	countPromises    bool // phase 1 counts Promise messages, not the acceptors that sent them
	countAccepts     bool // phase 2 counts Accepted messages, not the acceptors that sent them
	fillerNop        bool // a hole filler proposes its no-op even when phase 1 found an accepted value
	catchUpAccepted  bool // catch-up answers a slot's accepted but undecided value as decided
	// snapshotDropsDedup leaves the clients' dedup sessions out of snapshots.
	snapshotDropsDedup bool
	// acceptKeepsPromise: accepting (b, v) leaves the promise where it
	// was instead of raising it to b (a third-round variant).
	acceptKeepsPromise bool
	// adoptRoundOnly: the proposer compares the accepted ballots the
	// promises report by round only (a fourth-round variant).
	adoptRoundOnly bool
	// promiseReportsPromised: a Promise reports the acceptor's promised
	// ballot as the ballot of its accepted value (a fifth-round variant).
	promiseReportsPromised bool
}

// higherAccepted reports whether an accepted ballot a reported in a
// promise beats the highest one the proposer holds (under the planted bug
// adoptRoundOnly, by round only: a tie in round keeps the first).
func (p *Proposer) higherAccepted(a Ballot) bool {
	if p.bug.adoptRoundOnly {
		return p.highest.Round < a.Round
	}
	return p.highest.Less(a)
}

// counted is the member a reply from `from` adds to the set of acceptors
// that answered; with count (a planted bug) replies are tallied by
// message (planted.ByMessage).
func counted(set quorum.Set, from paxos.NodeID, count bool) int {
	if count {
		return planted.ByMessage(set, int(from), quorum.MaxReplicas)
	}
	return int(from)
}

// refuses reports whether the acceptor must refuse ballot b.
func (a *Acceptor) refuses(b Ballot) bool {
	switch {
	case a.bug.ignorePromises:
		return false
	case a.bug.ballotRoundOnly:
		return b.Round < a.Promised.Round
	}
	return b.Less(a.Promised)
}

// commitValue is the value a Commit for slot s carrying v decides.
func (r *Replica) commitValue(s uint64, v []paxos.Command) []paxos.Command {
	if st := r.slots[s]; r.bug.commitOwnValue && st != nil && len(st.acc.Value) > 0 {
		return st.acc.Value
	}
	return v
}

// storeSnapshot is the store's snapshot; under the planted bug
// snapshotDropsDedup it leaves the clients' sessions out.
func (r *Replica) storeSnapshot() kv.Snapshot {
	snap := r.store.Snapshot()
	if r.bug.snapshotDropsDedup {
		snap.Sessions = nil
	}
	return snap
}

// withBug returns a constructor of Basic Paxos replicas with one bug set.
func withBug(b bugs) paxos.Constructor {
	return func(cfg paxos.Config) (paxos.Replica, error) { return newReplica(cfg, b) }
}

// majorityMinus builds Basic Paxos with a phase-1 (phase 1) or phase-2
// majority one smaller than it must be.
func majorityMinus(phase int) paxos.Constructor {
	return func(cfg paxos.Config) (paxos.Replica, error) {
		if cfg.N < 1 || cfg.N > quorum.MaxReplicas {
			return nil, fmt.Errorf("basic: %w: N=%d out of range 1..%d", paxos.ErrConfig, cfg.N, quorum.MaxReplicas)
		}
		m := cfg.N/2 + 1
		q1, q2 := m, m
		if phase == 1 {
			q1--
		} else {
			q2--
		}
		cfg.Quorums = planted.Quorums(cfg.N, q1, q2)
		return newReplica(cfg, bugs{})
	}
}

func init() {
	for _, m := range []paxos.Mutant{
		{Name: "basic/ignore-promises", Bug: "acceptors promise and accept every ballot, ignoring their earlier promises",
			New: withBug(bugs{ignorePromises: true})},
		{Name: "basic/ballot-round-only", Bug: "acceptors compare ballot rounds only, so a ballot of the same round from a lower node id is not refused (off by one in the tie-break)",
			New: withBug(bugs{ballotRoundOnly: true})},
		{Name: "basic/adopt-first-value", Bug: "the proposer adopts the first accepted value reported in the promises instead of the one with the highest ballot",
			New: withBug(bugs{adoptFirstValue: true})},
		{Name: "basic/promise-not-persisted", Bug: "an acceptor's promise is not persisted, so it forgets the promise when it restarts",
			New: withBug(bugs{noPersistPromise: true})},
		{Name: "basic/accept-not-persisted", Bug: "an acceptor's accepted value is not persisted, so a restart forgets a vote that may have chosen a value",
			New: withBug(bugs{noPersistAccept: true})},
		{Name: "basic/commit-own-value", Bug: "a Commit is applied to the value the replica's acceptor holds for the slot, without checking that it was accepted at the deciding ballot",
			New: withBug(bugs{commitOwnValue: true})},
		// At N = 3 the two duplicate-counting bugs change nothing: the
		// proposer's own acceptor always promises its fresh ballot and
		// accepts its Accept (a higher Prepare during phase 1 makes the
		// proposer yield first), so its own vote and the first reply
		// already make a majority and a second copy of that reply is never
		// counted.
		{Name: "basic/promise-counts-duplicates", Bug: "phase 1 counts Promise messages instead of distinct acceptors, so a duplicated Promise stands in for a missing acceptor",
			Sizes: []int{5}, New: withBug(bugs{countPromises: true})},
		{Name: "basic/accepted-counts-duplicates", Bug: "phase 2 counts Accepted messages instead of distinct acceptors, so a duplicated Accepted stands in for a missing acceptor",
			Sizes: []int{5}, New: withBug(bugs{countAccepts: true})},
		{Name: "basic/filler-ignores-accepted", Bug: "a replica filling a hole proposes its no-op even when phase 1 reported a value already accepted in the slot, which may have been chosen",
			New: withBug(bugs{fillerNop: true})},
		{Name: "basic/catchup-sends-accepted", Bug: "a catch-up answer carries slots the replica only accepted, not learned, as decided",
			New: withBug(bugs{catchUpAccepted: true})},
		{Name: "basic/snapshot-drops-dedup", Bug: "snapshots leave out the clients' deduplication sessions, so a retry after a restart or a catch-up by snapshot executes twice",
			New: withBug(bugs{snapshotDropsDedup: true})},
		// From N = 5 only. The harm needs an acceptor X that accepts
		// (b2, v2) without having promised b2, then a late Accept of a
		// lower b1 with v1 != v2. b1's proposer P accepted (b1, v1) itself
		// when its phase 1 ended (had it promised b2 first, it would have
		// yielded the slot), so b2's phase-1 quorum, which did not report
		// v1, holds neither P nor X: a majority of the other N - 2
		// replicas, which takes N >= 5. testdata/accept_keeps_promise.txt
		// scripts it at N = 5.
		{Name: "basic/accept-keeps-promise", Bug: "accepting a proposal does not raise the acceptor's promise to its ballot, so a late Accept of a lower ballot still in flight overwrites the higher-ballot value it accepted",
			Sizes: []int{5}, New: withBug(bugs{acceptKeepsPromise: true})},
		{Name: "basic/adopt-round-only", Bug: "the proposer compares the accepted ballots its promises report by round only, so of two values accepted in one round by different proposers it may adopt the lower ballot's, not the one that may have been chosen (off by one in the tie-break)",
			New: withBug(bugs{adoptRoundOnly: true})},
		// Fifth round.
		{Name: "basic/promise-reports-promised-ballot", Bug: "promised and accepted ballots merged: a Promise reports the acceptor's promised ballot (the one it is answering) as the ballot of the value it accepted, so the proposer can adopt an older value over the one that may have been chosen",
			New: withBug(bugs{promiseReportsPromised: true})},
		{Name: "basic/phase1-quorum-minus-one", Bug: "phase 1 waits for a majority minus one promises",
			New: majorityMinus(1)},
		{Name: "basic/phase2-quorum-minus-one", Bug: "a value counts as chosen with a majority minus one acceptances",
			New: majorityMinus(2)},
		{Name: "basic/wiped-votes-at-once", Bug: "a replica that lost its disk ignores Config.Rebuild and votes at once on empty state, forgetting its promises and accepted values",
			New: func(cfg paxos.Config) (paxos.Replica, error) {
				cfg.Rebuild = false
				return New(cfg)
			}},
	} {
		m.Protocol = "basic"
		paxos.RegisterMutant(m)
	}
}
