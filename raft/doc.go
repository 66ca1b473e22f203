// Package raft runs etcd's Raft (go.etcd.io/raft/v3, its RawNode) behind
// the paxos.Replica contract, registered as protocol "raft". It does not
// implement Raft itself: leader election, log replication, commitment and
// snapshot shipping are etcd's. This package is the one protocol package
// that imports a consensus library from outside the module.
//
// # Mapping
//
// Raft ids are replica ids plus one (raft reserves 0 for "none"); the
// cluster is the N voters of the initial ConfState, and no configuration
// change is ever proposed. Each normal log entry carries a Batch of up to
// Config.Batch client commands, encoded with the project codec. A raft
// message travels as a Msg (its protobuf encoding) in a paxos.Message.
// RawNode runs with synchronous storage writes: each raft Ready becomes,
// in this replica's Ready, an EntriesRecord and a HardStateRecord in
// Persist (so they are durable before its Messages are sent), the Messages,
// and the committed entries applied to the replica's kv.Store exactly as
// in package multi: deduplication by (client, seq), every execution in
// Executed, commits of commands proposed here in Committed, and one
// Decision per log index (instance 0.index; an empty entry, which a new
// leader appends, is decided as one Nop). Config.Restore rebuilds the
// MemoryStorage from the latest SnapshotRecord and the records after it,
// and the store from the snapshot; raft then re-delivers the committed
// entries above the snapshot.
//
// Configuration: PreVote and CheckQuorum are on; ElectionTick and
// HeartbeatTick are Config.ElectionTicks and Config.HeartbeatTicks (which
// must be smaller); MaxSizePerMsg is 1 MiB and MaxInflightMsgs is
// Config.Window, so appends batch entries and pipeline. Proposals made at
// a follower are forwarded by raft to the leader; a proposal that has not
// executed after 4*ElectionTicks, or when a new leader is learned, is
// proposed again (deduplication makes the copies harmless). With
// Config.InitialLeader = L, replica L campaigns when it is first built.
// Only majority quorums are accepted.
//
// # Determinism
//
// etcd's raft draws each randomized election timeout from a package-global
// source backed by crypto/rand, which would make the simulator's runs
// unrepeatable. The draw (raft.randomizedElectionTimeout) is read only when
// a follower, pre-candidate or candidate is ticked (tickElection). This
// replica therefore ticks its RawNode only while it leads (tickHeartbeat:
// heartbeats and the CheckQuorum step-down, which use the fixed
// ElectionTick); while it does not lead it runs its own election timer,
// drawn from [ElectionTicks, 2*ElectionTicks) by Config.Rand (seeded by
// (Seed, ID)) and reset whenever raft resets its election clock (a change
// of term or role, an append, heartbeat or snapshot from the current
// leader, a vote granted), and calls Campaign when it expires. The global
// draw is still made but never read, so a seed replays exactly (tested by
// TestSameSeedSameTrace).
//
// Lease semantics are kept, and strengthened: raft ignores a (pre-)vote
// request at a replica that knows a leader and whose election clock is
// below ElectionTick. That clock stays at zero here while the replica does
// not lead, so a follower that knows a leader grants no vote until its own
// timer has expired (at least ElectionTicks after it last heard from the
// leader) and it has become a pre-candidate, or until a higher term made
// it forget the leader. A leader partitioned from a quorum steps down
// through CheckQuorum as in etcd.
//
// # Reads
//
// With Config.LeaseTicks > 0, a Get is served by raft's ReadIndex in its
// safe mode (ReadOnlySafe): the leader confirms with a heartbeat round that
// a quorum still follows it, and the replica answers from its store once it
// has applied the commit index the leader had then (Execution.LocalRead;
// no log entry is written). A read with no answer after 4*ElectionTicks
// goes through the log. Raft's lease-based mode (ReadOnlyLeaseBased) is not
// used: it trusts CheckQuorum, and a leader checks its quorum only every
// ElectionTick ticks, so it can keep serving for up to two election
// timeouts after its followers stopped hearing from it, while they may
// elect a new leader after one; stale reads are possible. Without
// LeaseTicks every command, reads included, goes through the log.
//
// # Snapshots
//
// Every Config.SnapshotEvery applied entries (DefaultSnapshotEvery when 0,
// never when negative) the replica snapshots its store with its
// deduplication table into raft's storage, compacts the log up to the
// previous snapshot (so a follower one interval behind still catches up
// from the log) and emits a SnapshotRecord in Ready.Snapshot holding its
// whole durable state: HardState, snapshot and the entries above it. A
// follower too far behind receives the snapshot from the leader (raft's
// MsgSnap), installs it and emits a SnapshotRecord too.
//
// Nothing of a snapshot is encoded on the event loop: the store shares its
// data with the snapshot copy on write, and the state is encoded by the
// storage that writes the SnapshotRecord, or for a MsgSnap. A snapshot the
// replica took keeps the records of its Ready (they follow it in storage)
// and says so (SnapshotRecord.BackgroundSnapshot), so a WAL without fsync
// writes it on a goroutine of its own while later Readys are persisted
// (storage.Background); replaying those records after it changes nothing
// (the argument is at Replica.backgroundSnapshot). Written in place, their
// records folded into them, are: a snapshot installed from the leader, one
// taken while rebuilding or in the Ready that ends a rebuild, and one taken
// after an append replaced entries of the log (until a snapshot is written
// in place again).
//
// # Input bounds
//
// etcd's raft trusts its peers: a heartbeat committing past the log, a
// snapshot at index 2^64-1, entries whose indexes do not follow the
// append's, or a heartbeat echo past the leader's read queue make it
// panic or corrupt its log. Step therefore validates every message before
// RawNode.Step (bounds.go) and refuses, with an error wrapping
// paxos.ErrMalformed counted under paxos.CoverageRefused, what no replica
// of this package sends: see validate for the rules (terms within
// paxos.MaxRound, indexes within MaxIndex, entries that follow one another
// and hold Batches, snapshots of this cluster's voters holding a State).
// Step first hands raft's pending Ready to the storage, so the checks see
// raft's whole log. An append far ahead of the log is not refused (a new
// leader probes each follower at its own last index): raft rejects it and
// stores nothing. No panic is recovered.
//
// # Lost disks
//
// A replica W started with Config.Rebuild lost its durable state: its term,
// the vote it cast in it, and the entries it acknowledged. Raft's safety
// rests on all three. A voter that forgot its vote can help elect a second
// leader in a term; one that forgot an entry it acknowledged can vote for a
// candidate lacking an entry that a majority counting it committed; and one
// that forgot its term acknowledges a leader of an older term, whose
// appends a majority counting it then commits over a newer leader's. So W
// starts empty, and until the rule below lets it, it never campaigns and
// raft never sees a vote request, a pre-vote request or a leadership
// transfer addressed to it.
//
//  1. W persists RebuildRecord{} first, then asks every peer for its
//     current term and the index of its last log entry (RebuildQuery,
//     RebuildInfo) until the peers that answered, none of them rebuilding,
//     meet every majority (quorum.Answers; that is at least N/2 of the
//     others, rounded up). Until then raft sees nothing but requests
//     forwarded by followers. Let T be the highest term and H the highest
//     last index reported.
//  2. W then lets raft see appends, heartbeats, snapshots and read
//     confirmations from leaders of terms at least T (and nothing older),
//     and proposes a Nop through the leader now and then, so that the log
//     grows past H even without clients.
//  3. Once W's term is at least T and it has applied an entry above H, it
//     persists RebuildRecord{Done: true, Term: T} (SnapshotRecord.Rebuild
//     carries it across snapshots) and votes again, except at terms up to
//     T, where it never votes or grants a pre-vote.
//
// Why. (a) At most one leader per term. An election that counted W's lost
// vote at term t counted a majority M; each member of M persisted term t
// before its vote, and the answering peers meet M, so t <= T. W votes again
// only above T, and never while it rebuilds. (b) No stale leader. W
// acknowledged entries of a leader of term t only after that leader was
// elected, so a majority had persisted t before W's disk was lost; hence
// t <= T, and the leaders W now follows, of terms at least T, are not older
// than any W followed before. By (a) each is the only leader of its term.
// (c) No committed entry lost. Let e at index i be committed by a majority
// C counting W's lost acknowledgement. The answering peers meet C, and the
// one in C held e when it answered, so i <= H. W votes again only after it
// applied an entry above H, learned from a leader of a term at least T:
// its log then holds the committed log through i, e included, and raft's
// up-to-date check keeps its votes from candidates lacking e, as it did
// before the loss. The argument takes "voted" and "acknowledged" at the
// moment the answering peers answered: a vote request or append that W
// answered before the loss, whose majority is completed by peers that get
// it only after they answered W, escapes T and H. Waiting for a new
// entry narrows that window in practice ("Paxos Made Live", section 5.1,
// waits for one instance started after the rebuild began for the same
// reason); closing it needs a bound on message delay, which the model does
// not have.
//
// Liveness. etcd's leader never sends a follower entries below the index
// it counts the follower as holding, so a leader that counted W's lost
// acknowledgements would leave W waiting for ever. A leader whose raft
// counts W as holding more than the last index W reports in its query
// (RebuildQuery.Last) therefore hands its leadership to its most up-to-date
// other follower (RawNode.TransferLeader); the new leader's count for W
// starts afresh. A rebuilding replica that makes no progress for two
// election timeouts asks again, so a transfer that failed is retried. This
// is the one leadership transfer this package starts: validate accepts
// MsgTimeoutNow and a vote request carrying the transfer's context, and
// nothing else of the kind. A rebuild needs a majority of the others up
// (the checker's wipe fault keeps one) and a leader. A crash mid-rebuild
// restarts the rebuild from what W persisted since it began, all of it
// learned from leaders of terms at least the T of its time; a later T is
// never lower (a leader of term T was elected by a majority the new
// answers meet). Config.Rebuild at N = 1 is refused: W alone is a majority.
// While a rebuilding W drops what a leader with a stale count sends it
// (heartbeats that commit past its log), it counts them, with every other
// message it does not let raft see, under "rebuild-dropped".
package raft
