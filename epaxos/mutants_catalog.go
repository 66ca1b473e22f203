package epaxos

import (
	"github.com/paxos-lab/paxos"
)

// plantedBugs are planted bugs: each switch turns one line of EPaxos into a
// small, plausible mistake. Only the mutants registered below set them; the
// zero value is the correct protocol. They exist to show that the checkers
// (`paxos check --mutant NAME`, `paxos mutants`) catch such mistakes.
type plantedBugs struct {
	shortcutToAll     bool // N = 3: commit after one changed PreAccept reply although PreAccept went to both peers
	mergedBallots     bool // a Prepare reply reports the promised ballot as the ballot of the last vote
	tieLocalFirst     bool // equal seqs in a component: this replica's own instances first
	writeIgnoresReads bool // a write does not depend on the reads of its key
	noPersistVote     bool // PreAccept and Accept votes are not written to durable storage
	snapshotNoDedup   bool // snapshots leave out the clients' deduplication state
	fastIgnoresChange bool // every PreAccept reply counts toward the fast path, changed or not
	lastReplyDeps     bool // the slow path takes the deps of the last PreAccept reply instead of the union
	execSkipsPending  bool // execution does not wait for an uncommitted dependency
	tpaSkipsCommitted bool // TryPreAccept ignores a conflicting committed instance
	countDupReplies   bool // a repeated PreAccept reply counts again toward the fast quorum
	firstAccepted     bool // recovery takes the first accepted reply, not the one with the highest vote ballot
	fastPathMajority  bool // the fast path commits with a majority of unchanged votes; recovery still assumes the fast quorum
	pruneAtOnce       bool // the index drops a key once every replica executed its instances, without waiting for what they held then
	pruneNoFloor      bool // fresh attributes start from zero, not from the index's floor
	promiseInMemory   bool // a granted Prepare raises the promise without persisting it
	// Third round: reviewer-style variants at positions the rounds above
	// do not touch.
	depsDropLast      bool // the PreAccept replies' deps are merged for every replica but the last
	acceptVoteBallot  bool // Accept is refused only below the last vote's ballot, not below the promise
	execBeforeHighDep bool // execution waits for a replica's instances below deps[q], not the one at deps[q]
	execIgnoreAnyDep  bool // the EPaxos Revisited shortcut drops an edge whenever W depends on V, whatever their order
	acceptReplyAnyBal bool // an Accept reply counts toward the current round whatever ballot it answers
	// Fourth round.
	freeOffByOne     bool // rule 4 frees the instance when fewer than fq (not fq-1) replicas could hold A0
	tieSlotOnly      bool // equal seqs in a component are ordered by slot only, not by (replica, slot)
	fastAfterPromise bool // the fast path commits although the instance promised a recovery's ballot since (equivalent alone; not in the catalog)
	keepRoundOnGrant bool // a granted Prepare leaves the command leader's round running (with fastAfterPromise: epaxos/prepare-keeps-round)
	// Fifth round.
	preAcceptOverAccept bool // a late PreAccept of the ballot a replica accepted at replaces its Accept vote
	lowNotPropagated    bool // Tarjan's walk does not take a child's low link after visiting it
}

// freeBelow is how many replies besides L's, held or unknown, rule 4 needs
// to keep a fast decision of A0 possible: fq-1 (one more under the planted
// bug freeOffByOne).
func (r *Replica) freeBelow() int {
	if r.planted.freeOffByOne {
		return r.fq
	}
	return r.fq - 1
}

// mergesDep reports whether a PreAccept reply's dependency on replica q is
// merged into the coordinator's (always, but under the planted bug
// depsDropLast, whose loop stops one replica short).
func (r *Replica) mergesDep(q int) bool {
	return !r.planted.depsDropLast || q < r.n-1
}

// acceptRefused reports whether an Accept at ballot b must be refused by
// instance in.
func (r *Replica) acceptRefused(in *instance, b Ballot) bool {
	if r.planted.acceptVoteBallot {
		return b < in.vbal
	}
	return b < in.bal
}

// depBelow reports whether slot s of a replica whose dependency bound is
// hi is one the executing instance must wait for.
func (r *Replica) depBelow(s, hi uint64) bool {
	if r.planted.execBeforeHighDep {
		return s < hi
	}
	return s <= hi
}

// ignoredEdge reports whether execution may ignore the edge V -> W of a
// committed W (EPaxos Revisited): W depends on V and runs after it.
func (r *Replica) ignoredEdge(v, w *instance) bool {
	if r.planted.execIgnoreAnyDep {
		return w.deps[v.id.Replica] >= v.id.Slot
	}
	return w.deps[v.id.Replica] >= v.id.Slot && less(v, w)
}

// mergeDep merges a PreAccept reply's dependency on one replica into the
// coordinator's.
func (r *Replica) mergeDep(have, reply uint64) uint64 {
	if r.planted.lastReplyDeps {
		return reply
	}
	return max(have, reply)
}

// votedBallot is the ballot a Prepare reply reports for the last vote.
func (r *Replica) votedBallot(in *instance) Ballot {
	if r.planted.mergedBallots {
		return in.bal
	}
	return in.vbal
}

// order is the execution order inside a strongly connected component.
func (r *Replica) order(a, b *instance) bool {
	switch {
	case r.planted.tieLocalFirst && a.seq == b.seq && (a.id.Replica == r.id) != (b.id.Replica == r.id):
		return a.id.Replica == r.id
	case r.planted.tieSlotOnly && a.seq == b.seq:
		return a.id.Slot < b.id.Slot
	}
	return less(a, b)
}

// plantedSnapshot is the snapshot record a replica persists.
func (r *Replica) plantedSnapshot(s SnapshotRecord) SnapshotRecord {
	if r.planted.snapshotNoDedup {
		s.Store.Sessions = nil
	}
	return s
}

// withBug returns a constructor of EPaxos replicas with one bug planted by
// set, which may also change the quorum sizes.
func withBug(set func(r *Replica)) paxos.Constructor {
	return func(cfg paxos.Config) (paxos.Replica, error) {
		r, err := NewReplica(cfg)
		if err != nil {
			return nil, err
		}
		set(r)
		return r, nil
	}
}

func init() {
	for _, m := range []paxos.Mutant{
		{Name: "epaxos/majority-fast-quorum", Bug: "the fast quorum is a plain majority F+1 instead of F+floor((F+1)/2) (differs from N = 7)",
			Sizes: []int{7}, New: withBug(func(r *Replica) { r.fq = r.sq })},
		{Name: "epaxos/fast-path-majority", Bug: "the fast path commits once a plain majority F+1 (leader included) holds the original attributes, while recovery still assumes a fast quorum of F+floor((F+1)/2) (differs from N = 7)",
			Sizes: []int{7}, New: withBug(func(r *Replica) { r.planted.fastPathMajority = true })},
		{Name: "epaxos/minority-fast-quorum", Bug: "the fast quorum is F replicas, below a majority, so two conflicting commands can both take the fast path without seeing each other",
			New: withBug(func(r *Replica) { r.fq = r.sq - 1 })},
		{Name: "epaxos/fast-quorum-minus-one", Bug: "the fast path commits with one matching PreAccept reply fewer than the fast quorum",
			New: withBug(func(r *Replica) { r.fq-- })},
		{Name: "epaxos/slow-quorum-minus-one", Bug: "the slow path (and recovery) waits for F replies instead of F+1",
			New: withBug(func(r *Replica) { r.sq-- })},
		{Name: "epaxos/shortcut-to-all", Bug: "at N = 3 the leader commits after one PreAccept reply with changed attributes although its PreAccept went to both other replicas",
			Sizes: []int{3}, New: withBug(func(r *Replica) { r.planted.shortcutToAll = true })},
		{Name: "epaxos/merged-ballots", Bug: "promised and accepted ballots merged: a Prepare reply reports the promised ballot as the ballot of the last vote, so recovery can prefer an older vote",
			New: withBug(func(r *Replica) { r.planted.mergedBallots = true })},
		{Name: "epaxos/exec-tie-local-first", Bug: "inside a strongly connected component, equal seqs are broken by putting the executing replica's own instances first, so replicas order them differently",
			New: withBug(func(r *Replica) { r.planted.tieLocalFirst = true })},
		{Name: "epaxos/write-ignores-reads", Bug: "a write's dependencies leave out earlier reads of its key",
			New: withBug(func(r *Replica) { r.planted.writeIgnoresReads = true })},
		{Name: "epaxos/vote-not-persisted", Bug: "PreAccept and Accept votes are not persisted, so a restarted replica forgets a vote that may have decided an instance",
			New: withBug(func(r *Replica) { r.planted.noPersistVote = true })},
		{Name: "epaxos/snapshot-drops-dedup", Bug: "snapshots leave out the clients' deduplication table, so a retry after a restart executes twice",
			New: withBug(func(r *Replica) { r.planted.snapshotNoDedup = true })},
		{Name: "epaxos/fast-path-ignores-changes", Bug: "every PreAccept reply counts toward the fast quorum, including one that changed the attributes, so the leader commits its original attributes without the dependencies a reply added",
			New: withBug(func(r *Replica) { r.planted.fastIgnoresChange = true })},
		{Name: "epaxos/slow-path-last-reply-deps", Bug: "the slow path proposes the dependencies of the last PreAccept reply instead of the union of all replies (at N = 3 one reply decides, so the two agree)",
			Sizes: []int{5}, New: withBug(func(r *Replica) { r.planted.lastReplyDeps = true })},
		{Name: "epaxos/exec-skips-uncommitted", Bug: "execution does not wait for an uncommitted dependency: it leaves it out of the graph and executes without it",
			New: withBug(func(r *Replica) { r.planted.execSkipsPending = true })},
		// At N = 3 the first PreAccept reply settles the round (fast or
		// slow), so a duplicate of it is never counted.
		{Name: "epaxos/preaccept-counts-duplicates", Bug: "a PreAccept reply is not checked against the replies already counted, so a duplicated unchanged reply counts twice toward the fast quorum",
			Sizes: []int{5}, New: withBug(func(r *Replica) { r.planted.countDupReplies = true })},
		{Name: "epaxos/recovery-first-accepted", Bug: "recovery adopts the first accepted reply it finds instead of the one accepted at the highest ballot",
			New: withBug(func(r *Replica) { r.planted.firstAccepted = true })},
		// At N = 3 the skipped instance never exists, so the bug never
		// acts. Take the first time a voter V skips a committed δ = (D, t)
		// interfering with γ = (L, s), not depending on γ and missing from
		// the proposed attributes A0 (L's original ones). Two replicas
		// vouched for A0 without knowing δ: L, whose index gave A0, and a
		// replica O ≠ L holding them unchanged (its PreAccept merge added
		// nothing, or an earlier TryPreAccept vote, correct since this is
		// the first skip, found no conflict). Two replicas vouched for δ's
		// decided attributes without knowing γ: every way to decide
		// (fast or slow path, recovery rules 2 to 6, free) takes the merge
		// of a slow quorum, F+1 = 2 replicas, or such a decision's votes.
		// Indexes never shrink, across restarts too, but for pruning,
		// which never drops δ while an instance with attributes leaving
		// δ out can still be decided (the lemma in recovery.go), and a
		// replica that lost its disk votes again only after learning every
		// instance it may have voted on (rebuild.go), so no replica can be
		// in both pairs: it would have handled each instance before knowing
		// the other. Two pairs out of three replicas meet, so at N = 3 the
		// branch never runs (nor did it in 500 seeds of every fault; at
		// N = 5 it ran 6 times).
		{Name: "epaxos/prune-at-once", Bug: "the per-key index drops a key as soon as every replica executed its instances, without waiting until the instances the replicas held by then are executed everywhere too, so an older instance still undecided can be decided without depending on it",
			New: withBug(func(r *Replica) { r.planted.pruneAtOnce = true })},
		{Name: "epaxos/prune-without-floor", Bug: "a command leader's attributes start from zero instead of the pruned index's floor, so a new command on a pruned key does not depend on the key's earlier commands",
			New: withBug(func(r *Replica) { r.planted.pruneNoFloor = true })},
		{Name: "epaxos/trypreaccept-ignores-committed", Bug: "a TryPreAccept voter ignores a committed interfering instance missing from the proposed dependencies, so recovery can commit attributes that leave it out (from N = 5; at N = 3 no such instance can exist)",
			Sizes: []int{5}, New: withBug(func(r *Replica) { r.planted.tpaSkipsCommitted = true })},
		{Name: "epaxos/deps-drop-last", Bug: "the slow path merges the PreAccept replies' dependencies on every replica but the last (a loop bound off by one), so an interfering instance only a replier knew, led by the highest-id replica, is left out",
			New: withBug(func(r *Replica) { r.planted.depsDropLast = true })},
		{Name: "epaxos/accept-checks-vote-ballot", Bug: "an Accept is refused only when its ballot is below the instance's last vote, not below its promise, so a replica that promised a recovery ballot still accepts the old round",
			New: withBug(func(r *Replica) { r.planted.acceptVoteBallot = true })},
		{Name: "epaxos/exec-skips-highest-dep", Bug: "execution waits for each replica's interfering instances below the dependency bound but not for the one at the bound (< for <=), so a command can execute before the very instance it depends on",
			New: withBug(func(r *Replica) { r.planted.execBeforeHighDep = true })},
		{Name: "epaxos/exec-revisited-any-order", Bug: "execution drops the edge V -> W whenever the committed W depends on V, without checking that W comes after V in the component order, so mutually dependent commands run in the order each replica reaches them",
			New: withBug(func(r *Replica) { r.planted.execIgnoreAnyDep = true })},
		// A replica that recovers an instance again, at a higher ballot
		// with other attributes (a rival recovery's vote came between),
		// counts a peer's acknowledgement of its earlier Accept, so a
		// slow quorum "holds" attributes one of its members never voted
		// (testdata/accept_reply_earlier_ballot_n5.txt decides one
		// instance twice). Harmless at N = 3: the coordinator voted the
		// earlier ballot too (startAccept), both votes came before either
		// voter promised a higher ballot, and two of three replicas are a
		// majority, so every later ballot proposes the same attributes
		// and the stale acknowledgement counts for attributes its sender
		// did vote. From N = 5 the two votes are no quorum.
		{Name: "epaxos/accept-reply-any-ballot", Bug: "an Accept reply counts toward the coordinator's round without checking that it answers the round's ballot, so a vote for an earlier ballot of the same coordinator, for other attributes, counts (from N = 5; at N = 3 the two votes of the earlier ballot were a majority)",
			Sizes: []int{5}, New: withBug(func(r *Replica) { r.planted.acceptReplyAnyBal = true })},
		// Fourth round.
		{Name: "epaxos/recovery-free-off-by-one", Bug: "recovery rule 4 gives up on the original attributes (and frees the instance) when fewer than fq replicas besides the command leader could hold them, not fewer than fq-1, so an instance decided on the fast path can be decided again",
			New: withBug(func(r *Replica) { r.planted.freeOffByOne = true })},
		{Name: "epaxos/exec-tie-slot-only", Bug: "inside a strongly connected component, equal seqs are ordered by slot only, leaving instances of different replicas with the same slot in the order the sort meets them, which differs from replica to replica",
			New: withBug(func(r *Replica) { r.planted.tieSlotOnly = true })},
		// The leader keeps collecting PreAccept replies after it granted
		// a recovery's Prepare, and its fast path no longer checks the
		// promise: the recovery, told by the leader's reply that it has
		// not committed (rule 3), frees the instance and decides it with
		// an interfering command the leader's replicas never saw, while
		// the leader's late replies complete a fast quorum for the
		// original attributes (testdata/grant_mid_round_n5.txt).
		{Name: "epaxos/prepare-keeps-round", Bug: "a command leader that grants a recovery's Prepare keeps its own PreAccept round running, and its fast path does not check that the instance still holds the initial ballot, so late PreAccept replies commit attributes the recovery (told by rule 3 that the leader had not committed) decided otherwise",
			New: withBug(func(r *Replica) { r.planted.fastAfterPromise, r.planted.keepRoundOnGrant = true, true })},
		// Fifth round.
		{Name: "epaxos/late-preaccept-overwrites-accept", Bug: "a PreAccept arriving after the replica accepted the instance at the same ballot (the slow path at the initial ballot) is handled as a fresh one: the replica replaces its Accept vote with a PreAccept vote of attributes it computes again",
			New: withBug(func(r *Replica) { r.planted.preAcceptOverAccept = true })},
		{Name: "epaxos/tarjan-low-not-propagated", Bug: "the execution walk (Tarjan's algorithm) does not lower a node's low link to its child's after visiting the child, so a cycle of three or more instances is cut into smaller components whose order depends on where the walk started",
			New: withBug(func(r *Replica) { r.planted.lowNotPropagated = true })},
		// Not in the catalog: fastAfterPromise ("epaxos/fast-path-after-
		// promise", the fast path taken without checking that the
		// instance still holds the initial ballot) is an equivalent
		// mutant. A leader that grants a recovery's Prepare drops its
		// round then (onPrepare), so no reply it gets later can commit,
		// and it starts no round at the initial ballot again (lead runs
		// once a slot; after a restart or a lost disk it recovers). Its
		// promise rises with the round alive only through a PreAccept,
		// TryPreAccept or Accept of a recovery that did not hear from it,
		// and such a recovery never takes the leader's promise as proof:
		// rules 4 to 6 count the leader in every fast quorum that might
		// have decided. So the fast commit the bug allows needs fq
		// replicas holding the original attributes at the initial
		// ballot, which every recovery already allows for. Scripted in
		// testdata/equivalent/ (TestFastPathAfterPromiseIsEquivalent);
		// counted in 500 seeds of every fault at N = 3, 5 and 7, the
		// bug's branch never fired. A planted bug no run can show would
		// only count as a survivor; the flag stays for the test.
	} {
		m.Protocol = "epaxos"
		paxos.RegisterMutant(m)
	}
}
