package node_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/transport"
)

const goodCluster = `{
  "cluster": "t", "protocol": "flexible", "tick_ms": 5,
  "options": {"batch": 4, "q1": 4, "q2": 2, "leader": 1, "thrifty": true},
  "replicas": [
    {"id": 0, "peer": "127.0.0.1:1", "client": "127.0.0.1:2"},
    {"id": 1, "peer": "127.0.0.1:3", "client": "127.0.0.1:4"},
    {"id": 2, "peer": "127.0.0.1:5", "client": "127.0.0.1:6"},
    {"id": 3, "peer": "127.0.0.1:7", "client": "127.0.0.1:8"},
    {"id": 4, "peer": "127.0.0.1:9", "client": "127.0.0.1:10"}
  ]
}`

func TestParseCluster(t *testing.T) {
	c, err := node.ParseCluster([]byte(goodCluster))
	require.NoError(t, err)
	assert.Equal(t, 5, c.N())
	assert.Equal(t, 5*time.Millisecond, c.Tick())
	cfg, err := c.ReplicaConfig(3)
	require.NoError(t, err)
	assert.Equal(t, paxos.NodeID(3), cfg.ID)
	assert.Equal(t, paxos.NodeID(1), cfg.InitialLeader)
	assert.Equal(t, 4, cfg.Batch)
	assert.True(t, cfg.Thrifty)
	assert.True(t, cfg.StaggerSnapshots, "live replicas stagger their snapshots")
	assert.Equal(t, 200, cfg.SnapshotDelay(1000), "replica 3 comes second after leader 1: one fifth of the interval")
	require.NotNil(t, cfg.Quorums)
	assert.True(t, cfg.Quorums.IsPhase2(quorum.Of(0, 1)))
	assert.False(t, cfg.Quorums.IsPhase1(quorum.Of(0, 1, 2)))

	path := filepath.Join(t.TempDir(), "c.json")
	require.NoError(t, os.WriteFile(path, []byte(goodCluster), 0o644))
	_, err = node.LoadCluster(path)
	require.NoError(t, err)
	_, err = node.LoadCluster(filepath.Join(t.TempDir(), "missing.json"))
	assert.Error(t, err)
}

func TestParseClusterRefusesBadFiles(t *testing.T) {
	for name, bad := range map[string]string{
		"not json":         `{`,
		"unknown field":    `{"cluster":"t","protocol":"multi","optoins":{},"replicas":[{"id":0,"peer":"a:1","client":"a:2"}]}`,
		"no name":          `{"protocol":"multi","replicas":[{"id":0,"peer":"a:1","client":"a:2"}]}`,
		"unknown protocol": `{"cluster":"t","protocol":"zab","replicas":[{"id":0,"peer":"a:1","client":"a:2"}]}`,
		"no replicas":      `{"cluster":"t","protocol":"multi","replicas":[]}`,
		"ids out of order": `{"cluster":"t","protocol":"multi","replicas":[{"id":1,"peer":"a:1","client":"a:2"}]}`,
		"duplicate addr":   `{"cluster":"t","protocol":"multi","replicas":[{"id":0,"peer":"a:1","client":"a:1"}]}`,
		"missing addr":     `{"cluster":"t","protocol":"multi","replicas":[{"id":0,"peer":"a:1"}]}`,
		"unsafe quorums":   `{"cluster":"t","protocol":"flexible","options":{"q1":1,"q2":1},"replicas":[{"id":0,"peer":"a:1","client":"a:2"},{"id":1,"peer":"a:3","client":"a:4"},{"id":2,"peer":"a:5","client":"a:6"}]}`,
		"bad leader":       `{"cluster":"t","protocol":"multi","options":{"leader":5},"replicas":[{"id":0,"peer":"a:1","client":"a:2"}]}`,
		"bad rtt":          `{"cluster":"t","protocol":"multi","rtt":"no-such-preset","replicas":[{"id":0,"peer":"a:1","client":"a:2"}]}`,
		"negative tick":    `{"cluster":"t","protocol":"multi","tick_ms":-1,"replicas":[{"id":0,"peer":"a:1","client":"a:2"}]}`,
		"zero window":      `{"cluster":"t","protocol":"multi","options":{"window":0},"replicas":[{"id":0,"peer":"a:1","client":"a:2"}]}`,
		"long lease":       `{"cluster":"t","protocol":"multi","options":{"lease_ticks":50,"election_ticks":10},"replicas":[{"id":0,"peer":"a:1","client":"a:2"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := node.ParseCluster([]byte(bad))
			assert.Error(t, err)
		})
	}
}

func TestExampleClusterFilesAreValid(t *testing.T) {
	for _, f := range []string{"cluster-3.json", "cluster-5.json"} {
		c, err := node.LoadCluster(filepath.Join("..", "examples", f))
		require.NoError(t, err, f)
		for _, r := range c.Replicas {
			host, _, err := net.SplitHostPort(r.Peer)
			require.NoError(t, err)
			assert.Equal(t, "127.0.0.1", host, "example clusters stay on loopback")
		}
	}
}

// TestTCPClusterShrugsOffBadPeers sends a running replica's peer port an
// unknown peer, a wrong cluster, an oversized frame and garbage, and checks
// the cluster keeps serving.
func TestTCPClusterShrugsOffBadPeers(t *testing.T) {
	// Five replicas in the file, three running: the impostors below claim
	// the ids of the two that are not, so no real replica's reconnection
	// can replace their connections.
	cluster := loopbackCluster(t, "bad-peers", "multi", 5)
	require.NoError(t, cluster.Validate())
	for i := 0; i < 3; i++ {
		s, err := node.Serve(node.ServeConfig{Cluster: cluster, ID: paxos.NodeID(i), DataDir: t.TempDir(), New: true, NoSync: true, Logger: quiet()})
		require.NoError(t, err)
		t.Cleanup(func() { s.Stop(context.Background()) })
	}
	c := struct{ cluster *node.Cluster }{cluster}
	addr := c.cluster.Replicas[0].Peer
	secret, err := transport.LoadSecret(cluster.SecretFile)
	require.NoError(t, err)
	hello := func(cluster string, from int) net.Conn {
		return peerHello(t, addr, cluster, from, 0, secret)
	}
	// Refused at the handshake: an unknown replica id, a wrong cluster,
	// and a forged replica 3 without the secret.
	for _, conn := range []net.Conn{hello(c.cluster.Name, 7), hello("someone-else", 3), peerHello(t, addr, c.cluster.Name, 3, 0, nil)} {
		defer conn.Close()
		reply, err := transport.ReadFrame(conn, nil, 4096)
		require.NoError(t, err)
		assert.NotEmpty(t, reply)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = readAll(conn)
		assert.NoError(t, err, "a refused peer's connection is closed")
	}
	// Accepted, then an oversized frame and garbage.
	conns := []net.Conn{hello(c.cluster.Name, 3), hello(c.cluster.Name, 4)}
	for _, conn := range conns {
		_, err := transport.ReadFrame(conn, nil, 4096)
		require.NoError(t, err)
	}
	_, err = conns[0].Write([]byte{0x7f, 0xff, 0xff, 0xff})
	require.NoError(t, err)
	require.NoError(t, transport.WriteFrame(conns[1], []byte("garbage garbage")))
	for _, conn := range conns {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := readAll(conn)
		assert.NoError(t, err, "the replica closes a connection that sent a bad frame")
	}
	cl := newClient(t, c.cluster, client.Options{})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.Put(ctx, "still", "alive"))
	v, err := cl.Get(ctx, "still")
	require.NoError(t, err)
	assert.Equal(t, "alive", v)
}

func readAll(c net.Conn) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}
