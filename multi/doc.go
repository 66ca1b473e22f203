// Package multi implements Multi-Paxos: a stable leader runs phase 1 once
// per ballot for every slot above its commit point, then each command needs
// only phase 2.
//
// # Protocol
//
// Ballots are (round, leader id). With Config.InitialLeader = L >= 0 every
// replica starts having promised ballot 1.L with nothing accepted, which is
// exactly what phase 1 at 1.L would report, so L leads from the first tick;
// any other candidate uses round 2 or higher and runs phase 1. With -1 the
// replicas elect a leader: a follower that hears nothing from a leader for a
// timeout drawn from [ElectionTicks, 2*ElectionTicks) (cfg.Rand) starts
// phase 1 at a higher ballot. A candidate that gathers a phase-1 quorum takes,
// for every slot from its commit point up to the highest slot reported, the
// value of the highest ballot (or a value known committed) and fills gaps with
// a Nop, and re-proposes them all at its ballot before serving new commands.
//
// The leader keeps up to Config.Window slots in flight, each carrying up to
// Config.Batch commands (commands queued between two calls of Ready are
// batched), sends heartbeats every HeartbeatTicks and announces each commit to
// every replica as soon as it learns it. Accepts, Commits and heartbeats at a
// ballot below the receiver's promise are refused with a Nack, on which the
// stale leader steps down (at most two Nacks of one promise per peer and
// tick: a burst of stale messages, such as the heartbeats of a leader whose
// clock jumped ahead, is not echoed back into its queue). An Accept unacknowledged after RetryTicks is
// resent to each replica that has not acknowledged it but has since answered
// a heartbeat sent after it (so its answer should be here: one of the two
// was lost); with thrifty phase 2 this widens the quorum to the live
// replicas. Replicas that answered nothing since are not sent anything: they
// are down, or this leader has not yet processed the replies queued at it,
// and resending would turn its queueing delay into a retransmission storm.
//
// # Short commits
//
// The leader announces a chosen slot to most followers with a Chosen
// (ballot and slot, no commands) instead of a Commit: to each follower
// that acknowledged the slot, and to each it sent the slot's Accept that
// has acknowledged some slot of its ballot at most Window slots earlier
// (it votes at this ballot; its Accepted for this slot is merely slower
// than the quorum's). Only a follower that has acknowledged nothing
// recent at the ballot (down, cut off, or rebuilding after a lost disk,
// which stores no Accept) gets the commands in a Commit. Safety does not
// depend on this choice, only on what a follower learns from a Chosen: the
// value it holds for the slot, and only if it holds it at the Chosen's
// ballot b. The leader sends a Chosen only for a slot it proposed at b and
// saw a phase-2 quorum accept at b (a slot it learned otherwise, as one
// phase 1 reported committed, goes out in Commits), and it proposes one
// value per slot at its ballot (phase 1's value, a Nop, or one batch);
// so a value held at b is the one chosen. A follower that holds nothing
// for the slot, or a value of another ballot (it lost b's Accept, or b's
// Accept has not arrived: links are FIFO between live replicas, not under
// the simulator's reordering faults), ignores the Chosen and learns the
// slot by catch-up, as after a lost Commit: its heartbeat replies show it
// behind the leader's announced commit point (while they show it still
// executing, it is more likely lagging with its Commits queued, and each
// catch-up carries only the first slot it lacks). A Chosen at a ballot below
// the receiver's promise is refused with a Nack, as a Commit is.
//
// Any replica takes proposals: a follower forwards them to the leader it
// knows, forwards them again when it learns of a new leader or when they have
// not executed after 4*ElectionTicks, and reports each command in its own
// Ready.Executed once it executed there. Execution deduplicates by (client,
// seq), so a retried command takes effect once; a command proposed again
// while pending at a replica is not sent again. A follower keeps at most
// max(Window, Batch) of its proposals forwarded and unexecuted and holds the
// rest, in order, until earlier ones execute (then one Forward carries what
// the freed credit allows): an overloaded leader pays for every message it
// receives, so forwarding faster than it commits would queue commands in
// front of the Accepted replies it needs, and throughput would collapse
// instead of staying at saturation while latency grows.
//
// # Durability, catch-up and compaction
//
// A promise (PromiseRecord) and each accepted value (AcceptRecord) are in the
// Persist of the Ready whose messages depend on them; a replica restarted with
// Config.Restore rebuilds itself from them. Every SnapshotEvery executed slots
// (default 1000, negative = never) a replica snapshots its key-value store
// with its deduplication table and emits a SnapshotRecord in Ready.Snapshot
// holding its whole durable state (promise, store, every value above the
// snapshot point). Its log in memory keeps at most SnapshotEvery executed
// slots below its execution point, however long ago it last snapshotted,
// plus what is in flight: execution drops the slots below that tail as it
// passes them. A replica that reports, in
// its heartbeat reply, that it is behind the commit point the heartbeat
// announced (the leader's execution point at its previous heartbeat, so
// Commits merely in flight do not count) receives the committed entries it
// misses, or a snapshot of the leader's store at its execution point if the
// leader has dropped them. A candidate whose commit point is below the start of a
// promiser's log receives such a snapshot with the promise.
//
// # Leases
//
// With LeaseTicks > 0 (it must be below ElectionTicks and above LeaseMargin),
// a follower that hears from a leader promises not to promise any other
// candidate for LeaseTicks of its own ticks (after a restart it waits a full
// lease first, having forgotten what it granted). The leader counts the lease
// from when it sent the heartbeat that a phase-2 quorum acknowledged, minus
// LeaseMargin ticks, and while it holds answers a Get proposed at it from
// local state (Execution.LocalRead) once it has executed every slot it took
// over in phase 1. Since every phase-1 quorum meets the acknowledging phase-2
// quorum, no new leader can finish phase 1, let alone commit a write, before
// the old lease has expired with margin. Leases are off by default.
//
// The margin bounds the clock drift leases tolerate. With k = LeaseTicks, the
// leader holds its lease for k-2 of its ticks after sending the heartbeat; a
// follower that received that heartbeat refuses other candidates until its
// k-th tick after it, at least k-1 of its tick intervals later (one tick is
// lost to the unknown phase between the two tick sources). Leases are
// therefore safe as long as k-2 ticks of any replica never last longer than
// k-1 ticks of any other: tick rates that differ by at most a factor
// (k-1)/(k-2) (1.25 for 6-tick leases, 2 for the smallest lease, 3 ticks),
// or, with every clock within 1 ± 1/(2k-3) of its nominal rate, at any drift
// within that. Message delay needs no bound: a late heartbeat reply only
// shortens the lease. A clock that jumps, or a replica paused and then
// acting on its stale clock, is outside the model.
//
// # Rebuilding after a lost disk
//
// A replica started with Config.Rebuild has lost its durable state (a
// wiped, truncated or restored-from-backup disk). Before the loss it may
// have accepted a value that a phase-2 quorum chose with its vote (a later
// phase-1 quorum may meet that quorum only at this replica, which now
// remembers nothing), and it may have promised a ballot b' whose phase 1
// counted that promise (accepting a lower ballot now could choose a value b'
// did not see). So a rebuilding replica W votes on nothing: it sends no
// Promise and no Accepted, never stands for election, and forwards the
// proposals made at it to the leader. It asks its peers for their promised
// ballot and highest slot (RebuildQuery, RebuildInfo) until the peers that
// answered, none of them rebuilding, form a set A that meets every phase-1
// and every phase-2 quorum without W (no quorum lies within W and the
// silent peers: a majority of the others under majorities, N - min(Q1,Q2)
// + 1 of them under counting quorums). Then:
//
//  1. W promises P, the highest ballot reported. The rest of the phase-1
//     quorum that counted W's lost promise of b' meets A, so P >= b': W
//     never accepts below a ballot it may have promised.
//  2. Let H be the highest slot reported. A value chosen with W's vote was
//     accepted by the rest of its phase-2 quorum, which meets A, so its slot
//     is at most H. W learns every slot up to H through the leader's
//     catch-up (its heartbeat replies report how far it executed) and makes
//     it durable in a snapshot, so that from then on, even after a crash, it
//     reports each of them as committed in any Promise.
//  3. As "Paxos Made Live" (section 5.1) asks, W also waits for one instance
//     started after it began rebuilding to complete: it forwards a Nop to
//     the leader and waits until it has executed a slot above H.
//
// Then W persists RebuildRecord{Done: true} and votes again. It persists
// RebuildRecord{} before anything else (and SnapshotRecord.Rebuilding while
// rebuilding), so a crash mid-rebuild restarts the rebuild from what it
// persisted since it began, even without Config.Rebuild. With leases, W
// refuses other candidates for a full lease, as after any restart. The
// argument takes "accepted" and "promised" at the moment A's members
// answered; a Prepare or Accept sent before the loss and delivered to the
// rest of its quorum only after they answered escapes it (its ballot may
// exceed P, its slot H). Step 3 narrows that window in practice; closing it
// needs a bound on message delay, which the model does not have. A rebuild
// needs a leader to learn from, so it finishes only while the replicas that
// are up and not rebuilding hold a phase-1 and a phase-2 quorum (under
// majorities: at most a minority crashed or rebuilding at once; with Q2 = 2,
// one lost disk at a time). A quorum system in which one replica alone is a
// quorum cannot be rebuilt (what only it accepted is gone), and New refuses
// Rebuild for it.
//
// # Quorums
//
// The engine runs over any quorum.System whose phase-1 quorums meet its
// phase-2 quorums (checked by CheckQuorums); package flexible uses it with
// Flexible Paxos quorums and thrifty phase 2.
package multi
