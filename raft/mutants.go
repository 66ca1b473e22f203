package raft

import "github.com/paxos-lab/paxos"

// bugs are planted bugs: each switch turns one line of the wrapper into a
// small, plausible mistake. Only the mutants registered below set them; the
// zero value is the correct wrapper.
type bugs struct {
	lateHardState      bool // raft's HardState is persisted one Ready late, after the messages that depend on it
	noPersistEntries   bool // log entries are acknowledged without being written to durable storage
	snapshotDropsDedup bool // snapshots leave out the clients' deduplication state
	commitNoTermCheck  bool // a follower applies its log up to the leader's commit index without checking its entries are the leader's
	readUnconfirmed    bool // a leader answers a Get from local state without a ReadIndex round
	readBeforeApplied  bool // a confirmed read is answered before the replica applied the read index
	applyOnAppend      bool // entries are applied when appended, before raft reports them committed
	readIndexMinusOne  bool // a confirmed read is answered once the log is applied up to one below the read index
	appliedFromCommit  bool // a restarted replica takes its persisted commit index as applied
}

func withBug(b bugs) paxos.Constructor {
	return func(cfg paxos.Config) (paxos.Replica, error) { return newReplica(cfg, b) }
}

func init() {
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "raft/hardstate-after-send",
		Protocol: "raft",
		Bug:      "raft's HardState (term, vote, commit) is persisted with the next Ready instead of before this Ready's messages are sent, so a replica that crashes in between forgets a vote it cast",
		New:      withBug(bugs{lateHardState: true}),
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "raft/entries-not-persisted",
		Protocol: "raft",
		Bug:      "log entries are acknowledged without being persisted, so a restarted follower forgets entries a quorum counted on",
		New:      withBug(bugs{noPersistEntries: true}),
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "raft/commit-without-term-check",
		Protocol: "raft",
		Bug:      "a follower applies its own log up to the commit index a leader's append or heartbeat names, without checking that its entries there are the leader's (same term), so it can execute a stale tail the leader is about to overwrite",
		New:      withBug(bugs{commitNoTermCheck: true}),
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "raft/wiped-votes-at-once",
		Protocol: "raft",
		Bug:      "a replica that lost its disk ignores Config.Rebuild and votes at once on empty storage, forgetting the vote it cast in its term and the entries it acknowledged",
		// At N = 5 the first seeds that catch it used to run the diverged
		// cluster to the liveness bound for minutes; check.Run now stops at
		// the first double decision (seed 6, in under a second).
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			cfg.Rebuild = false
			return newReplica(cfg, bugs{})
		},
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "raft/read-unconfirmed",
		Protocol: "raft",
		Bug:      "a replica that believes it leads answers a Get from its local state at once, without a ReadIndex round confirming that a quorum still follows it",
		Needs:    "--lease 6",
		New:      withBug(bugs{readUnconfirmed: true}),
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "raft/read-before-applied",
		Protocol: "raft",
		Bug:      "a read whose ReadIndex the leader confirmed is answered at once, before the replica has applied the log up to the read index",
		Needs:    "--lease 6",
		New:      withBug(bugs{readBeforeApplied: true}),
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "raft/apply-on-append",
		Protocol: "raft",
		Bug:      "log entries are applied as soon as they are appended, before raft reports them committed, so a replica can execute entries a new leader later overwrites",
		New:      withBug(bugs{applyOnAppend: true}),
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "raft/snapshot-drops-dedup",
		Protocol: "raft",
		Bug:      "snapshots leave out the clients' deduplication table, so a retried command executes twice after a restart or snapshot install",
		New:      withBug(bugs{snapshotDropsDedup: true}),
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "raft/read-index-minus-one",
		Protocol: "raft",
		Bug:      "a read whose ReadIndex the leader confirmed is answered once the replica has applied the log up to one entry below the read index (< for <=), so it can miss the write committed last",
		Needs:    "--lease 6",
		New:      withBug(bugs{readIndexMinusOne: true}),
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "raft/restart-applied-from-commit",
		Protocol: "raft",
		Bug:      "a restarted replica takes the commit index of its persisted HardState as its applied index, so the committed entries after its latest snapshot are never applied to its store and it serves stale state",
		New:      withBug(bugs{appliedFromCommit: true}),
	})
}

// readSlack is how many entries below a confirmed read's index the
// replica may still be when it answers: none, but under the planted bug
// readIndexMinusOne.
func (r *Replica) readSlack() uint64 {
	if r.bug.readIndexMinusOne {
		return 1
	}
	return 0
}
