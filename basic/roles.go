// Package basic is Basic Paxos: the single-decree algorithm of Lamport's
// "Paxos Made Simple", and a leaderless replicated log that runs one full
// instance of it per slot.
//
// # The teaching view: one decree
//
// Three roles decide one value.
//
//   - A Proposer picks a Ballot (a round number and its own id, ordered
//     lexicographically, so no two proposers share a ballot). In phase 1 it
//     asks acceptors to Prepare(ballot). Once a phase-1 quorum promised, it
//     proposes the value accepted at the highest ballot any of them
//     reported, or its own value if none reported one (phase 2).
//   - An Acceptor promises never to take part in a ballot lower than the
//     highest one it promised (Prepare answers with what it accepted so
//     far), and accepts a proposal unless it promised a higher ballot
//     (Accept).
//   - A Learner learns the value once a phase-2 quorum accepted it in one
//     ballot.
//
// These types have small methods with no I/O; see the package Example.
//
// # The replicated log
//
// New builds a paxos.Replica that composes the three roles per slot of a
// shared log. There is no leader: a command proposed at a replica runs Phase 1
// and Phase 2 in the next slot that replica knows to be free, with its own
// acceptor counted in both quorums, so an uncontended command commits after
// two round trips to the nearest quorum. If Phase 1 reveals a value already
// accepted in that slot, the proposer completes the slot with that value and
// retries its own command in a later slot. A proposer that is refused (a
// Nack carries the higher ballot, so the next attempt jumps past it) gives
// the slot up and retries its command in a later slot after a short seeded
// random backoff. Lost messages are resent after RetryTicks, backing off
// exponentially.
//
// The proposer that sees a phase-2 quorum accept broadcasts a Commit. A
// replica that misses one catches up: when it learns that a later slot was
// decided (or a periodic probe of one peer says so) it asks its peers, who
// answer with the values they learned. A slot that stays undecided below a
// decided one (its proposer crashed) is filled by running Paxos on it with a
// no-op, which adopts whatever value may already be accepted there.
//
// Commands execute in slot order with no gaps through a kv.Store, which
// deduplicates by (client, seq): a command that ends up chosen in two slots
// takes effect once.
//
// Durable state is the acceptor's promise and accepted (ballot, value) per
// slot (PromiseRecord, AcceptRecord) and the decided values (DecisionRecord),
// written in the same Ready as the reply that depends on them. A restored
// replica (Config.Restore) replays them: it never breaks an earlier promise,
// and it re-executes the decided prefix.
//
// # Snapshots and log compaction
//
// Every Config.SnapshotEvery executed slots (DefaultSnapshotEvery when 0,
// never when negative), and no more often than once per as many executed
// commands as the store held keys at the previous snapshot (so the cost of
// snapshots per command stays bounded as the state grows), a replica
// snapshots its state machine, the clients' dedup sessions included, at
// its execution point E, and emits a SnapshotRecord: the snapshot and the
// acceptor and learned state of every slot above E, after which its older
// records are no longer needed. It then drops all state of the slots up to
// its previous snapshot (or up to E-SnapshotEvery, whichever is later),
// keeping one interval of decided slots for peers that catch up from the
// log. Those slots are gone: no state is ever created for them again. A
// Prepare, Accept or CatchUp about a gone slot is answered with
// InstallSnapshot (a snapshot at the execution point, at most once per
// RetryTicks per peer); every other message about one is ignored. A
// replica that receives a snapshot ahead of its execution point installs
// it in place of the slots it covers, gives the commands of its own
// proposals in those slots back to its queue (answering those the snapshot
// executed from its dedup sessions), writes a SnapshotRecord, and asks the
// sender for the slots after it. A restart restores the last
// SnapshotRecord and replays the records written after it.
//
// Why a compacted slot can never be needed by a proposer again. A replica
// compacts only slots at or below its execution point, and it executes a
// slot only once it learned the value chosen there (or installed a
// snapshot of a replica that did). So every gone slot s has a chosen value
// v, and by the safety of Paxos any proposer that completes phase 2 in s
// proposes v: the slot can still be used to tell a replica what was
// decided, never to decide anything new. The snapshot tells it more: the
// effect of v and of every slot before it. Dropping the acceptor's promise
// and accepted value is safe because the replica never votes in s again
// (a Prepare or Accept for s gets a snapshot, not a Promise, Accepted or
// Nack), and an acceptor that does not vote cannot help two quorums choose
// different values: only a broken promise or a forgotten acceptance can,
// and neither happens when no state for s is recreated (the records after
// a snapshot never mention a gone slot, and restore skips any that would).
// Liveness is kept because whoever still works on s gets the snapshot from
// every replica that compacted s: its proposer cannot gather a quorum
// there any longer, but it does not need to, as it installs the snapshot,
// executes past s, and proposes its commands again in a later slot (or
// answers them from the dedup sessions, when the snapshot executed them).
// A slot is compacted only after being executed, so a hole below the
// execution point never exists, and hole filling (which works from the
// execution point up) never reaches a gone slot.
//
// # Rebuilding after a lost disk
//
// A replica started with Config.Rebuild has lost its records. Before the
// loss it may have promised or accepted in any slot it knew of: an
// acceptance may be what chose a value (a later phase-1 quorum may meet the
// choosing quorum only at this replica), and a promise may be what let a
// proposer's phase 1 finish. Ballots are per slot, so one bound on slots
// covers both. A rebuilding replica W votes on nothing and proposes
// nothing: it drops Prepare and Accept (answering with a Commit when it
// knows the slot's decision, which is no vote), queues the commands
// proposed at it, and fills no hole. It asks its peers for the highest slot
// they know of (RebuildQuery, RebuildInfo) until the peers that answered,
// none of them rebuilding, meet every phase-1 and every phase-2 quorum
// without W. Let H be the highest slot they reported. A promise or
// acceptance of W that mattered belongs to a quorum whose other members
// meet those peers, so its slot is at most H. W then learns the decision of
// every slot up to H from its peers (CatchUp; they complete or fill the
// undecided ones as usual) and persists each (DecisionRecord), or, from a
// peer that compacted them, installs a snapshot that covers them (no vote
// either). From then on it answers any Prepare or Accept for those slots
// with the decision (or a snapshot), and
// it has never voted in a slot above H: it persists RebuildRecord{Done:
// true} and votes again, proposing from slot H+1 on. It persists
// RebuildRecord{} first, so a crash mid-rebuild restarts the rebuild from
// the decisions it persisted since, even without Config.Rebuild (a
// SnapshotRecord written meanwhile says so too: Rebuilding). With per
// slot ballots no further wait is needed ("Paxos Made Live", section 5.1,
// waits for an instance started after the rebuild; here every slot above H
// is one). The residual: a Prepare or Accept sent before the loss and
// delivered to the rest of its quorum only after those peers answered W
// may name a slot above H; closing that needs a bound on message delay.
// A quorum system in which one replica alone is a quorum cannot be
// rebuilt, and New refuses Rebuild for it.
//
// Of paxos.Config, New uses ID, N, Quorums (nil = majority; any system whose
// phase-1 and phase-2 quorums intersect), Seed (backoff and hole-filling
// delays), RetryTicks (resends, catch-up, hole filling), Batch (commands per
// slot, from those proposed between two Ready calls or queued behind
// Window), Window (slots with client commands in flight per replica),
// SnapshotEvery, Restore and Rebuild. The leader-related fields
// (HeartbeatTicks, ElectionTicks, InitialLeader, LeaseTicks), Thrifty and
// Distances do not apply and are ignored: every proposer sends to all
// acceptors.
//
// Under contention the shared log costs extra rounds: proposers at
// different replicas race for the same next slot, the higher ballot wins
// and the others retry in a later slot. Three rules share those races
// fairly among replicas:
//
//   - Rotating priority. A command's first proposal in slot s uses round
//     1 + (s+id) mod N rather than round 1, so among simultaneous first
//     attempts each replica holds the highest ballot in 1/N of the slots
//     (with round 1 everywhere, the highest id would win every tie).
//   - Priority levels per command. A command that lost a slot (refused,
//     pre-empted, or its slot completed with another value) is retried at
//     the next level, whose rounds (level×N+1 onwards, rotating as above)
//     exceed the ballot that beat it and every round of lower levels: a
//     command that lost more often outranks one that lost less, so no
//     command and no site starves.
//   - Yielding. A proposer whose own acceptor promises a higher ballot in
//     a slot where its Phase 1 is still running gives the slot up at once,
//     before its Accept could get a value accepted that the winner would
//     have to adopt. This matters most to distant sites, whose Prepares
//     arrive last.
//
// A lost command's backoff (0 to 3 ticks, seeded) is its own: it does not
// hold up the replica's other queued commands. With Batch > 1, commands
// waiting at one replica share a slot, so one ballot carries them all.
package basic

import (
	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

// Ballot is a proposal number: (round, replica id), ordered by round,
// then id. It is the library's shared paxos.Ballot.
type Ballot = paxos.Ballot

// NextBallot returns the smallest ballot of node that is higher than after
// (and has a round of at least 1).
func NextBallot(after Ballot, node paxos.NodeID) Ballot {
	b := Ballot{Round: after.Round, Node: node}
	if b.Round == 0 || !after.Less(b) {
		b.Round++
	}
	return b
}

// maxBallot returns the higher of a and b.
func maxBallot(a, b Ballot) Ballot {
	if a.Less(b) {
		return b
	}
	return a
}

// PrepareResult is an acceptor's answer to Prepare (phase 1b). When OK it is
// a promise and carries what the acceptor accepted so far (Accepted is zero
// if nothing); otherwise it is a refusal and Promised is the higher ballot
// the acceptor already promised.
type PrepareResult struct {
	OK       bool
	Promised Ballot
	Accepted Ballot
	Value    []paxos.Command
}

// AcceptResult is an acceptor's answer to Accept (phase 2b). When refused,
// Promised is the higher ballot the acceptor already promised.
type AcceptResult struct {
	OK       bool
	Promised Ballot
}

// Acceptor is the single-decree acceptor. Its exported fields are exactly
// its durable state: a real deployment persists them before answering.
// The zero value is an acceptor that promised and accepted nothing.
type Acceptor struct {
	// Promised is the highest ballot promised (or accepted).
	Promised Ballot
	// Accepted is the ballot of the last accepted proposal (zero if none).
	Accepted Ballot
	// Value is the value accepted at Accepted.
	Value []paxos.Command

	// bug holds planted bugs (mutants.go); all false except in a mutant.
	bug bugs
}

// Prepare is phase 1b. The acceptor promises b unless it already promised a
// higher ballot; re-preparing the same ballot is answered again (a retry).
func (a *Acceptor) Prepare(b Ballot) PrepareResult {
	if a.refuses(b) {
		return PrepareResult{Promised: a.Promised}
	}
	a.Promised = maxBallot(a.Promised, b)
	if a.bug.promiseReportsPromised && !a.Accepted.IsZero() {
		return PrepareResult{OK: true, Promised: a.Promised, Accepted: a.Promised, Value: a.Value}
	}
	return PrepareResult{OK: true, Promised: a.Promised, Accepted: a.Accepted, Value: a.Value}
}

// Accept is phase 2b. The acceptor accepts (b, v) unless it promised a
// higher ballot. Accepting also promises b.
func (a *Acceptor) Accept(b Ballot, v []paxos.Command) AcceptResult {
	if a.refuses(b) {
		return AcceptResult{Promised: a.Promised}
	}
	if !a.bug.acceptKeepsPromise {
		a.Promised = maxBallot(a.Promised, b)
	}
	a.Accepted, a.Value = b, v
	return AcceptResult{OK: true, Promised: a.Promised}
}

// Proposer is the single-decree proposer for one ballot. It collects
// promises (phase 1) and then fixes the value to propose (phase 2). A
// proposer that is refused starts over with a NewProposer at a higher
// ballot (see NextBallot).
type Proposer struct {
	quorums  quorum.System
	ballot   Ballot
	own      []paxos.Command
	promised quorum.Set
	refused  quorum.Set
	highest  Ballot
	adopted  []paxos.Command
	ready    bool
	bug      bugs // planted bugs (mutants.go)
}

// NewProposer returns a proposer for ballot b that would like to propose
// own. quorums decides what a phase-1 quorum is.
func NewProposer(quorums quorum.System, b Ballot, own []paxos.Command) *Proposer {
	return &Proposer{quorums: quorums, ballot: b, own: own}
}

// Ballot returns the proposer's ballot: what it sends in Prepare and Accept.
func (p *Proposer) Ballot() Ballot { return p.ballot }

// Promise records acceptor from's answer to Prepare(p.Ballot()). It returns
// true exactly once: when the promises first form a phase-1 quorum. From
// then on Value is the value to send in Accept.
func (p *Proposer) Promise(from paxos.NodeID, r PrepareResult) bool {
	if p.ready || from < 0 || int(from) >= p.quorums.N() {
		return false
	}
	if !r.OK {
		p.refused = p.refused.Add(int(from))
		return false
	}
	p.promised = p.promised.Add(counted(p.promised, from, p.bug.countPromises))
	if !r.Accepted.IsZero() && p.higherAccepted(r.Accepted) && (p.adopted == nil || !p.bug.adoptFirstValue) {
		p.highest, p.adopted = r.Accepted, r.Value
	}
	if p.quorums.IsPhase1(p.promised) {
		p.ready = true
		return true
	}
	return false
}

// Refused reports whether enough acceptors refused that the remaining ones
// can no longer form a phase-1 quorum.
func (p *Proposer) Refused() bool {
	all := quorum.Full(p.quorums.N())
	return !p.quorums.IsPhase1(all &^ p.refused)
}

// Ready reports whether a phase-1 quorum promised.
func (p *Proposer) Ready() bool { return p.ready }

// Value returns the value phase 2 must propose: the value of the highest
// accepted ballot reported by the promising quorum, or the proposer's own
// value when none was reported. Call it once Ready.
func (p *Proposer) Value() []paxos.Command {
	if p.adopted != nil {
		return p.adopted
	}
	return p.own
}

// Adopted reports whether Value is a value some acceptor had already
// accepted rather than the proposer's own.
func (p *Proposer) Adopted() bool { return p.adopted != nil }

// Learner tallies acceptors' phase-2b votes and learns a value once a
// phase-2 quorum accepted the same ballot. Because a ballot carries one
// value, counting votes per ballot is enough.
type Learner struct {
	quorums quorum.System
	// The first ballot voted for is tallied without a map (the common
	// case: one proposer per slot); others go to more.
	first      Ballot
	firstVotes quorum.Set
	firstValue []paxos.Command
	more       map[Ballot]*tally
	value      []paxos.Command
	learned    bool
}

type tally struct {
	votes quorum.Set
	value []paxos.Command
}

// NewLearner returns a learner that has learned nothing.
func NewLearner(quorums quorum.System) *Learner {
	return &Learner{quorums: quorums}
}

// Accepted records that acceptor from accepted (b, v). It returns true
// exactly once: when the learner first learns a value.
func (l *Learner) Accepted(from paxos.NodeID, b Ballot, v []paxos.Command) bool {
	if l.learned || from < 0 || int(from) >= l.quorums.N() {
		return false
	}
	var t *tally
	switch {
	case l.firstVotes == 0 || l.first == b:
		if l.firstVotes == 0 {
			l.first, l.firstValue = b, v
		}
		l.firstVotes = l.firstVotes.Add(int(from))
		t = &tally{votes: l.firstVotes, value: l.firstValue}
	default:
		if l.more == nil {
			l.more = map[Ballot]*tally{}
		}
		t = l.more[b]
		if t == nil {
			t = &tally{value: v}
			l.more[b] = t
		}
		t.votes = t.votes.Add(int(from))
	}
	if l.quorums.IsPhase2(t.votes) {
		l.Learn(t.value)
		return true
	}
	return false
}

// Learn records a value learned from someone who saw it chosen (a Commit).
// It returns false if a value was already learned.
func (l *Learner) Learn(v []paxos.Command) bool {
	if l.learned {
		return false
	}
	l.learned, l.value, l.more, l.firstValue = true, v, nil, nil
	return true
}

// Value returns the learned value and whether there is one.
func (l *Learner) Value() ([]paxos.Command, bool) { return l.value, l.learned }

// sameValue reports whether two values are the same commands in the same order.
