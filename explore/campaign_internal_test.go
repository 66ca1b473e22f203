package explore

import (
	"context"
	"hash/maphash"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/longtest"
)

// campaignSeeds returns the first k walk seeds from 1 whose walks from
// scratch are campaign walks.
func campaignSeeds(k int) []uint64 {
	var out []uint64
	for s := uint64(1); len(out) < k; s++ {
		if rand.New(rand.NewPCG(s, 0x63616d71)).Float64() < campaignP {
			out = append(out, s)
		}
	}
	return out
}

// Campaign walks keep the correct protocols correct (N = 5), crash
// replicas, and replay exactly (6 walks a protocol, 25 with the long
// tests).
func TestCampaignWalksKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, protocol := range []string{"basic", "multi", "flexible", "epaxos", "fastpaxos", "raft"} {
		t.Run(protocol, func(t *testing.T) {
			cfg := Config{Protocol: protocol, Replicas: 5, Walks: 1, Replica: paxos.Config{InitialLeader: -1}}
			cfg = cfg.withDefaults()
			hs := maphash.MakeSeed()
			crashed, seeds := 0, campaignSeeds(longtest.Pick(6, 25))
			for _, seed := range seeds {
				trace, _, w := walk(context.Background(), &cfg, seed, nil, seed, hs, newVisited())
				require.NoError(t, w.err)
				require.Empty(t, w.failures, "%s seed %d:\n%s", protocol, seed, Format(trace))
				for _, a := range trace {
					if a.Kind == Crash {
						crashed++
						break
					}
				}
				again := replay(&cfg, seed, trace, hs)
				assert.Equal(t, w.hash(), again.hash(), "seed %d replays to the same state", seed)
			}
			assert.Greater(t, crashed, len(seeds)/2, "campaign walks crash a replica")
		})
	}
}
