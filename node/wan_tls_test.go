package node_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
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
	c := &node.Cluster{Name: name, Protocol: protocol, TickMS: 5}
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
	cl, err := client.New(c.ClientAddrs(), client.Options{AttemptTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.Put(ctx, "warm", "up"))
	start := time.Now()
	res, err := cl.Do(ctx, paxos.OpPut, "k", "v")
	elapsed := time.Since(start)
	require.NoError(t, err)
	t.Logf("put at the leader: %v", elapsed)
	assert.Equal(t, 1, res.Attempts, "the leader answers at once")
	// A commit at the leader needs a round trip to its nearest follower.
	assert.GreaterOrEqual(t, elapsed, 80*time.Millisecond)
}

// writePEM writes a certificate (and, for a leaf, its key) signed by ca.
func writeCerts(t *testing.T, dir string, n int) (caFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "paxos test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	caFile = filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644))
	for i := 0; i < n; i++ {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(10 + i)), Subject: pkix.Name{CommonName: fmt.Sprint("replica-", i)},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("replica-%d.pem", i)), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("replica-%d.key", i)), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	}
	return caFile
}

func TestMutualTLSCluster(t *testing.T) {
	dir := t.TempDir()
	ca := writeCerts(t, dir, 3)
	c := loopbackCluster(t, "tls", "multi", 3)
	c.TLS = &node.TLSFiles{CA: ca, Cert: filepath.Join(dir, "replica-{id}.pem"), Key: filepath.Join(dir, "replica-{id}.key")}
	require.NoError(t, c.Validate())
	serveCluster(t, c, t.TempDir())
	cl, err := client.New(c.ClientAddrs(), client.Options{})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.Put(ctx, "secret", "s3"))
	v, err := cl.Get(ctx, "secret")
	require.NoError(t, err)
	assert.Equal(t, "s3", v)

	// A missing certificate file is an error at start-up.
	c.TLS.Cert = filepath.Join(dir, "nope-{id}.pem")
	_, err = node.Serve(node.ServeConfig{Cluster: c, ID: 0, DataDir: t.TempDir(), New: true, Logger: quiet()})
	assert.ErrorContains(t, err, "nope-0.pem")
}
