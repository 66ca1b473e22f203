package multi

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/planted"
	"github.com/paxos-lab/paxos/quorum"
)

// bugs are planted bugs: each switch turns one line of the engine into a
// small, plausible mistake. Only the mutants registered below set them; the
// zero value is the correct protocol. They exist to show that the checkers
// (`paxos check --mutant NAME`, `paxos mutants`) catch such mistakes.
type bugs struct {
	leaseNeverExpires    bool  // a leader that ever held a lease reads locally forever
	noPersistPromise     bool  // a promise is not written to durable storage
	noPersistAccept      bool  // a follower's accepted value is not written to durable storage
	acceptStaleBallot    bool  // a follower takes an Accept from a ballot below its promise
	acceptRoundOnly      bool  // Accept compares ballot rounds only, ignoring the node tie-break
	commitOwnValue       bool  // a Commit marks the value held for the slot committed, whatever ballot it came from
	adoptFirstValue      bool  // phase 1 keeps the first value reported for a slot, not the highest ballot's
	snapshotDropsDedup   bool  // snapshots leave out the clients' deduplication state
	catchUpUncommitted   bool  // catch-up sends the leader's proposed but uncommitted slots as committed
	installStaleSnapshot bool  // a replica installs a snapshot older than its execution point
	countAcks            bool  // phase 2 counts Accepted messages, not the replicas that sent them
	recoverToOwnLast     bool  // a new leader takes over slots only up to its own last one
	skipHoles            bool  // a new leader leaves the slots no promise reported empty instead of filling them with no-ops
	leaseFromArrival     bool  // the lease runs from when a heartbeat's reply arrived, not from when the heartbeat was sent
	leaseNoMargin        bool  // the leader's lease is as long as the followers' promise, with no margin
	ignoreLease          bool  // a follower promises a new leader while it still grants the old one a lease
	leaseBeforeRecovered bool  // a new leader reads under its lease before executing the slots it took over
	persistAfterReply    bool  // a follower's accepted value is persisted with the next Ready, after its reply left
	countPromises        bool  // phase 1 counts Promise messages, not the replicas that sent them
	promiseFromExecuted  bool  // a Promise reports the slots above the promiser's execution point, not the candidate's
	held                 []any // persistAfterReply: records held back for the next Ready
	// Third round (reviewer-style variants at positions the rounds above
	// do not touch).
	promiseAnyBallot  bool // a candidate counts a Promise without checking it answers its current ballot
	acceptedAnyBallot bool // a leader counts an Accepted without checking it answers its current ballot
	catchUpSkipsLast  bool // a catch-up stops one slot short of the last one it should carry
	// Fourth round (reviewer-style variants at positions the rounds above
	// do not touch).
	promiseSkipsLast    bool // a Promise reports the promiser's slots up to one short of its last
	leaseFreshestAck    bool // the lease runs from the freshest acknowledgement of its quorum, not the oldest
	leaderIgnoresOwnLog bool // a new leader takes over only the values its promises reported, not its own
	// Fifth round (reviewer-style variants at positions the rounds above
	// do not touch).
	snapshotDropsAccepted bool // a snapshot record keeps the committed entries above its index, not the accepted ones
	snapshotDropsPromise  bool // a snapshot record leaves out the promised ballot
	rebuildCountsRebuilt  bool // a rebuild counts the answers of peers that are rebuilding themselves
	leasePhase1Quorum     bool // the lease holds once a phase-1 quorum (not a phase-2 one) acknowledged
}

// persistAccept persists a follower's acceptance (or, with a planted bug,
// does not, or only with the next Ready).
func (r *Replica) persistAccept(rec AcceptRecord) {
	switch {
	case r.bug.noPersistAccept:
	case r.bug.persistAfterReply:
		r.bug.held = append(r.bug.held, rec)
	default:
		r.persist(rec)
	}
}

// ackFrom is the replica a reply from `from` counts as toward the set
// acks. With byMessage (a planted bug) a repeated reply counts once more,
// as a tally of messages would: it stands for the lowest replica that has
// not answered.
func (r *Replica) ackFrom(acks quorum.Set, from paxos.NodeID, byMessage bool) int {
	if byMessage {
		return planted.ByMessage(acks, int(from), r.n)
	}
	return int(from)
}

// leaseTick is the tick from which a heartbeat reply extends the lease.
func (r *Replica) leaseTick(m HeartbeatReply) uint64 {
	if r.bug.leaseFromArrival {
		return r.now
	}
	return m.Tick
}

// leaseMargin is how much shorter than the followers' promise the leader's
// lease is.
func (r *Replica) leaseMargin() int {
	if r.bug.leaseNoMargin {
		return 0
	}
	return LeaseMargin
}

// refusesAccept reports whether an Accept at ballot b must be refused.
func (r *Replica) refusesAccept(b Ballot) bool {
	switch {
	case r.bug.acceptStaleBallot:
		return false
	case r.bug.acceptRoundOnly:
		return b.Round < r.promised.Round
	}
	return b.Less(r.promised)
}

// commitValue is the value a Commit for slot s carrying cmds commits.
func (r *Replica) commitValue(s uint64, cmds []paxos.Command) []paxos.Command {
	if e := r.at(s); r.bug.commitOwnValue && e != nil && e.cmds != nil {
		return e.cmds
	}
	return cmds
}

// catchUpEnd is the last slot a leader's catch-up may carry.
func (r *Replica) catchUpEnd() uint64 {
	if r.bug.catchUpUncommitted && r.role == leader && r.next > r.executed+1 {
		return r.next - 1
	}
	if r.bug.catchUpSkipsLast && r.executed > 0 {
		return r.executed - 1
	}
	return r.executed
}

// promiseEnd is the last slot a Promise reports (one short under the
// planted bug promiseSkipsLast, a loop bound written with < for <=).
func (r *Replica) promiseEnd() uint64 {
	if r.bug.promiseSkipsLast && r.lastSlot() > 0 {
		return r.lastSlot() - 1
	}
	return r.lastSlot()
}

// withBug returns a constructor of Multi-Paxos replicas with one bug set.
func withBug(set func(*bugs)) paxos.Constructor {
	return func(cfg paxos.Config) (paxos.Replica, error) {
		r, err := NewEngine(cfg, Options{Quorums: cfg.Quorums, Thrifty: cfg.Thrifty})
		if err != nil {
			return nil, err
		}
		set(&r.bug)
		return r, nil
	}
}

// newUnsafeCounting builds the engine over counting quorums of the given
// sizes with no intersection check: a planted bug. thrifty selects thrifty
// phase 2.
func newUnsafeCounting(cfg paxos.Config, q1, q2 int, thrifty bool) (*Replica, error) {
	if cfg.N < 1 || cfg.N > quorum.MaxReplicas {
		return nil, fmt.Errorf("multi: %w: N=%d out of range 1..%d", paxos.ErrConfig, cfg.N, quorum.MaxReplicas)
	}
	return NewEngine(cfg, Options{Quorums: planted.Quorums(cfg.N, q1, q2), Thrifty: thrifty})
}

// majorityMinus builds Multi-Paxos with a phase-1 (phase 1) or phase-2
// majority one smaller than it must be.
func majorityMinus(phase int) paxos.Constructor {
	return func(cfg paxos.Config) (paxos.Replica, error) {
		m := cfg.N/2 + 1
		q1, q2 := m, m
		if phase == 1 {
			q1--
		} else {
			q2--
		}
		return newUnsafeCounting(cfg, q1, q2, cfg.Thrifty)
	}
}

func init() {
	for _, m := range []paxos.Mutant{
		{Name: "multi/lease-never-expires", Bug: "a leader that once held a read lease keeps answering reads locally after it was cut off and replaced",
			Needs: "--lease 6", New: withBug(func(b *bugs) { b.leaseNeverExpires = true })},
		{Name: "multi/promise-not-persisted", Bug: "an acceptor's promise is not persisted, so it forgets the promise when it restarts",
			New: withBug(func(b *bugs) { b.noPersistPromise = true })},
		{Name: "multi/accept-not-persisted", Bug: "a follower's accepted value is not persisted, so a restart forgets a vote that may have chosen a value",
			New: withBug(func(b *bugs) { b.noPersistAccept = true })},
		{Name: "multi/accept-stale-ballot", Bug: "a follower takes an Accept from a ballot lower than the one it promised",
			New: withBug(func(b *bugs) { b.acceptStaleBallot = true })},
		{Name: "multi/accept-round-only", Bug: "Accept compares ballot rounds only: a ballot of the same round from a lower node id is not refused (off by one in the tie-break)",
			New: withBug(func(b *bugs) { b.acceptRoundOnly = true })},
		{Name: "multi/commit-own-value", Bug: "a follower applies a Commit to the value it already holds for the slot without checking that it was accepted at the Commit's ballot",
			New: withBug(func(b *bugs) { b.commitOwnValue = true })},
		{Name: "multi/adopt-first-value", Bug: "a new leader re-proposes the first value reported for a slot in phase 1 instead of the one with the highest ballot",
			New: withBug(func(b *bugs) { b.adoptFirstValue = true })},
		{Name: "multi/snapshot-drops-dedup", Bug: "snapshots leave out the clients' deduplication table, so a retry after a restart or catch-up executes twice",
			New: withBug(func(b *bugs) { b.snapshotDropsDedup = true })},
		{Name: "multi/catchup-uncommitted", Bug: "the leader's catch-up sends its proposed but uncommitted slots as committed",
			New: withBug(func(b *bugs) { b.catchUpUncommitted = true })},
		{Name: "multi/stale-snapshot-install", Bug: "a replica installs a snapshot (from catch-up or phase 1) older than its execution point and executes the slots after it again",
			New: withBug(func(b *bugs) { b.installStaleSnapshot = true })},
		// At N = 3 the leader's own vote and the first reply already make a
		// majority, so a duplicate is never counted.
		{Name: "multi/acks-count-duplicates", Bug: "phase 2 counts Accepted messages instead of distinct replicas, so a duplicated acknowledgement stands in for a missing replica",
			Sizes: []int{5}, New: withBug(func(b *bugs) { b.countAcks = true })},
		{Name: "multi/promises-count-duplicates", Bug: "phase 1 counts Promise messages instead of distinct replicas, so a duplicated Promise stands in for a missing replica",
			Sizes: []int{5}, New: withBug(func(b *bugs) { b.countPromises = true })},
		{Name: "multi/promise-from-own-execution", Bug: "a Promise reports the slots above the promiser's own execution point instead of above the candidate's, so a candidate behind it misses values chosen in between",
			New: withBug(func(b *bugs) { b.promiseFromExecuted = true })},
		{Name: "multi/recover-to-own-last", Bug: "a new leader takes over the slots only up to its own last slot, not the highest one a promise reported, and proposes new commands in the slots above",
			New: withBug(func(b *bugs) { b.recoverToOwnLast = true })},
		{Name: "multi/skip-holes", Bug: "a new leader leaves the slots no promise reported a value for empty instead of filling them with no-ops, so execution stalls behind them",
			New: withBug(func(b *bugs) { b.skipHoles = true })},
		{Name: "multi/lease-from-ack-arrival", Bug: "the leader's lease runs from when a heartbeat's reply arrived instead of from when the heartbeat was sent, so a slow reply stretches it past the followers' promise",
			Needs: "--lease 6", New: withBug(func(b *bugs) { b.leaseFromArrival = true })},
		{Name: "multi/lease-no-margin", Bug: "the leader's lease is as long as the followers' promise, with no margin for the phase between their ticks",
			Needs: "--lease 6", New: withBug(func(b *bugs) { b.leaseNoMargin = true })},
		{Name: "multi/follower-ignores-lease", Bug: "a follower promises a new candidate while it still grants the current leader a read lease",
			Needs: "--lease 6", New: withBug(func(b *bugs) { b.ignoreLease = true })},
		{Name: "multi/lease-read-before-recovered", Bug: "a new leader answers reads under its lease before it has executed the slots it took over in phase 1",
			Needs: "--lease 6", New: withBug(func(b *bugs) { b.leaseBeforeRecovered = true })},
		{Name: "multi/accept-persisted-after-reply", Bug: "a follower persists an accepted value with its next Ready, after its Accepted reply was sent, so a crash in between forgets a vote the leader counted",
			New: withBug(func(b *bugs) { b.persistAfterReply = true })},
		// testdata/promise_any_ballot.txt scripts a double decision at
		// N = 3: a Promise held back in the network counts for the
		// candidate's next ballot, after the replier accepted another
		// leader's chosen value.
		{Name: "multi/promise-any-ballot", Bug: "a candidate counts a Promise toward its phase-1 quorum without checking that it answers its current ballot, so a promise given to its earlier, abandoned ballot (before the replier accepted another leader's values) counts",
			New: withBug(func(b *bugs) { b.promiseAnyBallot = true })},
		// From N = 5 on. The stale acknowledgement comes from a replica
		// F that accepted (b1, v) from leader P, which accepted it too,
		// each before promising any higher ballot. At N = 3, P and F are a
		// majority, so v was chosen at b1 and every later ballot proposes
		// v in that slot: the stale vote counts for the value F holds. (A
		// lost disk does not change that: under Config.Rebuild a rebuilt
		// P votes again only after learning every slot up to the highest
		// that peers meeting every phase-2 quorum without P reported, and
		// F, whose vote with P's made one, is among them.) At N = 5, P
		// proposes v in slot s at b1 and only F accepts, its Accepted held
		// back; L at bL > b1, elected without P and F, accepts w in s
		// alone; P, elected again at b2 > bL with L in its phase-1 quorum,
		// proposes w, and L's acknowledgement and F's stale one of b1 make
		// a majority with P's own vote, so P decides w while F still holds
		// (b1, v); a later leader whose phase-1 quorum is F and the two
		// replicas that hold nothing proposes v (the same with two more
		// replicas at N = 7). testdata/accepted_any_ballot.txt and
		// accepted_any_ballot_n7.txt script them. No schedule of the
		// search nor of the explorer has reached it yet: it needs two
		// leaders in a row whose rounds reach at most one peer, the
		// second one's value held by it and the first leader only.
		{Name: "multi/accepted-any-ballot", Bug: "a leader counts an Accepted toward a slot's phase-2 quorum without checking that it answers its current ballot, so an acknowledgement of its earlier ballot counts for a value the replier may not hold",
			Sizes: []int{5, 7}, New: withBug(func(b *bugs) { b.acceptedAnyBallot = true })},
		// A liveness bug the checker cannot see: a follower that lost
		// the Commit of the last slot decided before a quiet spell never
		// executes that slot (each catch-up carries the slots up to one
		// short of the leader's execution point, which is that slot), but
		// its client, which times out and retries at another replica,
		// gets its answer there, and the run ends when every client has
		// its answers. Only a check that every replica executes every
		// decided slot once the faults heal would catch it.
		{Name: "multi/catchup-skips-last", Bug: "a leader's catch-up carries the slots after the follower's execution point up to one short of the leader's, so a follower that lost the last Commit before a quiet spell never executes it",
			New: withBug(func(b *bugs) { b.catchUpSkipsLast = true })},
		// Fourth round.
		{Name: "multi/promise-skips-last-slot", Bug: "a Promise reports the promiser's accepted values up to one slot short of its last one (< for <=), so a new leader can fill the last slot with a no-op or a new command although its value may have been chosen",
			New: withBug(func(b *bugs) { b.promiseSkipsLast = true })},
		// TestRestartForgettingLeaseServesStaleReads scripts stale reads
		// at N = 3. The search catches it at N = 3, 5 and 7 since the
		// amnesiac lease grantors (check/search_lease_amnesia.go).
		{Name: "multi/restart-forgets-lease", Bug: "a follower that restarts does not wait out a lease it may have granted before the crash, so it promises a new candidate while the old leader still reads under that lease",
			Needs: "--lease 6", New: func(cfg paxos.Config) (paxos.Replica, error) {
				r, err := NewEngine(cfg, Options{Quorums: cfg.Quorums, Thrifty: cfg.Thrifty})
				if err != nil {
					return nil, err
				}
				if cfg.Restore != nil && r.rb == nil {
					r.leaseUntil = 0 // the wait NewEngine sets after a restore, left out
				}
				return r, nil
			}},
		// At N = 3 a phase-2 quorum of acknowledgements is the leader and
		// one follower, so the freshest acknowledgement is the quorum's
		// only one and the two rules agree.
		{Name: "multi/lease-from-freshest-ack", Bug: "the leader's lease runs from the freshest heartbeat acknowledged by a member of its phase-2 quorum instead of the oldest one the quorum needs, so a follower whose grant expired still counts",
			Needs: "--lease 6", Sizes: []int{5, 7}, New: withBug(func(b *bugs) { b.leaseFreshestAck = true })},
		{Name: "multi/leader-ignores-own-log", Bug: "a new leader takes over the values its phase-1 quorum reported but not the ones it holds itself, so it fills a slot it accepted (possibly chosen) with a no-op",
			New: withBug(func(b *bugs) { b.leaderIgnoresOwnLog = true })},
		// Fifth round.
		{Name: "multi/snapshot-drops-accepted", Bug: "a snapshot record carries the committed entries above its index but not the ones only accepted, so a replica restarted after a snapshot forgets votes that may have chosen a value",
			New: withBug(func(b *bugs) { b.snapshotDropsAccepted = true })},
		{Name: "multi/snapshot-drops-promise", Bug: "a snapshot record leaves out the promised ballot, so a replica restarted after a snapshot forgets the promises it made since its last promise record was compacted away",
			New: withBug(func(b *bugs) { b.snapshotDropsPromise = true })},
		// From N = 5: it needs two replicas rebuilding at once, and at
		// N = 3 that is two lost disks out of three, past what any rebuild
		// can survive (a value the two chose is gone with their disks).
		// At N = 5: v chosen in slot s by {W, X, Y}; W and Y lose their
		// disks; W counts Y's empty answer with C's and D's, so H < s; a
		// leader elected by X, C and D re-proposes v in s but commits a
		// slot above H first, W executes it and votes again, the leader
		// fails before C and D accept v, and a leader elected by W, C and
		// D fills s with another value.
		{Name: "multi/rebuild-counts-rebuilding-peers", Bug: "a replica rebuilding after a lost disk counts the answers of peers that are rebuilding too, whose empty state reports nothing they voted before their own loss, so its answers can miss every replica that holds a chosen value",
			Sizes: []int{5, 7}, New: withBug(func(b *bugs) { b.rebuildCountsRebuilt = true })},
		{Name: "multi/phase1-quorum-minus-one", Bug: "phase 1 waits for a majority minus one promises",
			New: majorityMinus(1)},
		{Name: "multi/phase2-quorum-minus-one", Bug: "phase 2 commits with a majority minus one acknowledgements",
			New: majorityMinus(2)},
		{Name: "multi/wiped-votes-at-once", Bug: "a replica that lost its disk ignores Config.Rebuild and votes at once on empty state, forgetting its promises and accepted values",
			New: func(cfg paxos.Config) (paxos.Replica, error) {
				cfg.Rebuild = false
				return New(cfg)
			}},
	} {
		m.Protocol = "multi"
		paxos.RegisterMutant(m)
	}
	// Fifth round, on the engine Flexible Paxos runs (thrifty, as
	// flexible.New builds it).
	paxos.RegisterMutant(paxos.Mutant{Name: "flexible/lease-on-phase1-quorum", Protocol: "flexible",
		Bug:   "the read lease holds once a phase-1 quorum acknowledged the leader's heartbeat instead of a phase-2 quorum; with Q1 + Q1 <= N a new leader's phase-1 quorum can miss every replica that granted it",
		Needs: "--lease 6 --q1 2 --q2 4", Sizes: []int{5},
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			if cfg.Quorums == nil {
				return nil, fmt.Errorf("flexible: %w: this mutant needs counting quorums; run it with --q1 2 --q2 4", paxos.ErrConfig)
			}
			r, err := NewEngine(cfg, Options{Quorums: cfg.Quorums, Thrifty: true})
			if err != nil {
				return nil, err
			}
			r.bug.leasePhase1Quorum = true
			return r, nil
		}})
}
