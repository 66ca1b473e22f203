package protocols_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// FuzzHonestRaft runs fuzzHonest over Raft (etcd's, behind the contract):
// the input bounds of package raft must refuse no message an honest
// replica sends, under any delivery order, duplication or loss.
func FuzzHonestRaft(f *testing.F) { fuzzHonestTarget(f, "raft") }

// The honest raft schedules decide, so FuzzHonestRaft's invariants are not
// vacuous (TestFuzzHonestDecides for raft).
func TestFuzzHonestRaftDecides(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	d := fuzzHonest(t, "raft", data)
	assert.Positive(t, d)
	t.Logf("raft: %d decisions learned", d)
}
