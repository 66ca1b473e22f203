package main

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/node"
)

func TestParseProcs(t *testing.T) {
	for in, want := range map[string]int{"auto": procsAuto, " AUTO ": procsAuto, "1": 1, "8": 8} {
		got, err := parseProcs(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "0", "-2", "two", "1.5"} {
		_, err := parseProcs(in)
		assert.ErrorContains(t, err, "want auto or a positive number", in)
	}
}

func TestColocatedCountsReplicasOnThisHost(t *testing.T) {
	cl := func(peers ...string) *node.Cluster {
		c := &node.Cluster{}
		for i, p := range peers {
			c.Replicas = append(c.Replicas, node.ReplicaAddrs{ID: i, Peer: p})
		}
		return c
	}
	loop := cl("127.0.0.1:7000", "localhost:7001", "[::1]:7002", "127.0.0.2:7003", "10.0.0.5:7000")
	assert.Equal(t, 4, colocated(loop, 0), "every loopback spelling is one host")
	assert.Equal(t, 1, colocated(loop, 4))
	spread := cl("10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000")
	for id := range 3 {
		assert.Equal(t, 1, colocated(spread, id))
	}
	named := cl("A.example:7000", "a.example:7001", "b.example:7000")
	assert.Equal(t, 2, colocated(named, 0), "host names compare without case")
	assert.Equal(t, 1, colocated(named, 7), "an id outside the cluster counts itself only")
}

func TestAutoProcsSharesTheHost(t *testing.T) {
	assert.Equal(t, 1, autoProcs(2, 3))
	assert.Equal(t, 1, autoProcs(2, 5))
	assert.Equal(t, 2, autoProcs(2, 1))
	assert.Equal(t, 2, autoProcs(8, 3))
	assert.Equal(t, 1, autoProcs(1, 0))
}

func TestApplyProcs(t *testing.T) {
	old := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	three := &node.Cluster{Replicas: []node.ReplicaAddrs{
		{ID: 0, Peer: "127.0.0.1:7000"}, {ID: 1, Peer: "127.0.0.1:7001"}, {ID: 2, Peer: "127.0.0.1:7002"}}}

	t.Setenv("GOMAXPROCS", "7")
	n, onHost, set := applyProcs(procsAuto, three, 0)
	assert.False(t, set, "auto leaves a GOMAXPROCS from the environment alone")
	assert.Equal(t, old, n)
	assert.Equal(t, 3, onHost)
	assert.Equal(t, old, runtime.GOMAXPROCS(0))

	t.Setenv("GOMAXPROCS", "")
	n, _, set = applyProcs(procsAuto, three, 1)
	assert.True(t, set)
	assert.Equal(t, autoProcs(old, 3), n)
	assert.Equal(t, n, runtime.GOMAXPROCS(0))

	t.Setenv("GOMAXPROCS", "7")
	n, _, set = applyProcs(2, three, 2)
	assert.True(t, set, "a number is applied even with GOMAXPROCS set")
	assert.Equal(t, 2, n)
	assert.Equal(t, 2, runtime.GOMAXPROCS(0))
}
