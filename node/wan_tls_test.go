package node_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
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
	"github.com/paxos-lab/paxos/transport"
)

// serveCluster starts every replica of c with node.Serve on its own
// addresses and data directories under root.
func serveCluster(t *testing.T, c *node.Cluster, root string) {
	t.Helper()
	for i := range c.Replicas {
		s, err := node.Serve(node.ServeConfig{Cluster: c, ID: paxos.NodeID(i), DataDir: filepath.Join(root, fmt.Sprint(i)), New: true, NoSync: true, Logger: quiet()})
		require.NoError(t, err)
		t.Cleanup(func() { s.Stop(context.Background()) })
	}
}

func loopbackCluster(t *testing.T, name, protocol string, n int) *node.Cluster {
	t.Helper()
	c := &node.Cluster{Name: name, Protocol: protocol, TickMS: 5, SecretFile: writeSecret(t)}
	var lns []net.Listener
	for i := 0; i < n; i++ {
		p, cl := listen(t), listen(t)
		lns = append(lns, p, cl)
		c.Replicas = append(c.Replicas, node.ReplicaAddrs{ID: i, Peer: p.Addr().String(), Client: cl.Addr().String()})
	}
	for _, ln := range lns {
		ln.Close()
	}
	return c
}

func TestWANEmulationDelaysCommits(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for emulated wide-area round trips; skipped with -short")
	}
	c := loopbackCluster(t, "wan", "multi", 3)
	c.RTT = "epaxos2013-3" // CA, VA, EU: the leader (CA) is 85 ms from VA
	// Election timeouts must exceed the emulated round trips, or followers
	// depose a healthy leader whose heartbeats are still in flight.
	c.Options.ElectionTicks = 100
	require.NoError(t, c.Validate())
	serveCluster(t, c, t.TempDir())
	cl := newClient(t, c, client.Options{AttemptTimeout: 5 * time.Second})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.Put(ctx, "warm", "up"))
	start := time.Now()
	res, err := cl.DoKV(ctx, paxos.OpPut, "k", "v")
	elapsed := time.Since(start)
	require.NoError(t, err)
	t.Logf("put at the leader: %v", elapsed)
	assert.Equal(t, 1, res.Attempts, "the leader answers at once")
	// A commit at the leader needs a round trip to its nearest follower.
	assert.GreaterOrEqual(t, elapsed, 80*time.Millisecond)
}

// writeCerts writes a CA, n replica certificates naming their ids and
// 127.0.0.1, and one client certificate into dir.
func writeCerts(t *testing.T, dir string, n int) (caFile string) {
	t.Helper()
	ca, err := transport.NewCA("paxos test CA")
	require.NoError(t, err)
	caFile = filepath.Join(dir, "ca.pem")
	require.NoError(t, ca.WriteCA(caFile, filepath.Join(dir, "ca.key")))
	for i := 0; i < n; i++ {
		cert, err := ca.IssueReplica(paxos.NodeID(i), []string{"127.0.0.1"})
		require.NoError(t, err)
		require.NoError(t, transport.WriteCertPEM(cert, filepath.Join(dir, fmt.Sprintf("replica-%d.pem", i)), filepath.Join(dir, fmt.Sprintf("replica-%d.key", i))))
	}
	cert, err := ca.Issue("client-0", nil, nil)
	require.NoError(t, err)
	require.NoError(t, transport.WriteCertPEM(cert, filepath.Join(dir, "client-0.pem"), filepath.Join(dir, "client-0.key")))
	return caFile
}

func TestMutualTLSCluster(t *testing.T) {
	dir := t.TempDir()
	ca := writeCerts(t, dir, 3)
	c := loopbackCluster(t, "tls", "multi", 3)
	c.SecretFile = "" // TLS alone authenticates
	c.TLS = &node.TLSFiles{CA: ca, Cert: filepath.Join(dir, "replica-{id}.pem"), Key: filepath.Join(dir, "replica-{id}.key"),
		ClientCert: filepath.Join(dir, "client-0.pem"), ClientKey: filepath.Join(dir, "client-0.key")}
	require.NoError(t, c.Validate())
	serveCluster(t, c, t.TempDir())
	cl := newClient(t, c, client.Options{})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.Put(ctx, "secret", "s3"))
	v, err := cl.Get(ctx, "secret")
	require.NoError(t, err)
	assert.Equal(t, "s3", v)

	// A client without a certificate is refused.
	noCert, err := client.New(c.ClientAddrs(), client.Options{TLS: &tls.Config{RootCAs: pool(t, ca)}, AttemptTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer noCert.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	assert.Error(t, noCert.Put(ctx2, "secret", "forged"))

	// A missing certificate file is an error at start-up.
	c.TLS.Cert = filepath.Join(dir, "nope-{id}.pem")
	_, err = node.Serve(node.ServeConfig{Cluster: c, ID: 0, DataDir: t.TempDir(), New: true, Logger: quiet()})
	assert.ErrorContains(t, err, "nope-0.pem")
}

func pool(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(caFile)
	require.NoError(t, err)
	p := x509.NewCertPool()
	require.True(t, p.AppendCertsFromPEM(b))
	return p
}
