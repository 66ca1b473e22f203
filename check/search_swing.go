package check

import (
	"math/rand/v2"
	"time"
)

// Swinging bridges: an amnesiac bridge (search_persist.go) that, once it
// has answered the rival half, forgets those answers too. Right after its
// last answer to the rival half, before anything else reaches it, the
// bridge X crashes again, comes back deaf to the rival half instead, and a
// replica of the first half has its clock run ahead until it starts a
// round of its own; X then serves that round, and may swing back again.
// The first crash makes X forget what it told the first half, so the
// rival half gets its answers; the second makes it forget what it told the
// rival half while the first half, which has heard nothing of the rival's
// round, asks again. A replica that records its vote after sending it (or
// one Ready late) then votes twice in the same round, once for each half:
// the rival's round took the first half's place, and the first half's new
// round reaches the same ballot or term. Without the swing, X either hears
// the first half again with its vote for the rival on record, or heals
// only after the rival half's leader has written to it, and the first
// half's candidate, behind X's log, cannot win X's vote.

// bridgeSwings decides, from a random stream of its own, whether an
// amnesiac bridge swings back: in half the runs never, in the rest with a
// probability of 0.3 to 1 each time, at most 1 to 4 times a run, and only
// while the bridge's split holds.
type bridgeSwings struct {
	rng  *rand.Rand
	p    float64
	left int
}

func newBridgeSwings(seed uint64) *bridgeSwings {
	rng := rand.New(rand.NewPCG(seed, 0x7377696e67))
	w := &bridgeSwings{rng: rng}
	if rng.IntN(2) == 0 {
		return w
	}
	w.p, w.left = 0.3+0.7*rng.Float64(), 1+rng.IntN(4)
	return w
}

// swing reports whether the bridge swings back now, the split holding until
// until.
func (w *bridgeSwings) swing(now, until time.Duration) bool {
	if w.left == 0 || now >= until || w.rng.Float64() >= w.p {
		return false
	}
	w.left--
	return true
}

// delay draws how long the half that asks again waits before its clock
// runs ahead: 0 to 60 ms, so that a leader the rival half elected has
// taken commands before it finds itself alone.
func (w *bridgeSwings) delay() time.Duration { return upTo(w.rng, 60*time.Millisecond) }
