// Package fastpaxos is Lamport's Fast Paxos (2006) as a replicated log: one
// Fast Paxos instance per slot, a leader that opens fast rounds, and classic
// rounds when fast ones collide or stall.
//
// # Rounds
//
// Every replica is an acceptor and a learner of every slot, a proposer of
// the commands its clients send it, and may be elected leader (the paper's
// coordinator). A ballot is (Round, Node, Sub), ordered in that order. A
// candidate wins phase 1 for every slot from its first unlearned one at
// (Round, self, 0), with a classic quorum of promises that report the
// acceptors' votes. In each slot some acceptor voted in, it picks a value
// with the rule below and runs a classic round at that ballot; above the
// highest such slot it sends Any, which makes (Round, self, 0) a fast round
// in every slot from there on (Any is also the leader's heartbeat). With
// Config.InitialLeader set, every replica starts as if it had promised
// (1, L, 0) and voted nothing, so the first leader needs no phase 1.
// A Prepare, Any, proposal or recovery below the receiver's promise is
// refused with a Nack, on which a stale leader steps down; one replica is
// sent at most two equal Nacks per tick, so a burst of stale messages,
// such as the Anys of a leader whose clock jumped ahead, is not echoed
// back into its queue.
//
// In a fast round, the replica a client sent a command to proposes it itself:
// it takes the slot after the highest it has heard of and sends the command
// straight to every acceptor, skipping the leader. An acceptor votes for the
// first value it receives in a slot in that round and sends its vote to every
// replica (with Config.Thrifty, to the leader and the proposer only). A
// value is chosen when a fast quorum voted
// for it in one fast round (a classic quorum in a classic round); whoever
// counts enough votes learns it and announces it with Commit. With no
// contention a command is thus learned by its proposer one round trip after
// it arrived: to the nearest fast quorum of acceptors counting itself.
//
// # Collisions and recovery
//
// Two replicas that propose different commands in the same slot at the same
// time split the acceptors' votes, and possibly no value gets a fast quorum.
// Both recoveries of the paper are implemented; which one runs depends on
// Config.Thrifty, which every replica of a cluster must share (like Batch).
//
// Coordinated recovery (Config.Thrifty set). The leader, which receives
// every vote, recovers the slot in the next ballot (Round, self, 1), a
// classic round that directly follows the fast one: as soon as a classic
// quorum has voted and the votes differ, or after RetryTicks without a
// decision, it treats those votes as the phase-1 reports of that ballot
// (an acceptor that voted in round i cannot vote in any round between i
// and the next, because there is none) and sends the value the rule below
// picks.
//
// Uncoordinated recovery (the default). Every acceptor hears every vote of
// the fast round (Round, L, 0). As soon as one has heard a classic quorum
// of them and they differ, it does by itself what the leader would do: it
// treats the votes it heard as the phase-1 reports of (Round, L, 1), picks
// a value with the same rule, and votes it at (Round, L, 1), once.
// (Round, L, 1) is then a fast round in which the leader sends nothing: a
// value is chosen there when a fast quorum voted it, and learners keep
// counting the votes of (Round, L, 0) meanwhile (a fast quorum may still
// complete there). If the acceptors' own round splits too, or stalls for
// RetryTicks with a classic quorum of votes, the leader recovers from its
// votes in (Round, L, 2), coordinated.
//
// Why it is safe. A vote at (Round, L, 1) is one a coordinator of that
// round could have sent: a coordinator that ran phase 1 of (Round, L, 1)
// with the quorum the acceptor heard would get exactly those votes as
// reports (none of them can change: one vote a round, and no round lies
// between the two). The rule below then either forces the one value that
// might have been chosen at (Round, L, 0), and it forces that value
// whichever quorum an acceptor heard, or shows that no value was or can be
// chosen there, and then any value may be voted in the fast round
// (Round, L, 1), where acceptors may vote different values. So acceptors
// that heard different quorums vote different values at (Round, L, 1) only
// when nothing was chosen at (Round, L, 0), and (Round, L, 2) recovers from
// them like from any collided fast round. When the rule leaves the value
// free, an acceptor takes the most voted value and breaks ties by the
// value's first command id, so that acceptors that heard different quorums
// agree as often as they can. The cost: every vote goes to every replica
// (N² messages a slot instead of 2N), and in a WAN it is not always
// faster: in results/fastpaxos-wan, at 100% collisions, it beats
// coordinated recovery at one client site and loses at four, because the
// commands that lost a slot are placed again only once the leader learned
// the slot, not as soon as it recovered it.
//
// In both, a slot where too few votes arrive (lost messages, a crashed
// proposer) is recovered by a one-slot phase 1 at the next Sub the leader
// may use (Recover and Report): from 1 with coordinated recovery, from 2
// with uncoordinated recovery.
//
// A round that gets no answer is sent again (a proposer's Propose, the
// leader's Recover or Accept) after RetryTicks, and each further time
// after twice as long as the time before, up to 32 RetryTicks: a late
// answer is most often queued at a busy replica, and resending at a fixed
// pace turned a burst of load at N = 7 into queues that grew for good.
// The wait belongs to one round: a proposal whose slot a new leader opens
// for its own fast round goes out there RetryTicks after its last send,
// however long the old round had come to wait. A command forwarded to the
// leader (below) is likewise forwarded again while it is not chosen, after
// 4 RetryTicks + ElectionTicks, then after twice as long each time up to
// 32 RetryTicks, and to a new leader at once.
//
// Ready.Committed reports a command chosen in the proposers' fast round
// (Sub 0) with paxos.PathFast and one chosen in any later round with
// paxos.PathSlow, so the benchmark's fast-path share is the share of
// commands that did not collide.
//
// The commands that lost a recovered slot are put by the leader in fresh
// slots, each through a one-slot phase 1 and a classic round (where no
// fast proposal can win over it unless one was already voted there), and
// so is a command its proposer forwards after it lost a fast round. This
// is the fall back to classic rounds under contention.
//
// # The value-selection rule
//
// Recovery at ballot b has reports from m acceptors (m at least a classic
// quorum): each acceptor's latest vote in the slot, below b. Let k be the
// highest ballot among them. Nobody voted: any value may be proposed. If k
// was a classic round, its leader sent one value; take it. If k was a fast
// round, several values may have been voted at k. A value v might have been
// chosen at k only if all the members of some fast quorum voted v at k; the
// reporters that belong to that fast quorum then all reported v, and there
// are at least fast + m - n of them (the fast quorum minus the acceptors
// that did not report). So: if some value has at least fast + m - n votes
// at k among the reports, it might have been chosen, and recovery must
// propose it; the quorum rules below make that value unique. Otherwise no
// value was or can be chosen at k, nor below k (a leader opens a fast round
// in a slot only when its phase 1 found nothing there that could have been
// chosen), nor between k and b (the reporters promised b), and recovery may
// propose any value; this implementation takes the value most voted at k (ties: the
// lowest-id reporter's), or the forwarded command it is placing.
// This is the paper's rule O4(v).
//
// # Quorums
//
// Quorum sizes come from cfg.Quorums, a quorum.Fast (nil means the defaults:
// classic ⌊N/2⌋+1, fast ⌈3N/4⌉). quorum.NewFast refuses sizes for which
// two classic quorums could be disjoint (2·classic ≤ N) or a classic quorum
// could miss two fast quorums (classic + 2·fast ≤ 2N): then two values could
// each have fast + m − n votes among the reports and recovery could not tell
// which one was chosen. Other quorum systems are refused with an error
// wrapping paxos.ErrConfig.
//
// # Durability
//
// Promises (for every slot, and a recovery ballot's for one slot), votes and
// decisions are persisted before any message that depends on them is sent;
// New with Config.Restore replays them. A restarted leader never reuses its
// old ballots: it campaigns with a Round above every promise it persisted.
//
// # Rebuilding after a lost disk
//
// A replica W started with Config.Rebuild has lost its durable state. It
// may have promised a term and voted, in fast and classic rounds, values
// that a quorum chose with its vote; voting again on empty state, it could
// vote a second value in a fast round it already voted in, or report
// nothing where rule O4 needs its vote, and a chosen value could be lost
// (the planted bug fastpaxos/wiped-votes-at-once does that, and the
// checker's wipe fault catches it). So W votes on nothing while it
// rebuilds: no Promise, no vote in a fast or classic round, no Report, no
// recovery vote of its own, no Nack; it never campaigns. It still
// proposes its clients' commands and learns from the others' votes. It
// asks its peers for their term promise and the highest slot they know of
// (RebuildQuery, RebuildInfo) until the peers that answered, none of them
// rebuilding, form a set A that meets every classic quorum (N − classic +
// 1 of them). Then:
//
//  1. W promises P, the highest term promise reported. A term promise W
//     lost was counted in a classic quorum whose other members promised
//     it too, and one of them is in A, so P is at least that promise.
//  2. Let H be the highest slot reported. A value chosen with W's vote (by
//     a classic or a fast quorum: either has at least classic members) was
//     voted by the rest of that quorum, which meets A, so its slot is at
//     most H; so is every slot where W promised a recovery ballot. W
//     learns every slot up to H from the leader (catch-up, or a snapshot)
//     and persists each decision, so it never votes or reports in those
//     slots again: it answers them as decided.
//  3. W proposes a Nop of its own and waits until a slot above H is
//     learned, as multi does (an instance started after the rebuild
//     began completes).
//
// Then W persists RebuildRecord{Done: true} and votes again. It persists
// RebuildRecord{} before anything else, and a snapshot taken while
// rebuilding says so (SnapshotRecord.Rebuilding), so a crash mid-rebuild
// resumes the rebuild from what it persisted since it began. The residual
// is multi's: a message sent before the loss to the rest of W's quorum and
// delivered only after A answered (a vote above H) escapes the argument;
// step 3 narrows that window, and closing it needs a bound on message
// delay. A rebuild finishes only while a leader and a classic quorum of
// the others are up; a replica that alone is a classic quorum (N = 1)
// cannot rebuild, and New refuses Rebuild for it.
//
// # Snapshots
//
// Every Config.SnapshotEvery executed slots (DefaultSnapshotEvery when 0,
// never when negative) a replica snapshots its state machine, the clients'
// dedup sessions included, and emits a SnapshotRecord holding all its
// durable state (its term promise, the snapshot, and every slot above it),
// which replaces every earlier record. It drops the slots up to its
// previous snapshot, keeping one interval for peers that catch up from the
// log. Every message about a dropped slot is ignored: the slot was chosen
// and the snapshot holds its effect. A CatchUp for dropped slots is
// answered with InstallSnapshot; a Prepare whose From is a dropped slot, or
// more than the input bound below this replica's learned prefix, is refused
// with a Nack carrying Learned, and the candidate catches up from that
// acceptor before it campaigns again.
//
// # Input bounds
//
// Step refuses, with an error wrapping paxos.ErrMalformed and counted under
// paxos.CoverageRefused, what no correct peer sends (see check in
// bounds.go): a message from the receiver itself or from outside the
// cluster, a slot more than 4·Window + 128 past the learned prefix (a
// promise's votes: twice that), a ballot of no replica or above
// paxos.MaxRound, a value of no command or more than Config.Batch, more
// than 64 slots in a catch-up answer. A leader's highest slot (Any.MaxSlot) only steers and is
// clamped to that bound. Proposers and the leader open slots only within
// Window of their own learned prefix, so correct peers stay within each
// other's bounds unless one fell behind, and then it catches up first.
//
// # Batching
//
// A proposer puts the commands its clients sent it since its last Ready in
// one fast-round value, up to Config.Batch commands a slot; the leader does
// the same with the commands forwarded to it. A collision then makes whole
// batches lose; the leader places their commands again, in batches of its
// own. Config.Thrifty does not make fast proposals thrifty (every one goes
// to every acceptor); it chooses coordinated recovery, above.
package fastpaxos
