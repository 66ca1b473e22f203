package epaxos

// Recovery (explicit prepare) of an instance γ = (L, s) at ballot b > every
// ballot seen, by a replica that saw γ stay uncommitted.
//
// Prepare(b) goes to every replica; each promises b (persisting the
// promise) and reports its state: status, the ballot of its last vote
// (VBallot, kept apart from the promise: Sutra's fix), command and
// attributes, and Orig, which says the replica holds the attributes the
// command leader L sent at the initial ballot, unchanged (only a replica
// whose own merge left them unchanged, or that later took them through
// TryPreAccept, holds Orig). With replies from F+1 replicas (self included):
//
//  1. Some reply is committed: commit that.
//  2. Some reply is accepted: Accept the one with the highest VBallot.
//  3. L replied: L had not committed on the fast path and, having promised
//     b, never will; the instance is free.
//  3a. N = 3 only: if exactly one of the two other replicas pre-accepted at
//     L's initial ballot, Accept its attributes (see soleInitialVote; this
//     is what makes the thrifty three-replica shortcut of the command
//     leader safe).
//  4. Let U be the non-L replies with Orig (they all hold L's original
//     attributes A0) and u the number of non-L replicas that did not reply.
//     A fast commit needs all of a fast quorum of size FQ to hold Orig for
//     ever, so if |U| + u < FQ-1 the instance was not fast-committed: free.
//     If |U| >= F+1, a majority holds A0 with the dependency check done,
//     which is exactly what TryPreAccept establishes: Accept A0.
//     Otherwise, after waiting up to 2*RetryTicks for more replies, run
//     TryPreAccept: ask every replica outside U to take A0.
//     4a. A silent replica p counts as known not to hold Orig when this
//     replica holds an instance δ led by p, interfering with γ and not in
//     A0's deps, with p's original attributes for δ (Orig), which do not
//     include γ. Had p pre-accepted γ unchanged at the initial ballot, it
//     did so before proposing δ (afterwards its merge would have added δ),
//     and then δ's original attributes would include γ. This breaks the
//     deferral cycle of two interfering instances whose leaders are both
//     down, each blocking the other's TryPreAccept: once the recoverer
//     holds one of them with Orig (TryPreAccept gives it that), the other
//     leader no longer counts as unknown, the other instance is free, runs
//     PreAccept and comes to depend on the first, which then passes.
//     The evidence may also sit at another replica: a TryPreAccept refused
//     because of such a δ says so (LeaderOut), and p is then ruled out of
//     γ's fast quorum for good. This is the report's "possible quorum"
//     bookkeeping for deferred recoveries, restricted to what is proven:
//     a replica is ruled out only on an instance holding its leader's
//     original attributes. (Its soundness needs each replica's index to
//     never shrink, across restarts too, but for pruning: see below.)
//  5. TryPreAccept at a replica fails when it knows an interfering instance
//     δ that does not depend on γ and either is not in A0's deps, or is in
//     them with seq >= A0's seq while not yet committed. When δ is committed
//     (or executed) and not in A0's deps, that proves γ was not committed on
//     the fast path with A0 (a fast quorum meets δ's deciding quorum, and at
//     the replica in both, whichever came second would have seen the
//     first), so the instance is free. So it is when the refusals rule out
//     enough silent replicas (4a) that L, U and the silent replicas left
//     are fewer than FQ. Any other failure abandons this attempt (it is
//     deferred): the blocking instance is recovered first and γ retried
//     later at a higher ballot with randomized backoff.
//  6. When TryPreAccept votes and U reach F+1 replicas: Accept A0.
//
// Free means: run PreAccept at ballot b with the command (acceptors merge
// their interfering instances) and then Accept the union; when no reply
// knows the command, Accept a Nop. At a non-initial ballot there is never a
// fast path.
//
// Rule 4a rests on a replica's per-key index: had p pre-accepted γ after
// proposing δ, p's index would still have held δ, whatever became of δ
// since (a Nop decided elsewhere, garbage collection, a snapshot, a
// restart). The index therefore never shrinks, across restarts too, but
// for the pruning below, which drops only facts no rule can need any more:
//
//   - in memory, indexAdd only raises entries, and nothing else writes them
//     but restore and pruneIndex;
//   - every indexAdd (lead, onPreAccept, onAccept, commitLocal, free,
//     handleTryPreAccept, startAccept) is made on an instance state
//     persisted in the same Ready, so whatever the index held when a
//     message left the replica is durable;
//   - storage returns the latest snapshot and every record after it, and a
//     snapshot carries the index as it was in memory (and its floor),
//     which covers every record the snapshot replaces;
//   - restore loads that index and folds in every record, not only each
//     instance's latest.
//
// So after any sequence of restarts the index covers every record this
// replica ever made durable, in particular every instance it led (lead
// persists before sending), except pruned facts. Before this, restore
// indexed only each instance's latest record, and Nops are not indexed: a
// leader that learned its δ had become a Nop and restarted forgot δ,
// pre-accepted γ unchanged, and rule 4a ruled it out of a fast quorum it
// was in (issue 10; planted again by mutant "epaxos/rule4a-after-restart";
// testdata/rule4a_after_restart.txt). The persisted format is unchanged,
// and older logs restore with the fix in effect: they already hold every
// record.
//
// Pruning the index (gc.go). A key's facts are dropped only in a pruning
// epoch: replica r records W (every replica has executed every slot of q
// up to W[q], by its own execution and by the peers' watermarks that carry
// a Seen, each peer's Executed and Seen taken from the same reports) and
// S[q] = the highest slot of q that r or any peer reported holding
// (Watermark.Seen: the highest slot it holds, has executed or collected,
// for its own row also the highest it led or may have led before losing
// its disk; no Seen while rebuilding, and a peer's reports count again
// only from its first one after it asked to rebuild). Once
// gcUpTo[q] >= S[q] for every q, r drops the keys whose facts name no slot
// above W[q] of any replica q, and records what it dropped in its floor
// (floor.go): per bucket of keys, replica and kind (writes, reads), the
// highest slot dropped. Attributes computed afresh (a command leader's in
// lead, a recovery's in free) start from the floor of the keys they touch,
// exactly as from the dropped facts (a write from pruned writes and reads,
// a read from pruned writes; keys sharing a bucket only add dependencies).
// Write floor(γ)[q] for it. The floor is persisted with the
// snapshot that holds the pruned index, so the two stay consistent across
// restarts and rebuilds (installState takes both from the peer).
//
// Lemma. Let δ = (q, t) be pruned at r, and γ = (L, s) an instance that
// interferes with δ. If any replica ever computes, holds or sends
// attributes of γ that leave δ out (deps[q] < t), then γ was executed by
// every replica before r pruned δ. Proof: let y be the first replica whose
// attributes for γ left δ out. y computed them (lead, free, a PreAccept
// merge, a TryPreAccept vote: the others only copy attributes) while its
// index held no fact of δ and floor(γ)[q] was below t, since a fact or
// the floor would have put δ in (a TryPreAccept vote would have refused,
// rule 5). Not after y executed δ: executing δ indexes it (commitLocal),
// and afterwards only a pruning at y removes the fact, which raises the
// floor of δ's key bucket, for δ's kind, to at least t. So y computed them before executing δ, and from then on
// held γ (persisted with the attributes, restored after restarts, dropped
// only once collected, which is once executed everywhere). The report of
// y that told r that y executed δ (W[q] >= t needs every replica's, and
// counts only reports with a Seen) was sent after y executed δ, so its
// Seen[L] >= s, and S[L] >= s (r keeps the maximum of each peer's reports,
// and its own seen() when y is r). r pruned
// only once gcUpTo[L] >= S[L] >= s: γ executed everywhere. (A replica that
// lost its disk does not break the chain: it reports no Seen while
// rebuilding, and afterwards its own row covers every slot it may have led
// before, Replica.reserved; its other rows came from a peer's state.)
//
// Consequences, reader by reader. After r pruned δ, every message about
// such a γ finds γ executed at r (committed, or collected: get returns nil
// and nothing is recreated), so r never again votes on it or merges it:
//
//   - rule 4a: p's merge of a late initial-ballot PreAccept of γ cannot
//     happen once p pruned its own δ, so "p would have added δ" still
//     holds whenever p can vote; the recoverer's evidence is its own
//     instance record of δ, not the index;
//   - rules 5 and 6: a TryPreAccept of A0 leaving δ out reaches r only
//     when γ is already executed (committed: r answers Committed);
//   - attribute computation and the ordering invariant (of two committed
//     interfering instances one depends on the other,
//     check.DependenciesBetweenConflicts): a command γ computed afresh
//     after r pruned δ gets deps[q] >= floor(γ)[q] >= t; one computed before
//     is covered by the lemma and by the usual EPaxos argument, every
//     merge of it having happened where δ was still indexed. The floor
//     holds only slots executed everywhere, so the added dependencies
//     are on executed instances and delay nothing (execution skips rows
//     whose dependency is at or below its executed prefix); a command's
//     seq may come out below δ's, which orders nothing: δ cannot depend on
//     a γ proposed after δ executed everywhere, so they are never in one
//     component. Acceptors merge without the floor, so a leader's fresh
//     attributes still match theirs on the fast path (an acceptor's facts
//     of δ are at most the leader's floor(γ) once the leader pruned δ).
//
// What this prunes: with every command on a new key, every key once its
// instances are executed everywhere and a pruning epoch has passed (two or
// three watermark rounds); hot keys keep their latest facts. An epoch
// sweeps the whole index, so one ends only once as many commands executed
// since the previous sweep as the index then held keys. Mutants
// "epaxos/prune-at-once" (no wait for S) and "epaxos/prune-without-floor"
// are caught by `paxos mutants`.
//
// Facts the rules rely on, and what crash-restart, garbage collection,
// snapshots and catch-up do to them:
//
//   - The promise (every rule: a Prepare reply counts only if its sender
//     keeps the promise). in.bal is exactly the persisted promise. A ballot
//     seen only in a refusal goes to in.seen (volatile, picks the next
//     round). It used to raise in.bal in memory, and onPrepare persisted
//     only a ballot above in.bal, so a Prepare at that very ballot was
//     granted without being persisted and after a restart the replica
//     accepted a lower ballot (found in this review; mutant
//     "epaxos/volatile-promise", TestPromiseSurvivesRestart). Snapshots copy
//     in.bal, now exactly the promise.
//   - Rule 1: a commit is persisted before it is sent or executed; records
//     and snapshots keep it. Garbage collection drops an instance only once
//     every replica executed it, so no replica recovers it any more.
//     Catch-up only resends commits. Sound.
//   - Rule 2: an Accept vote (status, VBallot, attributes) is persisted
//     before the reply. Sound.
//   - Rule 3: L's promise is durable (above). L's fast path lives in its
//     volatile coordinator, which a restart drops: a restarted L never
//     resumes its initial-ballot round, and any commit it made was durable
//     before it was visible. Sound.
//   - Rule 3a: an initial-ballot vote (VBallot, status) is persisted; a
//     PreAccept at that ballot arriving again, before or after a restart,
//     is answered from the stored attributes, never merged anew, so the
//     vote does not change. The leader's Thrifty one-replica round is
//     volatile and never resumed after a restart. Sound.
//   - Rules 4 and 6: Orig is persisted with the vote (PreAccept or
//     TryPreAccept) and is lost only to a later vote at a higher ballot,
//     which the recovery at that ballot sees. Sound.
//   - Rule 4a: the index, above (fixed; pruning by the lemma above). The evidence holder's δ with Orig
//     is a persisted record; outOfFastQuorum is volatile, and forgetting it
//     costs a recovery round, not safety.
//   - Rules 5 and 6 (TryPreAccept checks): a voter must know every
//     interfering instance that may be decided without depending on γ. Live
//     instances come back from records and snapshots into open; executed
//     ones, possibly garbage-collected, are in the executed index, which
//     the snapshot carries; those executed after the latest snapshot come
//     back from their records committed and unexecuted, hence in open.
//     Rule 5's proof reasons about instances decided with real commands,
//     whose records keep the command, so it never needed the Nop's keys.
//     Sound.
//   - A replica that lost its disk (paxos.Config.Rebuild) loses promises,
//     votes and index at once, and every rule above fails for it. It
//     rejoins only through the rebuild (rebuild.go): no vote or promise
//     until every instance it may have voted on is decided, no fast-path
//     vote ever after (rule 4a), and its own slots that a silent peer may
//     hold led only after a phase 1.

import (
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

// recover starts a recovery of in at a ballot above every ballot seen.
func (r *Replica) recover(in *instance) {
	r.stats.Recoveries++
	in.attempts++
	b := MakeBallot(max(in.bal, in.seen).Round()+1, r.id)
	in.bal = b
	r.persist(in)
	co := &coord{ballot: b, phase: phPrepare, started: r.now, prep: map[paxos.NodeID]PrepareReply{}}
	in.co = co
	co.prep[r.id] = r.prepareReply(in, b)
	msg := Prepare{Ballot: b, Inst: in.id}
	for _, p := range r.nearest {
		r.send(p, msg)
	}
	r.evalPrepare(in)
}

func (r *Replica) prepareReply(in *instance, b Ballot) PrepareReply {
	return PrepareReply{Ballot: b, Inst: in.id, OK: true, Status: in.status, VBallot: r.votedBallot(in),
		Orig: in.orig && in.status == StatusPreAccepted, Cmds: slices.Clone(in.cmds), Seq: in.seq, Deps: slices.Clone(in.deps)}
}

func (r *Replica) onPrepare(from paxos.NodeID, m Prepare) {
	in := r.get(m.Inst)
	if in == nil {
		return
	}
	switch {
	case in.status == StatusCommitted:
		r.send(from, r.prepareReply(in, m.Ballot))
	case m.Ballot < in.bal:
		r.send(from, PrepareReply{Ballot: in.bal, Inst: m.Inst})
	default:
		if m.Ballot > in.bal {
			in.bal = m.Ballot
			if !r.planted.promiseInMemory {
				r.persist(in)
			}
		}
		if in.co != nil && in.co.ballot < m.Ballot && !r.planted.keepRoundOnGrant {
			in.co = nil // another replica took over; it will broadcast the commit
			r.scheduleRecovery(in)
		}
		r.send(from, r.prepareReply(in, m.Ballot))
	}
}

func (r *Replica) onPrepareReply(from paxos.NodeID, m PrepareReply) {
	d := decision(m.OK && m.Status == StatusCommitted, m.Inst, m.Cmds, m.Seq, m.Deps)
	in, co := r.currentRound(roundReply{m.Inst, m.Ballot, m.OK, d}, phPrepare, true)
	if co == nil {
		return
	}
	if (m.Status >= StatusPreAccepted || m.Orig) && len(m.Deps) != r.n {
		return // malformed; ignore this reply
	}
	co.prep[from] = m
	r.evalPrepare(in)
}

// evalPrepare applies the case analysis at the top of this file once F+1
// replies are in. Rule 1 (a committed reply) is applied as the reply
// arrives, by currentRound in onPrepareReply; rules 5 and 6 are in
// onTryPreAcceptReply.
func (r *Replica) evalPrepare(in *instance) {
	co := in.co
	if len(co.prep) < r.sq {
		return
	}
	var best *PrepareReply
	var cmds []paxos.Command
	for p := 0; p < r.n; p++ {
		rep, ok := co.prep[paxos.NodeID(p)]
		if !ok {
			continue
		}
		if rep.Status == StatusAccepted && (best == nil || rep.VBallot > best.VBallot && !r.planted.firstAccepted) {
			best = &rep
		}
		if cmds == nil && len(rep.Cmds) > 0 {
			cmds = rep.Cmds
		}
	}
	b := co.ballot
	if best != nil { // rule 2: accept the highest-VBallot accepted reply
		r.startAccept(in, b, best.Cmds, best.Seq, best.Deps)
		return
	}
	if _, ok := co.prep[in.id.Replica]; ok { // rule 3: L replied, so no fast commit
		r.free(in, cmds)
		return
	}
	if sole := r.soleInitialVote(in); sole != nil { // rule 3a (N = 3)
		r.stats.Rule3a++
		r.startAccept(in, b, sole.Cmds, sole.Seq, sole.Deps)
		return
	}
	// Rule 4 (with 4a inside fastQuorumCandidates: silent replicas proven
	// out of the fast quorum are not counted in unknown).
	u, a0, unknown := r.fastQuorumCandidates(in)
	switch {
	case a0 == nil || u.Len()+unknown < r.freeBelow(): // 4: too few could hold Orig: free
		r.free(in, cmds)
	case u.Len() >= r.sq: // 4: a majority holds A0: accept it
		r.startAccept(in, b, a0.Cmds, a0.Seq, a0.Deps)
	case unknown > 0 && !co.waitedLong:
		// 4: ambiguous; more replies may settle it without TryPreAccept
	default: // 4: TryPreAccept A0 at the replicas outside U
		r.startTryPreAccept(in, *a0, u)
	}
}

// soleInitialVote applies the three-replica rule: with N = 3 and the
// command leader L silent, both other replicas replied; when exactly one of
// them pre-accepted at L's initial ballot, it returns that reply. L may
// have committed those attributes (after a single thrifty PreAccept, or on
// the fast path when they are L's own), and they came from a majority (L
// and that replica), so accepting them is safe either way. When both
// pre-accepted at the initial ballot, L had sent its PreAccept to both and
// committed, if at all, only on the fast path: the general analysis below
// decides.
func (r *Replica) soleInitialVote(in *instance) *PrepareReply {
	if r.n != 3 {
		return nil
	}
	L := in.id.Replica
	var sole *PrepareReply
	for p := 0; p < r.n; p++ {
		rep, ok := in.co.prep[paxos.NodeID(p)]
		if !ok || paxos.NodeID(p) == L || rep.Status != StatusPreAccepted || rep.VBallot != MakeBallot(0, L) || len(rep.Cmds) == 0 {
			continue
		}
		if sole != nil {
			return nil
		}
		sole = &rep
	}
	return sole
}

// fastQuorumCandidates sums up the Prepare replies of a recovery of γ whose
// command leader L did not reply: U, the other replies holding L's original
// attributes a0 (nil when none does), and how many silent replicas other
// than L may still have been in γ's fast quorum (those not ruled out by rule
// 4a). The fast quorum, if any, is L, members of U and such silent
// replicas.
func (r *Replica) fastQuorumCandidates(in *instance) (u quorum.Set, a0 *PrepareReply, unknown int) {
	L := in.id.Replica
	for p := 0; p < r.n; p++ {
		rep, ok := in.co.prep[paxos.NodeID(p)]
		if ok && paxos.NodeID(p) != L && rep.Orig && rep.Status == StatusPreAccepted {
			u = u.Add(p)
			a0 = &rep
		}
	}
	for p := 0; p < r.n; p++ {
		id := paxos.NodeID(p)
		if _, ok := in.co.prep[id]; ok || id == L {
			continue
		}
		if in.outOfFastQuorum.Has(p) || (a0 != nil && r.notInFastQuorum(id, in.id, *a0)) {
			if !in.co.ruledOut.Has(p) {
				in.co.ruledOut = in.co.ruledOut.Add(p)
				r.stats.Rule4a++
			}
			continue
		}
		unknown++
	}
	return u, a0, unknown
}

// notInFastQuorum reports whether this replica's own knowledge proves that
// the silent replica p did not pre-accept γ with the original attributes a0
// at the initial ballot (rule 4a at the top of this file): it holds an
// instance of p that leaves p out (see leavesLeaderOut).
func (r *Replica) notInFastQuorum(p paxos.NodeID, g paxos.Instance, a0 PrepareReply) bool {
	if len(a0.Deps) != r.n || len(a0.Cmds) == 0 {
		return false
	}
	for _, s := range r.open[p] {
		if d := r.inst[p][s]; d != nil && leavesLeaderOut(d, g, a0.Cmds, a0.Deps) {
			return true
		}
	}
	return false
}

// leavesLeaderOut reports whether δ, as held here, proves that its command
// leader p did not pre-accept γ unchanged with original attributes (cmds,
// deps) at the initial ballot: δ holds p's original attributes (orig),
// interferes with γ, is not in deps, and does not depend on γ. Had p
// pre-accepted γ unchanged, it had not yet proposed δ (its merge would have
// added δ to γ's deps); proposing δ afterwards, it would have made δ depend
// on γ.
func leavesLeaderOut(d *instance, g paxos.Instance, cmds []paxos.Command, deps []uint64) bool {
	p := d.id.Replica
	return p != g.Replica && d.orig && d.status == StatusPreAccepted && len(d.cmds) > 0 &&
		int(p) < len(deps) && d.id.Slot > deps[p] && d.deps[g.Replica] < g.Slot && paxos.BatchesInterfere(d.cmds, cmds)
}

// free runs the instance through PreAccept at the recovery ballot, or
// commits a Nop when the command is unknown.
func (r *Replica) free(in *instance, cmds []paxos.Command) {
	b := in.co.ballot
	if len(cmds) == 0 && in.led && in.mine != nil && in.id.Replica == r.id {
		// A reserved slot of ours (see lead) that no replica of a slow
		// quorum holds: ours to fill with the command waiting for it.
		cmds = in.mine
	}
	if len(cmds) == 0 {
		r.startAccept(in, b, nopBatch(), 0, r.zeroDeps())
		return
	}
	if in.bal > b {
		r.abandon(in, in.bal)
		return
	}
	cmds = slices.Clone(cmds)
	seq, deps := r.attrs(in.id, cmds, 1, nil, in.deps)
	in.cmds, in.seq, in.deps, in.status, in.bal, in.vbal, in.orig = cmds, seq, deps, StatusPreAccepted, b, b, false
	r.indexAdd(in)
	r.persist(in)
	co := in.co
	co.phase, co.started, co.widened, co.lastSend = phPreAccept, r.now, true, 0
	co.asked = setOf(r.nearest)
	co.cmds, co.seq, co.deps, co.origSeq, co.origDeps = cmds, seq, slices.Clone(deps), seq, slices.Clone(deps)
	co.replied, co.unchanged = quorum.Of(int(r.id)), 0
	msg := PreAccept{Ballot: b, Inst: in.id, Cmds: cmds, Seq: seq, Deps: deps}
	for _, p := range r.nearest {
		r.send(p, msg)
	}
	r.decidePreAccept(in)
}

func (r *Replica) startTryPreAccept(in *instance, a0 PrepareReply, u quorum.Set) {
	r.stats.TryPreAccepts++
	co := in.co
	co.phase, co.started = phTryPreAccept, r.now
	co.cmds, co.seq, co.deps = slices.Clone(a0.Cmds), a0.Seq, slices.Clone(a0.Deps)
	co.oks = u
	msg := TryPreAccept{Ballot: co.ballot, Inst: in.id, Cmds: co.cmds, Seq: co.seq, Deps: co.deps}
	for p := 0; p < r.n; p++ {
		if u.Has(p) || paxos.NodeID(p) == r.id {
			continue
		}
		r.send(paxos.NodeID(p), msg)
	}
	if !u.Has(int(r.id)) {
		r.onTryPreAcceptReply(r.id, r.handleTryPreAccept(msg))
		return
	}
	if co.oks.Len() >= r.sq {
		r.startAccept(in, co.ballot, co.cmds, co.seq, co.deps)
	}
}

func (r *Replica) onTryPreAccept(from paxos.NodeID, m TryPreAccept) {
	r.send(from, r.handleTryPreAccept(m))
}

func (r *Replica) handleTryPreAccept(m TryPreAccept) TryPreAcceptReply {
	reply := TryPreAcceptReply{Ballot: m.Ballot, Inst: m.Inst}
	in := r.get(m.Inst)
	if in == nil {
		reply.Conflict = m.Inst
		return reply
	}
	switch {
	case in.status == StatusCommitted:
		reply.Committed, reply.Cmds, reply.Seq, reply.Deps = true, slices.Clone(in.cmds), in.seq, slices.Clone(in.deps)
		return reply
	case m.Ballot < in.bal:
		reply.Ballot = in.bal
		return reply
	case in.status == StatusAccepted:
		if paxos.SameCommands(in.cmds, m.Cmds) && equalAttrs(in.seq, in.deps, m.Seq, m.Deps) {
			in.bal = m.Ballot
			r.persist(in)
			reply.OK = true
		} else {
			reply.Conflict = m.Inst
		}
		return reply
	case in.status == StatusPreAccepted && in.orig && equalAttrs(in.seq, in.deps, m.Seq, m.Deps):
		in.bal, in.vbal = m.Ballot, m.Ballot
		r.persist(in)
		reply.OK = true
		return reply
	}
	if c, proof, ok := r.findConflict(m); ok {
		reply.Conflict, reply.Proof = c, proof
		if d := r.inst[c.Replica][c.Slot]; d != nil && !proof {
			reply.LeaderOut = leavesLeaderOut(d, m.Inst, m.Cmds, m.Deps)
		}
		return reply
	}
	in.cmds, in.seq, in.deps = slices.Clone(m.Cmds), m.Seq, slices.Clone(m.Deps)
	in.status, in.bal, in.vbal, in.orig = StatusPreAccepted, m.Ballot, m.Ballot, true
	r.indexAdd(in)
	r.persist(in)
	reply.OK = true
	return reply
}

// findConflict looks for an instance known here that forbids γ = m.Inst
// from taking attributes (m.Seq, m.Deps); see the rules at the top of this
// file. proof says the conflict proves γ was not committed on the fast path
// with these attributes.
func (r *Replica) findConflict(m TryPreAccept) (paxos.Instance, bool, bool) {
	g := m.Inst
	for q := 0; q < r.n; q++ {
		// Executed instances (possibly garbage-collected) through the index:
		// one executed here while γ is not committed here cannot depend on γ.
		for _, c := range m.Cmds {
			if c.IsNop() {
				continue
			}
			for _, ki := range r.lookup(&c, false, 0, false) {
				f := ki.row(paxos.NodeID(q))
				e := f.execWrite
				if c.Writes() {
					e = max(e, f.execRead)
				}
				if e > m.Deps[q] {
					return paxos.Instance{Replica: paxos.NodeID(q), Slot: e}, true, true
				}
			}
		}
		for _, s := range r.open[q] {
			d := r.inst[q][s]
			if d == nil || d.executed || d.id == g || len(d.cmds) == 0 || !paxos.BatchesInterfere(d.cmds, m.Cmds) {
				continue
			}
			if d.deps[g.Replica] >= g.Slot {
				continue // δ already depends on γ
			}
			committed := d.status == StatusCommitted
			if committed && r.planted.tpaSkipsCommitted {
				continue
			}
			if s > m.Deps[q] {
				return d.id, committed, true
			}
			if d.seq >= m.Seq && !committed {
				return d.id, false, true
			}
		}
	}
	return paxos.Instance{}, false, false
}

func (r *Replica) onTryPreAcceptReply(from paxos.NodeID, m TryPreAcceptReply) {
	// A refusal naming a conflict answers the round; only a refusal without
	// one is a stale ballot.
	answered := m.OK || m.Conflict != (paxos.Instance{})
	d := decision(m.Committed, m.Inst, m.Cmds, m.Seq, m.Deps)
	in, co := r.currentRound(roundReply{m.Inst, m.Ballot, answered, d}, phTryPreAccept, true)
	if co == nil {
		return
	}
	switch {
	case m.OK: // rule 6: votes and U reach F+1: accept A0
		co.oks = co.oks.Add(int(from))
		if co.oks.Len() >= r.sq {
			r.startAccept(in, co.ballot, co.cmds, co.seq, co.deps)
		}
	case m.Proof: // rule 5: a committed δ outside A0's deps: free
		r.free(in, co.cmds)
	default: // rule 5: refused
		// Rule 4a from the replier's knowledge: the conflicting instance's
		// leader was not in γ's fast quorum. When too few candidates remain,
		// γ was not committed on the fast path: free.
		if c := m.Conflict.Replica; m.LeaderOut && c != in.id.Replica && m.Conflict.Slot > co.deps[c] {
			in.outOfFastQuorum = in.outOfFastQuorum.Add(int(c))
			if u, _, unknown := r.fastQuorumCandidates(in); u.Len()+unknown < r.fq-1 {
				r.free(in, co.cmds)
				return
			}
		}
		r.stats.Deferred++
		r.abandon(in, co.ballot)
		if m.Conflict != in.id && m.Conflict.Slot > 0 { // Step checked the instance
			if d := r.get(m.Conflict); d != nil && d.status != StatusCommitted && d.co == nil {
				d.nextTry = min(d.nextTry, r.now+1+r.rng.Uint64N(uint64(r.cfg.RetryTicks)))
			}
		}
	}
}
