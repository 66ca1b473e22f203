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
	spread := &node.Cluster{Replicas: []node.ReplicaAddrs{
		{ID: 0, Peer: "10.0.0.1:7000"}, {ID: 1, Peer: "10.0.0.2:7000"}, {ID: 2, Peer: "10.0.0.3:7000"}}}

	t.Setenv("GOMAXPROCS", "7")
	n, why := applyProcs(procsAuto, three, 0)
	assert.Equal(t, old, n, "auto leaves a GOMAXPROCS from the environment alone")
	assert.Contains(t, why, "environment")
	assert.Equal(t, old, runtime.GOMAXPROCS(0))

	t.Setenv("GOMAXPROCS", "")
	n, why = applyProcs(procsAuto, spread, 1)
	assert.Equal(t, old, n, "auto leaves Go's choice alone for a replica alone on its host")
	assert.Contains(t, why, "no other replica")
	assert.Equal(t, old, runtime.GOMAXPROCS(0))

	n, why = applyProcs(procsAuto, three, 1)
	assert.Equal(t, autoProcs(old, 3), n)
	assert.Contains(t, why, "3 replicas on this host")
	assert.Equal(t, n, runtime.GOMAXPROCS(0))

	t.Setenv("GOMAXPROCS", "7")
	n, why = applyProcs(2, three, 2)
	assert.Equal(t, 2, n, "a number is applied even with GOMAXPROCS set")
	assert.Equal(t, "--procs", why)
	assert.Equal(t, 2, runtime.GOMAXPROCS(0))
}
