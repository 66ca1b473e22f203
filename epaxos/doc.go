// Package epaxos implements Egalitarian Paxos (Moraru, Andersen, Kaminsky,
// SOSP 2013; proof and recovery in CMU-PDL-13-111): leaderless consensus in
// which every replica is the command leader of the commands proposed to it.
//
// An instance (replica, slot) carries a batch of commands with two ordering
// attributes: seq and deps (Deps[r] = highest slot of replica r holding an
// interfering command, 0 = none). A per-key index yields the attributes
// without scanning the log. The command leader pre-accepts at its initial
// ballot; when a fast quorum of F+floor((F+1)/2) replicas (counting itself)
// all pre-accept the leader's original attributes unchanged, the instance
// commits in one round trip (fast path). Otherwise the union of the replies
// is accepted by F+1 replicas and then committed (slow path). Commits are
// broadcast at once, short (without the commands) to the replicas the
// leader sent the commands to at the initial ballot (see Commit). With N = 3 and Thrifty, a leader whose PreAccept went
// to its nearest replica only commits that replica's answer, changed or
// not, after the one round (as the published implementation does); rule 3a
// of recovery makes that safe.
//
// Recovery (explicit prepare) runs when an instance stays uncommitted: it
// follows the paper's case analysis with TryPreAccept for the optimized fast
// quorum, keeps every instance's promised ballot apart from the ballot of its
// last vote (Sutra, 2019), and commits a Nop when no replica knows the
// command. See recovery.go for the exact rules and the argument for them.
//
// Execution runs Tarjan's algorithm over committed instances each time the
// replica is stepped, executes strongly connected components in dependency
// order with members ordered by (seq, replica, slot), never waits (an
// uncommitted dependency is recovered after a timeout) and applies the EPaxos
// Revisited rule: a dependency W that also depends on V and is ordered after
// V by (seq, replica, slot) is not waited for when executing V.
//
// Instances executed at every replica are garbage-collected using executed
// watermarks that replicas exchange periodically. A replica whose watermark
// for some replica's instances stalls is sent the commits it is missing.
// The per-key index drops a key once its instances are executed everywhere
// and so is every instance any replica held by then (the watermarks also
// carry the highest slots each replica holds); a floor per key bucket
// stands for what was dropped when fresh attributes are computed. See
// gc.go, floor.go and "Pruning the index" in recovery.go.
//
// Every replica recovers any instance it knows of (or that a dependency
// names) once it has stayed uncommitted for 10-20 RetryTicks, backing off
// exponentially, and longer when queueing slows commits down (see
// recoveryDelay).
//
// Slow path when the fast one is lost. A command leader at its initial
// ballot waits for a fast quorum of replies, and settles for the slow path
// with F+1 replies (itself included) after a timeout (the impatient
// path), or at once when the replies that changed the attributes leave
// too few replicas to answer unchanged for a fast quorum even if every
// replica not heard yet did. Safety is that of the impatient path: the
// leader accepts the union of the attributes of F+1 pre-accept replies,
// the ordinary slow path; only the moment changes, and at that moment no
// fast commit was still possible. Liveness is why: while F replicas are
// silent (crashed, or rebuilding after lost disks, which vote on nothing),
// an instance γ they may have fast-committed is decided only by a
// TryPreAccept that every live replica not holding γ's original attributes
// takes, and such a replica refuses it while it holds an uncommitted
// interfering instance of its own that leaves γ out. Not holding γ's
// command, it proposed each new instance without γ, and every answer came
// back changed (the others add γ), so each stayed uncommitted until the
// impatient timeout or a recovery; under steady load one always was, and
// γ, with the rebuilds waiting for it, never committed (the paired disk
// losses wiping F = 3 of 7 replicas at once, seed 117).
//
// Rebuilding after a lost disk. A replica W started with Config.Rebuild
// has lost its durable state. Before the loss it may have pre-accepted or
// accepted instances (votes that a recovery counts: a fast-quorum
// pre-accept with the leader's original attributes, an accepted value and
// its ballot), promised recovery ballots, and led instances of its own at
// slots it no longer knows. A vote or promise matters only while its
// instance is uncommitted: a committed decision is final, and a recovery
// that meets a replica knowing the commit adopts it. So W sends no
// PreAccept, Accept, Prepare or TryPreAccept reply and leads nothing (no
// command, no recovery) until every instance it may have voted on is
// committed and known to it. It asks its peers (RebuildQuery) for the
// highest slot they know of each replica and for the committed part of one
// peer's state (store, dependency index, committed instances; the peer's
// votes are not W's), until the peers that answered, none of them
// rebuilding, are at least N-F (so every slow quorum, and every fast
// quorum, has a member among them besides W). Let H[q] be the highest slot
// of replica q they reported. A vote of W that a commit or a recovery could
// count belongs to an instance the rest of whose quorum meets those peers,
// so its slot is at most H[q]; and every instance W led that was committed,
// or that an answering peer holds, is at most H[W]. One W led that reached
// only peers that did not answer may lie above H[W], but no higher than
// H[W] + Config.Window: W never has more than a window of its own instances
// uncommitted (restored ones included), so when it led its highest slot one
// of the window below was committed, and a peer that answered knew it. W
// then asks for the commits of every instance up to H that it does not
// hold committed (peers recover the undecided ones as usual), and once it
// holds them all it persists a snapshot with its slot counter past H[W],
// its slots up to H[W] + Window reserved, and RebuildRecord{Done: true},
// and votes and leads again, with two exceptions: it leads a reserved slot
// only after a phase 1 at a higher ballot, as a recovery would, proposing
// its command there only if no replica that answered holds the slot; and
// it never casts a fast-path vote again (it lost the memory of its own
// commands that recovery rule 4a relies on). See rebuild.go for both. Peers that get W's query forget W's execution watermark, so that
// garbage collection keeps what W still needs. A crash mid-rebuild restarts
// the rebuild (RebuildRecord{}, SnapshotRecord.Rebuilding). Assumptions: at
// most F replicas are crashed or rebuilding at once (otherwise W waits);
// and, as for Multi-Paxos, votes are taken at the moment the peers answered:
// a PreAccept or Accept sent before the loss and delivered to the rest of
// its quorum only after they answered escapes the bound (see rebuild.go).
//
// Load. A command leader keeps at most Config.Window of its own instances
// uncommitted; further proposals wait locally (so that under overload
// latency grows in that queue instead of in every replica's message queue,
// where it would trip timeouts). With Config.Batch > 1, proposals arriving
// while the leader has an instance in flight wait for a full batch, for the
// next Tick at the latest; with nothing in flight they go out at once. A
// round that waits a retry period is resent to a replica only on evidence
// that a message was lost (the replica answered a round started later, or
// has been silent since), and to every replica that has not answered after
// resendAfter retry periods; Thrifty rounds widen to the replicas left out
// only on such evidence. Stats counts resends and widenings.
//
// Known limitations, stated plainly:
//
//   - TryPreAccept deferral. When TryPreAccept is refused because of an
//     uncommitted conflicting instance, this recovery attempt is abandoned
//     (Stats.Deferred), the conflicting instance is recovered first, and
//     the attempt retried later. Instances whose leaders are down and that
//     block one another's TryPreAccepts are resolved by rule 4a in
//     recovery.go: a replica whose own instance, held somewhere with its
//     original attributes, leaves the recovered instance out cannot have
//     been in that instance's fast quorum. The technical report keeps such
//     "possible quorum" bookkeeping for deferred recoveries; we could not
//     read its text, so 4a is our restatement of the part we can prove, with
//     the evidence coming from the recoverer's own state or from the
//     refusing replica (TryPreAcceptReply.LeaderOut). Its completeness is
//     shown by testing, not proven: TestRecoveryLiveAfterCrashStop stops F
//     replicas for good after random schedules with heavy conflicts and
//     requires the survivors to decide everything (500 schedules per size
//     in the suite, tens of thousands while developing, none stuck; with
//     4a turned off it fails at N = 5 within the first 50). A blocker
//     whose leader's original attributes no live replica holds would still
//     wait until enough replicas are back.
//   - TryPreAccept accepts a committed conflicting instance δ that is among
//     the candidate deps even if its seq is not below the candidate seq (the
//     strict rule can block recovery while the missing replicas stay down).
//     Agreement and the dependency invariant are unaffected. The recovered
//     instance can then share a strongly connected component with δ and
//     come first by seq, but only when the two were concurrent: clients
//     are answered at execution, which needs the whole dependency closure
//     committed, so a command that completed before another was proposed
//     never shares a component with it and always executes first. No
//     client-visible real-time violation follows
//     (TestRelaxedTryPreAcceptOrder builds the schedule and explains it).
//   - After a restart, a replica re-executes everything after its latest
//     snapshot, taken after Config.SnapshotEvery executed instances
//     (default 10000) once at least as many commands executed since the
//     previous one as the index or the store held keys at the previous
//     one (a snapshot shares both copy on write and is encoded whole, so
//     its cost per command stays bounded); the Executed it reports
//     again carry the same outputs.
package epaxos
