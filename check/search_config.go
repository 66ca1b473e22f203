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
