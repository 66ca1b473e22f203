package explore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/explore"
	"github.com/paxos-lab/paxos/internal/longtest"
	_ "github.com/paxos-lab/paxos/protocols"
)

// forgetful is a deliberately broken single-decree protocol: a replica
// votes for the first value it hears of (its own proposal, or a peer's
// Claim) and the proposer decides once a majority voted for its value. The
// vote is never persisted, so a replica that crashes and restarts votes
// again, and two values can be decided. Finding that takes a crash, a
// restart and a particular interleaving: a small bug for the explorer.
type forgetful struct {
	id    paxos.NodeID
	n     int
	voted bool
	mine  *paxos.Command
	votes int
	done  bool
	out   paxos.Ready
}

// Claim asks a replica to vote for Cmd.
type Claim struct{ Cmd paxos.Command }

// Vote is a replica's vote for the sender's claim.
type Vote struct{ Cmd paxos.Command }

func init() {
	paxos.Register("explore_test.Claim", Claim{})
	paxos.Register("explore_test.Vote", Vote{})
}

func newForgetful(cfg paxos.Config) (paxos.Replica, error) {
	return &forgetful{id: cfg.ID, n: cfg.N}, nil
}

func (r *forgetful) ID() paxos.NodeID { return r.id }
func (r *forgetful) Tick()            {}
func (r *forgetful) Ready() paxos.Ready {
	out := r.out
	r.out = paxos.Ready{}
	return out
}

func (r *forgetful) Propose(cmd paxos.Command) {
	if r.voted || r.mine != nil {
		return
	}
	r.voted, r.mine, r.votes = true, &cmd, 1
	for p := 0; p < r.n; p++ {
		if paxos.NodeID(p) != r.id {
			r.out.Messages = append(r.out.Messages, paxos.Message{From: r.id, To: paxos.NodeID(p), Body: Claim{cmd}})
		}
	}
	r.decideIfMajority()
}

func (r *forgetful) Step(m paxos.Message) error {
	switch b := m.Body.(type) {
	case Claim:
		if !r.voted {
			r.voted = true
			r.out.Messages = append(r.out.Messages, paxos.Message{From: r.id, To: m.From, Body: Vote(b)})
		}
	case Vote:
		if r.mine != nil && b.Cmd.Equal(r.mine) {
			r.votes++
			r.decideIfMajority()
		}
	}
	return nil
}

func (r *forgetful) decideIfMajority() {
	if !r.done && r.votes > r.n/2 {
		r.done = true
		r.out.Decided = append(r.out.Decided, paxos.Decision{Instance: paxos.Instance{Slot: 1}, Commands: []paxos.Command{*r.mine}})
	}
}

func TestFindsPlantedBugAndShrinksIt(t *testing.T) {
	for _, mode := range []explore.Mode{explore.Episodes, explore.Steps} {
		t.Run(mode.String(), func(t *testing.T) { findsPlantedBug(t, mode) })
	}
}

func findsPlantedBug(t *testing.T, mode explore.Mode) {
	cfg := explore.Config{New: newForgetful, Replicas: 3, Walks: 20000, Budget: 20 * time.Second, Seed: 1, Workers: 2, Mode: mode}
	res, err := explore.Explore(context.Background(), cfg)
	require.NoError(t, err)
	v := res.Violation
	require.NotNil(t, v, "a protocol that forgets its votes on restart must be caught (%d walks)", res.Walks)
	assert.Contains(t, v.Failures[0], "decided twice")
	assert.LessOrEqual(t, len(v.Schedule), len(v.Walked))
	t.Logf("found after %d walks, %s; shrunk %d -> %d actions:\n%s", res.Walks, v.FoundAfter, len(v.Walked), len(v.Schedule), explore.Format(v.Schedule))

	// The shrunk schedule replays to the same violation, and needs its crash.
	fails, err := explore.Replay(cfg, v.Seed, v.Schedule)
	require.NoError(t, err)
	assert.NotEmpty(t, fails)
	var noCrash []explore.Action
	for _, a := range v.Schedule {
		if a.Kind != explore.Crash && a.Kind != explore.Restart {
			noCrash = append(noCrash, a)
		}
	}
	fails, err = explore.Replay(cfg, v.Seed, noCrash)
	require.NoError(t, err)
	assert.Empty(t, fails, "without the crash and restart the toy protocol is safe")
}

func TestOneWalkIsReproducible(t *testing.T) {
	cfg := explore.Config{New: newForgetful, Replicas: 3, Walks: 1, Seed: 42, Workers: 1, NoShrink: true}
	a, err := explore.Explore(context.Background(), cfg)
	require.NoError(t, err)
	b, err := explore.Explore(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, a.Steps, b.Steps)
	assert.Equal(t, a.Violation == nil, b.Violation == nil)
	if a.Violation != nil {
		assert.Equal(t, explore.Format(a.Violation.Walked), explore.Format(b.Violation.Walked))
	}
}

// The correct protocols pass a short exploration in each mode, at N = 3
// and 5: a few seconds each.
func TestCorrectProtocolsPass(t *testing.T) {
	for _, mode := range []explore.Mode{explore.Episodes, explore.Steps} {
		for _, protocol := range []string{"basic", "multi", "flexible", "epaxos"} {
			for _, n := range []int{3, 5} {
				t.Run(fmt.Sprintf("%s/%s/n=%d", mode, protocol, n), func(t *testing.T) {
					cfg := explore.Config{Protocol: protocol, Replicas: n, Walks: 300, Depth: 300, Seed: 1, Workers: 2,
						Mode: mode, Replica: paxos.Config{InitialLeader: -1}}
					if mode == explore.Steps {
						cfg.Depth = 150
					}
					if !longtest.Enabled() {
						cfg.Walks = 60
					}
					res, err := explore.Explore(context.Background(), cfg)
					require.NoError(t, err)
					if v := res.Violation; v != nil {
						t.Fatalf("%s n=%d: %v\n%s", protocol, n, v.Failures, explore.Format(v.Schedule))
					}
					assert.Equal(t, cfg.Walks, res.Walks)
					assert.Positive(t, res.States)
					t.Logf("%s n=%d: %d walks, %d steps, %d states, %s", protocol, n, res.Walks, res.Steps, res.States, res.Elapsed)
				})
			}
		}
	}
}

func TestConfigRefused(t *testing.T) {
	for _, cfg := range []explore.Config{
		{Replicas: 3, Walks: 1},                                // no protocol
		{Protocol: "basic", Replicas: 3},                       // unbounded
		{Protocol: "basic", Replicas: 3, Walks: 1, MaxDown: 4}, // more down than replicas
		{Protocol: "basic", Replicas: -1, Walks: 1},
		{Protocol: "basic", Replicas: 3, Walks: -1},
		{Protocol: "basic", Replicas: 3, Walks: 1, Mode: 7},
	} {
		_, err := explore.Explore(context.Background(), cfg)
		assert.ErrorIs(t, err, explore.ErrConfig, "%+v", cfg)
	}
	_, err := explore.Explore(context.Background(), explore.Config{Protocol: "nope", Walks: 1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown protocol")
}

// The explorer judges election safety too: a Raft replica that sends its
// vote before persisting it can vote twice in one term after a crash, and
// two replicas then lead that term. The walk stops at the second leader,
// before any slot is decided twice.
func TestFindsTwoLeadersOfOneTerm(t *testing.T) {
	m, err := paxos.LookupMutant("raft/hardstate-after-send")
	require.NoError(t, err)
	cfg := explore.Config{New: m.New, Replicas: 3, Walks: 2000, Budget: 30 * time.Second, Seed: 1, Workers: 1}
	res, err := explore.Explore(context.Background(), cfg)
	require.NoError(t, err)
	require.NotNil(t, res.Violation, "no violation in %d walks", res.Walks)
	require.NotEmpty(t, res.Violation.Failures)
	assert.Contains(t, res.Violation.Failures[0], "election safety")
}
