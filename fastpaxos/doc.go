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
//
// In a fast round, the replica a client sent a command to proposes it itself:
// it takes the slot after the highest it has heard of and sends the command
// straight to every acceptor, skipping the leader. An acceptor votes for the
// first value it receives in a slot in that round and sends its vote to the
// leader and to the proposer. A value is chosen when a fast quorum voted
// for it in one fast round (a classic quorum in a classic round); whoever
// counts enough votes learns it and announces it with Commit. With no
// contention a command is thus learned by its proposer one round trip after
// it arrived: to the nearest fast quorum of acceptors counting itself.
//
// # Collisions and recovery
//
// Two replicas that propose different commands in the same slot at the same
// time split the acceptors' votes, and possibly no value gets a fast quorum.
// The leader, which receives every vote, recovers the slot in the next
// ballot (Round, self, 1), a classic round that directly follows the fast
// one: as soon as a classic quorum has voted and the votes differ, or after
// RetryTicks without a decision, it treats those votes as the phase-1
// reports of that ballot (coordinated recovery: an acceptor that voted in
// round i cannot vote in any round between i and the next, because there is
// none). A slot where too few votes arrive (lost messages, a crashed
// proposer) is recovered by a one-slot phase 1 at the next Sub instead
// (Recover and Report). Uncoordinated recovery (acceptors deciding among
// themselves) is not implemented.
//
// Ready.Committed reports a command chosen in a fast round with
// paxos.PathFast and one chosen in a classic round with paxos.PathSlow, so
// the benchmark's fast-path share is the share of commands that did not
// collide.
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
// Config.Rebuild is refused (an error wrapping paxos.ErrConfig): an acceptor
// that lost its votes could vote a second value in a fast round and break a
// fast quorum's choice, and the peers' answers a rebuild would wait for are
// not implemented here; the checker skips disk-loss faults for protocols
// that do not implement paxos.Rebuilder.
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
// own. Config.Thrifty is ignored: every fast proposal goes to every
// acceptor.
package fastpaxos
