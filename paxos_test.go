package paxos_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

func validConfig() paxos.Config {
	return paxos.Config{ID: 1, N: 3}.WithDefaults()
}

func TestWithDefaults(t *testing.T) {
	c := paxos.Config{N: 3}.WithDefaults()
	assert.Equal(t, paxos.DefaultHeartbeatTicks, c.HeartbeatTicks)
	assert.Equal(t, paxos.DefaultElectionTicks, c.ElectionTicks)
	assert.Equal(t, paxos.DefaultRetryTicks, c.RetryTicks)
	assert.Equal(t, paxos.DefaultBatch, c.Batch)
	assert.Equal(t, paxos.DefaultWindow, c.Window)
	set := paxos.Config{N: 3, HeartbeatTicks: 2, ElectionTicks: 30, RetryTicks: 7, Batch: 100, Window: 5}
	assert.Equal(t, set, set.WithDefaults(), "set values are kept")
	assert.Error(t, paxos.Config{N: 3}.Validate(), "zero tunables are invalid without WithDefaults")
}

func TestConfigValidate(t *testing.T) {
	maj5, err := quorum.NewMajority(5)
	require.NoError(t, err)
	maj3, err := quorum.NewMajority(3)
	require.NoError(t, err)
	tests := []struct {
		name   string
		modify func(*paxos.Config)
		want   string // "" = valid
	}{
		{"valid", func(*paxos.Config) {}, ""},
		{"one replica", func(c *paxos.Config) { c.N, c.ID = 1, 0 }, ""},
		{"max replicas", func(c *paxos.Config) { c.N = quorum.MaxReplicas }, ""},
		{"elect leader", func(c *paxos.Config) { c.InitialLeader = -1 }, ""},
		{"quorums", func(c *paxos.Config) { c.Quorums = maj3 }, ""},
		{"distances", func(c *paxos.Config) { c.Distances = []float64{3, 0, 1} }, ""},
		{"lease", func(c *paxos.Config) { c.LeaseTicks = 5 }, ""},
		{"N zero", func(c *paxos.Config) { c.N = 0 }, "N=0"},
		{"N negative", func(c *paxos.Config) { c.N = -2 }, "N=-2"},
		{"N too big", func(c *paxos.Config) { c.N = quorum.MaxReplicas + 1 }, "N=65"},
		{"ID negative", func(c *paxos.Config) { c.ID = -1 }, "replica id -1 outside 0..2"},
		{"ID too big", func(c *paxos.Config) { c.ID = 3 }, "replica id 3 outside 0..2"},
		{"heartbeat", func(c *paxos.Config) { c.HeartbeatTicks = 0 }, "HeartbeatTicks=0"},
		{"election", func(c *paxos.Config) { c.ElectionTicks = -1 }, "ElectionTicks=-1"},
		{"retry", func(c *paxos.Config) { c.RetryTicks = 0 }, "RetryTicks=0"},
		{"batch", func(c *paxos.Config) { c.Batch = 0 }, "Batch=0"},
		{"window", func(c *paxos.Config) { c.Window = 0 }, "Window=0"},
		{"lease negative", func(c *paxos.Config) { c.LeaseTicks = -1 }, "LeaseTicks=-1"},
		{"quorum size", func(c *paxos.Config) { c.Quorums = maj5 }, "covers 5 replicas, cluster has 3"},
		{"distances short", func(c *paxos.Config) { c.Distances = []float64{1, 2} }, "2 distances for 3 replicas"},
		{"distance negative", func(c *paxos.Config) { c.Distances = []float64{1, 0, -2} }, "distance -2 to replica 2"},
		{"distance NaN", func(c *paxos.Config) { c.Distances = []float64{math.NaN(), 0, 1} }, "distance NaN to replica 0"},
		{"leader too big", func(c *paxos.Config) { c.InitialLeader = 3 }, "initial leader 3"},
		{"leader below -1", func(c *paxos.Config) { c.InitialLeader = -2 }, "initial leader -2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, paxos.ErrConfig)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestNearest(t *testing.T) {
	c := paxos.Config{ID: 2, N: 5}
	assert.Equal(t, []paxos.NodeID{0, 1, 3, 4}, c.Nearest(), "by id without distances")
	c.Distances = []float64{50, 10, 0, 10, 5}
	assert.Equal(t, []paxos.NodeID{4, 1, 3, 0}, c.Nearest(), "nearest first, ties by id")
	c.Distances = []float64{1, 1, 1, 1, 1}
	assert.Equal(t, []paxos.NodeID{0, 1, 3, 4}, c.Nearest())
	c = paxos.Config{ID: 0, N: 1}
	assert.Empty(t, c.Nearest())
	// Invalid configs do not panic.
	assert.NotPanics(t, func() { assert.Empty(t, paxos.Config{N: 0}.Nearest()) })
	assert.NotPanics(t, func() {
		assert.Equal(t, []paxos.NodeID{1, 2}, paxos.Config{N: 3, Distances: []float64{1}}.Nearest())
	})
}

func TestRandDeterministic(t *testing.T) {
	draw := func(c paxos.Config) []uint64 {
		r := c.Rand()
		out := make([]uint64, 8)
		for i := range out {
			out[i] = r.Uint64()
		}
		return out
	}
	a := draw(paxos.Config{ID: 1, Seed: 42})
	assert.Equal(t, a, draw(paxos.Config{ID: 1, Seed: 42}), "same seed and id, same stream")
	assert.NotEqual(t, a, draw(paxos.Config{ID: 2, Seed: 42}), "replicas get distinct streams")
	assert.NotEqual(t, a, draw(paxos.Config{ID: 1, Seed: 43}), "seeds give distinct streams")
}

func TestRegistry(t *testing.T) {
	_, err := paxos.New("no-such-protocol", validConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown protocol "no-such-protocol"`)
	assert.Contains(t, err.Error(), "github.com/paxos-lab/paxos/protocols")
	for _, name := range paxos.Protocols() {
		assert.Contains(t, err.Error(), name, "the error lists registered protocols")
	}

	var got paxos.Config
	paxos.RegisterProtocol("paxostest-proto", func(cfg paxos.Config) (paxos.Replica, error) {
		got = cfg
		return nil, paxos.ErrConfig
	})
	assert.Contains(t, paxos.Protocols(), "paxostest-proto")
	assert.True(t, sortedStrings(paxos.Protocols()))
	_, err = paxos.New("paxostest-proto", validConfig())
	assert.ErrorIs(t, err, paxos.ErrConfig)
	assert.Equal(t, validConfig(), got, "the constructor receives the config")
	assert.Panics(t, func() {
		paxos.RegisterProtocol("paxostest-proto", func(paxos.Config) (paxos.Replica, error) { return nil, nil })
	})
}

func TestRegisteredProtocolsRefuseBadConfig(t *testing.T) {
	for _, name := range paxos.Protocols() {
		if name == "paxostest-proto" {
			continue
		}
		for _, c := range []paxos.Config{{N: 0}, {ID: 5, N: 3}, {ID: 0, N: 3, Window: -1}} {
			c = c.WithDefaults()
			assert.NotPanics(t, func() {
				r, err := paxos.New(name, c)
				assert.Error(t, err, "%s accepted %+v", name, c)
				assert.Nil(t, r)
			}, name)
		}
	}
}

func TestCommandAndEnums(t *testing.T) {
	c := paxos.Command{Client: 3, Seq: 9, Op: paxos.OpPut, Key: "k", Value: "v"}
	assert.Equal(t, paxos.CommandID{Client: 3, Seq: 9}, c.ID())
	assert.True(t, c.Writes())
	assert.False(t, c.IsNop())
	assert.False(t, (&paxos.Command{Op: paxos.OpGet}).Writes())
	assert.True(t, (&paxos.Command{}).IsNop(), "the zero command is a Nop")
	assert.Equal(t, "nop", paxos.OpNop.String())
	assert.Equal(t, "get", paxos.OpGet.String())
	assert.Equal(t, "put", paxos.OpPut.String())
	assert.Equal(t, "op(9)", paxos.Op(9).String())
	assert.Equal(t, "classic", paxos.PathClassic.String())
	assert.Equal(t, "fast", paxos.PathFast.String())
	assert.Equal(t, "slow", paxos.PathSlow.String())
	assert.Equal(t, "path(7)", paxos.Path(7).String())
}

func TestReadyEmpty(t *testing.T) {
	var r paxos.Ready
	assert.True(t, r.Empty())
	for _, nonEmpty := range []paxos.Ready{
		{Snapshot: 1}, {Persist: []any{1}}, {Messages: []paxos.Message{{}}},
		{Executed: []paxos.Execution{{}}}, {Committed: []paxos.Commit{{}}}, {Decided: []paxos.Decision{{}}},
	} {
		assert.False(t, nonEmpty.Empty(), "%+v", nonEmpty)
	}
}
