package node_test

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/transport"
)

// writeSecret writes a fresh cluster secret to a temporary file and returns
// its path.
func writeSecret(t testing.TB) string {
	t.Helper()
	secret, err := transport.NewSecret()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "cluster.secret")
	require.NoError(t, transport.WriteSecret(path, secret))
	return path
}

// newClient returns a client of c that authenticates as c requires.
func newClient(t testing.TB, c *node.Cluster, o client.Options) *client.Client {
	t.Helper()
	o, err := c.ClientOptions(o)
	require.NoError(t, err)
	cl, err := client.New(c.ClientAddrs(), o)
	require.NoError(t, err)
	return cl
}

// peerHello dials a peer port and answers its challenge as replica from of
// cluster, proving the key derived from secret (no proof when nil).
func peerHello(t testing.TB, addr, cluster string, from, to int, secret []byte) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	cb, err := transport.ReadFrame(conn, nil, 4096)
	require.NoError(t, err)
	var ch struct {
		Nonce []byte `msgpack:"n"`
	}
	require.NoError(t, msgpack.Unmarshal(cb, &ch))
	nonce := bytes.Repeat([]byte{9}, transport.NonceBytes)
	h := map[string]any{"m": "paxos-peer/2", "c": cluster, "f": from, "t": to, "n": nonce}
	if secret != nil {
		h["a"] = transport.Proof(transport.ReplicaKey(secret, paxos.NodeID(from)), "paxos-peer/2 dial",
			[]byte(cluster), []byte(fmt.Sprint(from)), []byte(fmt.Sprint(to)), ch.Nonce, nonce)
	}
	b, err := msgpack.Marshal(h)
	require.NoError(t, err)
	require.NoError(t, transport.WriteFrame(conn, b))
	return conn
}
