package node_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/storage"
)

func TestServeRefusesToRunUnauthenticatedUnlessInsecure(t *testing.T) {
	c := loopbackCluster(t, "noauth", "multi", 1)
	c.SecretFile = ""
	_, err := node.Serve(node.ServeConfig{Cluster: c, ID: 0, Memory: storage.NewMemory(), Logger: quiet()})
	require.ErrorIs(t, err, paxos.ErrConfig)
	assert.Contains(t, err.Error(), `"insecure": true`)

	c.Insecure = true
	var logs bytes.Buffer
	s, err := node.Serve(node.ServeConfig{Cluster: c, ID: 0, Memory: storage.NewMemory(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	defer s.Stop(context.Background())
	assert.Contains(t, logs.String(), "INSECURE")
	cl := newClient(t, c, client.Options{})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, cl.Put(ctx, "k", "v"))
}

func TestServeRefusesClientsWithoutToken(t *testing.T) {
	c := loopbackCluster(t, "token", "multi", 1)
	s, err := node.Serve(node.ServeConfig{Cluster: c, ID: 0, Memory: storage.NewMemory(), Logger: quiet()})
	require.NoError(t, err)
	defer s.Stop(context.Background())
	// Generous timeouts: on a loaded machine a 300 ms attempt timed out in
	// the write, before the server's refusal could arrive.
	anon, err := client.New(c.ClientAddrs(), client.Options{AttemptTimeout: 2 * time.Second})
	require.NoError(t, err)
	defer anon.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = anon.Put(ctx, "k", "forged")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "authentication required")

	cl := newClient(t, c, client.Options{})
	defer cl.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	v, err := cl.Get(ctx2, "k")
	require.NoError(t, err)
	assert.Empty(t, v, "the unauthenticated write never happened")
	_, st := s.GuardStats()
	assert.Positive(t, st.RefusedHandshakes)
}
