package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// The narrow rounds, alone, keep correct protocols correct at N = 5 and
// 7, and do nothing at N = 3 (no quorum there leaves a pair out).
func TestNarrowRoundsKeepCorrectProtocolsCorrect(t *testing.T) {
	withInjectors(t, []injector{{FaultPartition, injectNarrowRounds}}, func() {
		for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
			for _, n := range []int{5, 7} {
				for seed := uint64(1); seed <= uint64(9-n); seed++ { // 4 at N = 5, 2 at N = 7
					res, err := Run(Options{Protocol: proto, Replicas: n, Seed: seed, Faults: []string{FaultPartition},
						Replica: paxos.Config{InitialLeader: -1}})
					require.NoError(t, err)
					assert.Empty(t, res.Failures, "%s n=%d seed=%d", proto, n, seed)
				}
			}
		}
	})
}

// The narrow rounds alone catch a Multi-Paxos leader that counts an
// acknowledgement of its earlier ballot (at N = 5 and 7) and a Basic
// Paxos acceptor whose accepting leaves its promise where it was (N = 5),
// each within a few dozen seeds; the search survived 500 seeds of each
// without them.
func TestNarrowRoundsCatchVotesOfAnotherBallot(t *testing.T) {
	for _, c := range []struct {
		bug string
		n   int
	}{{"multi/accepted-any-ballot", 5}, {"multi/accepted-any-ballot", 7}, {"basic/accept-keeps-promise", 5}} {
		m, err := paxos.LookupMutant(c.bug)
		require.NoError(t, err)
		withInjectors(t, []injector{{FaultPartition, injectNarrowRounds}}, func() {
			first := 0
			for seed := 1; seed <= 60 && first == 0; seed++ {
				res, err := Run(Options{New: m.New, Replicas: c.n, Seed: uint64(seed), Faults: []string{FaultPartition},
					Replica: paxos.Config{InitialLeader: -1}})
				require.NoError(t, err)
				if !res.OK() {
					first = seed
					assert.Contains(t, res.Failures[0], "decided twice", "%s n=%d seed %d", c.bug, c.n, seed)
				}
			}
			assert.Positive(t, first, "%s n=%d survived 60 seeds", c.bug, c.n)
			t.Logf("%s n=%d caught at seed %d", c.bug, c.n, first)
		})
	}
}

// narrowAlone takes about one run in narrowShare among runs without
// leases at N = 5 or more that inject partitions, and leaves every other
// run as it was.
func TestNarrowAloneTakesAShareOfPartitionRuns(t *testing.T) {
	on := []injector{{FaultCrash, injectCrashes}, {FaultPartition, injectPartitions}}
	has := map[string]bool{FaultCrash: true, FaultPartition: true}
	taken := 0
	for seed := uint64(1); seed <= 800; seed++ {
		out := narrowAlone(on, has, seed, 5, 0)
		if len(out) == 1 && out[0].is(injectNarrowRounds) {
			taken++
		} else {
			assert.Len(t, out, 2)
		}
		assert.Len(t, narrowAlone(on, has, seed, 3, 0), 2, "runs at N = 3 keep their faults")
		assert.Len(t, narrowAlone(on, has, seed, 5, 6), 2, "runs with leases keep their faults")
		assert.Len(t, narrowAlone(on, map[string]bool{FaultCrash: true}, seed, 5, 0), 2, "runs without partitions keep theirs")
	}
	assert.InDelta(t, 800/narrowShare, taken, 40)
}

// followed is the followed rounds' injector, as the tests below run it.
var followed = injector{FaultPartition, injectFollowedRounds}

// The followed rounds, alone, keep correct protocols correct at N = 5 and
// 7.
func TestFollowedRoundsKeepCorrectProtocolsCorrect(t *testing.T) {
	for _, proto := range []string{"basic", "multi", "epaxos", "fastpaxos", "raft"} {
		for _, n := range []int{5, 7} {
			for seed := uint64(1); seed <= uint64(9-n); seed++ { // 4 at N = 5, 2 at N = 7
				assert.Empty(t, runAlone(t, followed, proto, nil, n, seed).Failures, "%s n=%d seed=%d", proto, n, seed)
			}
		}
	}
}

// The followed rounds alone catch an EPaxos coordinator that counts a
// peer's acknowledgement of its earlier Accept toward its later one, in
// about one run in six at N = 5 (32 of the first 200 seeds; the first at
// seed 23); the search without them survived 500 seeds.
func TestFollowedRoundsCatchAcceptReplyOfEarlierBallot(t *testing.T) {
	m, err := paxos.LookupMutant("epaxos/accept-reply-any-ballot")
	require.NoError(t, err)
	for seed := uint64(1); seed <= 30; seed++ {
		if res := runAlone(t, followed, "", &m, 5, seed); !res.OK() {
			assert.Contains(t, res.Failures[0], "decided twice", "seed %d", seed)
			t.Logf("caught at seed %d", seed)
			return
		}
	}
	t.Error("survived 30 seeds")
}

// followedAlone takes about one run in followedShare among the runs
// narrowAlone could take, never one the narrow rounds took, and leaves
// every other run as it was.
func TestFollowedAloneTakesAShareOfPartitionRuns(t *testing.T) {
	on := []injector{{FaultCrash, injectCrashes}, {FaultPartition, injectPartitions}}
	has := map[string]bool{FaultCrash: true, FaultPartition: true}
	taken := 0
	for seed := uint64(1); seed <= 800; seed++ {
		out := followedAlone(on, has, seed, 5, 0)
		if len(out) == 1 && out[0].is(injectFollowedRounds) {
			taken++
		} else {
			assert.Len(t, out, 2)
		}
		narrow := []injector{{FaultPartition, injectNarrowRounds}}
		assert.Equal(t, narrow, followedAlone(narrow, has, seed, 5, 0), "the narrow rounds keep their runs")
		assert.Len(t, followedAlone(on, has, seed, 3, 0), 2, "runs at N = 3 keep their faults")
		assert.Len(t, followedAlone(on, has, seed, 5, 6), 2, "runs with leases keep their faults")
		assert.Len(t, followedAlone(on, map[string]bool{FaultCrash: true}, seed, 5, 0), 2, "runs without partitions keep theirs")
	}
	assert.InDelta(t, 800/followedShare, taken, 30)
}

// carriedCommands finds the client commands in a message's exported
// fields, however nested, once each, and leaves Nops and byte payloads
// out.
func TestCarriedCommandsFindsCommandsInMessages(t *testing.T) {
	type inner struct{ Cmds []paxos.Command }
	type body struct {
		Cmd   paxos.Command
		In    *inner
		Any   any
		Bytes []byte
		skip  paxos.Command
	}
	a := paxos.Command{Client: 1, Seq: 2, Op: paxos.OpPut, Key: "k"}
	b := paxos.Command{Client: 3, Seq: 4, Op: paxos.OpGet, Key: "k"}
	c := paxos.Command{Client: 5, Seq: 6, Op: paxos.OpPut, Key: "k"}
	o := sim.Output{Ready: &paxos.Ready{Messages: []paxos.Message{
		{To: 1, Body: body{Cmd: a, In: &inner{Cmds: []paxos.Command{b, a}}, Any: []paxos.Command{c}, Bytes: []byte{1}, skip: paxos.Command{Client: 9, Seq: 9}}},
		{To: 2, Body: inner{Cmds: []paxos.Command{{Op: paxos.OpNop}}}},
	}}}
	assert.Equal(t, []cmdID{{1, 2}, {3, 4}, {5, 6}}, carriedCommands(o))
	assert.True(t, carriesAny(o, []cmdID{{5, 6}}))
	assert.False(t, carriesAny(o, []cmdID{{9, 9}}))
	assert.True(t, decidesAny(&paxos.Ready{Decided: []paxos.Decision{{Commands: []paxos.Command{b}}}}, []cmdID{{3, 4}}))
	assert.False(t, decidesAny(&paxos.Ready{Decided: []paxos.Decision{{Commands: []paxos.Command{b}}}}, []cmdID{{1, 2}}))
}
