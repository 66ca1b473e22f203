package check

import "math/rand/v2"

// varyConflict returns the share of a run's operations on one hot key
// (Options.Conflict). A configured share is kept; otherwise a quarter of
// the seeds draw one of 0.3 to 1. Spread over a few keys, two commands on
// the same key rarely reach two command leaders within a network delay of
// each other, so EPaxos seldom builds a strongly connected component whose
// members tie on seq, and the order replicas execute such a component in
// is seldom checked: a hot key makes such races the common case. It draws
// from a random stream of its own, so that the other variations of a seed
// stay what they were.
func varyConflict(configured float64, seed uint64) float64 {
	rng := rand.New(rand.NewPCG(seed, 0x686f746b6579))
	if configured > 0 || rng.IntN(4) != 0 {
		return configured
	}
	return 0.3 + 0.7*rng.Float64()
}
