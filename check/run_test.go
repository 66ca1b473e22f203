package check_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/kv"
	_ "github.com/paxos-lab/paxos/protocols"
)

// localOnly is a deliberately broken "protocol": every replica executes the
// commands proposed to it at once, without agreeing with anyone. The checker
// must reject it.
type localOnly struct {
	id    paxos.NodeID
	store *kv.Executor
	slot  uint64
	out   paxos.Ready
	held  []paxos.Command // proposals, executed at the next tick
	// silent hides decisions, so only the linearizability check can catch it.
	silent bool
	// mute drops every proposal: no operation ever completes.
	mute bool
}

func newLocalOnly(cfg paxos.Config) (paxos.Replica, error) {
	return &localOnly{id: cfg.ID, store: kv.NewExecutor(paxos.Config{})}, nil
}

func (r *localOnly) ID() paxos.NodeID { return r.id }
func (r *localOnly) Propose(cmd paxos.Command) {
	if !r.mute {
		r.held = append(r.held, cmd)
	}
}
func (r *localOnly) Step(paxos.Message) error { return nil }
func (r *localOnly) Tick() {
	for _, cmd := range r.held {
		r.execute(cmd)
	}
	r.held = nil
}
func (r *localOnly) execute(cmd paxos.Command) {
	r.slot++
	if !r.silent {
		r.out.Decided = append(r.out.Decided, paxos.Decision{Instance: paxos.Instance{Slot: r.slot}, Commands: []paxos.Command{cmd}})
	}
	r.out.Committed = append(r.out.Committed, paxos.Commit{ID: cmd.ID()})
	r.out.Executed = append(r.out.Executed, r.store.Apply(&cmd))
}
func (r *localOnly) Ready() paxos.Ready {
	out := r.out
	r.out = paxos.Ready{}
	return out
}

func TestRunCatchesProtocolWithoutConsensus(t *testing.T) {
	caught := 0
	for seed := uint64(1); seed <= 5; seed++ {
		res, err := check.Run(check.Options{New: newLocalOnly, Replicas: 3, Seed: seed, Ops: 60, Clients: 3})
		require.NoError(t, err)
		if !res.OK() {
			caught++
		}
	}
	assert.Equal(t, 5, caught, "every seed of a protocol without consensus must fail")
}

func TestRunCatchesStaleReadsByLinearizability(t *testing.T) {
	silent := func(cfg paxos.Config) (paxos.Replica, error) {
		return &localOnly{id: cfg.ID, store: kv.NewExecutor(paxos.Config{}), silent: true}, nil
	}
	caught := 0
	for seed := uint64(1); seed <= 5; seed++ {
		res, err := check.Run(check.Options{New: silent, Replicas: 3, Seed: seed, Ops: 60, Clients: 3})
		require.NoError(t, err)
		if !res.OK() {
			caught++
			assert.Contains(t, res.Failures, "history is not linearizable")
		}
	}
	assert.Equal(t, 5, caught, "every seed of a protocol without consensus must fail")
}

// A protocol that never answers is safe (nothing happens) but not live:
// the liveness check must fail it.
func TestRunCatchesProtocolThatNeverAnswers(t *testing.T) {
	mute := func(cfg paxos.Config) (paxos.Replica, error) {
		return &localOnly{id: cfg.ID, store: kv.NewExecutor(paxos.Config{}), mute: true}, nil
	}
	res, err := check.Run(check.Options{New: mute, Replicas: 3, Seed: 1, Ops: 30})
	require.NoError(t, err)
	require.False(t, res.OK())
	assert.Contains(t, res.Failures[0], "liveness: no operation completed for 10s")
	assert.Contains(t, res.Failures[0], "0 of 30 completed")
}

func TestRunIsDeterministic(t *testing.T) {
	opts := check.Options{Protocol: "basic", Replicas: 3, Seed: 42, Ops: 50, Faults: check.AllFaults}
	a, err := check.Run(opts)
	require.NoError(t, err)
	b, err := check.Run(opts)
	require.NoError(t, err)
	assert.Equal(t, a.History, b.History)
	assert.Equal(t, a.Events, b.Events)
}

func TestRunInjectsFaultsOnlyWhenAsked(t *testing.T) {
	// A seed runs a random subset of the faults (see swarm), so count
	// over a few.
	var crashes, partitions int
	var dropped uint64
	for seed := uint64(1); seed <= 5; seed++ {
		res, err := check.Run(check.Options{Protocol: "basic", Replicas: 5, Seed: seed, Faults: check.AllFaults})
		require.NoError(t, err)
		assert.True(t, res.OK(), res.Failures)
		crashes, partitions, dropped = crashes+res.Crashes, partitions+res.Partitions, dropped+res.Dropped
	}
	assert.Positive(t, crashes)
	assert.Positive(t, partitions)
	assert.Positive(t, dropped)

	res, err := check.Run(check.Options{Protocol: "basic", Replicas: 5, Seed: 3})
	require.NoError(t, err)
	assert.True(t, res.OK(), res.Failures)
	assert.Zero(t, res.Crashes)
	assert.Zero(t, res.Partitions)
	assert.Zero(t, res.Dropped)
	assert.Equal(t, res.Ops, res.Completed, "without faults every operation completes")
}

func TestRunRefusesBadOptions(t *testing.T) {
	_, err := check.Run(check.Options{Protocol: "basic", Replicas: 0})
	require.ErrorIs(t, err, check.ErrOptions)
	_, err = check.Run(check.Options{Protocol: "basic", Replicas: 3, Conflict: 2})
	require.ErrorIs(t, err, check.ErrOptions)
	_, err = check.Run(check.Options{Protocol: "no-such-protocol", Replicas: 3})
	require.Error(t, err)
}

// Check Basic Paxos on five replicas under every fault for one seed.
func ExampleRun() {
	res, err := check.Run(check.Options{
		Protocol: "basic",
		Replicas: 5,
		Seed:     7,
		Ops:      100,
		Faults:   check.AllFaults,
	})
	if err != nil {
		fmt.Println("setup failed:", err)
		return
	}
	fmt.Println("ok:", res.OK(), "ops:", res.Ops, "all completed:", res.Completed == res.Ops)
	// Output: ok: true ops: 100 all completed: true
}

// panicky is a replica that panics on its first message, as a planted bug
// may drive a protocol (or etcd's raft under it) to.
type panicky struct{ paxos.Replica }

func (p panicky) Step(paxos.Message) error { panic("planted panic") }

// TestReplicaPanicIsAFailure: a replica that panics is reported as the
// run's failure, not a crash of the checker.
func TestReplicaPanicIsAFailure(t *testing.T) {
	build := func(cfg paxos.Config) (paxos.Replica, error) {
		r, err := paxos.New("multi", cfg)
		return panicky{r}, err
	}
	res, err := check.Run(check.Options{New: build, Replicas: 3, Seed: 1})
	require.NoError(t, err)
	require.False(t, res.OK())
	assert.Contains(t, res.Failures[0], "a replica panicked: planted panic")
}
