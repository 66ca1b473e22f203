package check

import "math/rand/v2"

// varyThrifty returns whether a run sends its phase-2 (PreAccept, Accept)
// messages only to the needed quorum (paxos.Config.Thrifty). A configured
// true is kept; otherwise half the seeds are thrifty. Thrifty rounds are a
// different protocol path, not only a different message count: a round
// that asked exactly a quorum decides on the replies of exactly that
// quorum, so recovery has to find decisions resting on the fewest votes
// (EPaxos at N = 3 commits after a single PreAccept reply; a fast quorum
// is met by exactly its members). Checking only the broadcast mode leaves
// the rules that cover those decisions unexercised.
func varyThrifty(configured bool, rng *rand.Rand) bool {
	return configured || rng.IntN(2) == 0
}

// varyStagger decides whether a run staggers its replicas' routine
// snapshots (paxos.Config.StaggerSnapshots), as the live runtime always
// does: half the seeds whose replicas take snapshots, so both the
// staggered schedule (each replica snapshots at its own point, and a peer
// catching up can be sent a snapshot older or newer than its own) and the
// lockstep one are checked. It draws from a stream of its own, so the
// other draws of a seed stay what they were.
func varyStagger(configured bool, snapshotEvery int, seed uint64) bool {
	if configured || snapshotEvery <= 0 {
		return configured
	}
	return rand.New(rand.NewPCG(seed, 0x7374616767)).IntN(2) == 0
}
