package lockservice_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/lockservice"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/storage"
)

// startLockCluster serves the lock service on three in-process replicas
// over loopback TCP (Multi-Paxos with leases), stopped when the test ends.
func startLockCluster(t *testing.T, name string) (*node.Cluster, []*node.Server) {
	t.Helper()
	c := &node.Cluster{Name: name, Protocol: "multi", TickMS: 5, Insecure: true,
		Options: node.Options{LeaseTicks: 6}}
	var peers, clients []net.Listener
	for i := 0; i < 3; i++ {
		p, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		cl, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		peers, clients = append(peers, p), append(clients, cl)
		c.Replicas = append(c.Replicas, node.ReplicaAddrs{ID: i, Peer: p.Addr().String(), Client: cl.Addr().String()})
	}
	require.NoError(t, c.Validate())
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var servers []*node.Server
	for i := 0; i < 3; i++ {
		s, err := node.Serve(node.ServeConfig{Cluster: c, ID: paxos.NodeID(i), Memory: storage.NewMemory(),
			StateMachine: lockservice.New, Stamp: lockservice.StampWall,
			PeerListener: peers[i], ClientListener: clients[i], Logger: quiet})
		require.NoError(t, err)
		servers = append(servers, s)
		t.Cleanup(func() { _ = s.Stop(context.Background()) })
	}
	return c, servers
}

// TestLiveHolderReplicaDies: three replicas (Multi-Paxos with leases) in
// this process over TCP; client A holds a lock through replica 0, client B
// waits for it. Replica 0 (the leader) stops and A, which can reach only
// it, can no longer renew: A's session goes into jeopardy, the service
// expires it, and B gets the lock only after A's own view of its lease ran
// out, with a larger fencing token.
func TestLiveHolderReplicaDies(t *testing.T) {
	if testing.Short() {
		t.Skip("live cluster")
	}
	c, servers := startLockCluster(t, "locks")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addrs := c.ClientAddrs()
	ca, err := client.New(addrs[:1], client.Options{AttemptTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer ca.Close()
	cb, err := client.New(addrs[1:], client.Options{AttemptTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	defer cb.Close()

	opts := lockservice.SessionOptions{TTL: 1500 * time.Millisecond}
	a, err := lockservice.OpenSession(ctx, ca, opts)
	require.NoError(t, err)
	b, err := lockservice.OpenSession(ctx, cb, opts)
	require.NoError(t, err)
	defer b.Close(context.Background())

	ta, err := a.Acquire(ctx, "master", lockservice.Exclusive)
	require.NoError(t, err)
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = b.Acquire(short, "master", lockservice.Exclusive)
	cancelShort()
	require.ErrorIs(t, err, context.DeadlineExceeded, "the lock is held: the blocking acquire times out")
	_, err = b.TryAcquire(ctx, "master", lockservice.Exclusive)
	require.ErrorIs(t, err, lockservice.ErrHeld)

	require.NoError(t, servers[0].Stop(context.Background())) // A's only replica, and the leader
	tb, err := b.Acquire(ctx, "master", lockservice.Exclusive)
	require.NoError(t, err)
	acquired := time.Now()
	assert.Greater(t, tb, ta, "fencing tokens increase")
	assert.True(t, acquired.After(a.ValidUntil()), "B acquired at %v, before A's lease ended at %v", acquired, a.ValidUntil())
	assert.ErrorIs(t, a.Valid(), lockservice.ErrJeopardy)
	var f lockservice.Fence
	require.NoError(t, f.Check("master", tb))
	require.ErrorIs(t, f.Check("master", ta), lockservice.ErrStaleToken, "a downstream service refuses the old holder")
	t.Logf("A token %d valid until %s; B token %d at %s", ta, a.ValidUntil().Format("15:04:05.000"), tb, acquired.Format("15:04:05.000"))
}

// TestLiveExpiryWithoutClients: three live replicas, each with RunTicker
// beside it (as `paxos serve --app lockservice` runs); a client takes a
// lock and vanishes without closing its session. Nobody sends anything
// more, yet the lock is released once the lease ran out: the replicas'
// ticks expired the session.
func TestLiveExpiryWithoutClients(t *testing.T) {
	if testing.Short() {
		t.Skip("live cluster")
	}
	c, servers := startLockCluster(t, "ticks")
	tctx, stopTicks := context.WithCancel(context.Background())
	defer stopTicks()
	for _, s := range servers {
		go lockservice.RunTicker(tctx, s.Node().Submit, 100*time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, err := client.New(c.ClientAddrs(), client.Options{AttemptTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	a, err := lockservice.OpenSession(ctx, ca, lockservice.SessionOptions{TTL: time.Second})
	require.NoError(t, err)
	_, err = a.Acquire(ctx, "master", lockservice.Exclusive)
	require.NoError(t, err)
	ca.Close() // the holder vanishes: no keep-alive, no close
	gone := time.Now()

	cr, err := client.New(c.ClientAddrs(), client.Options{AttemptTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer cr.Close()
	read := func() []uint64 {
		res, err := cr.Do(ctx, lockservice.Command(cr.ID(), lockservice.Request{Kind: lockservice.KindRead, Lock: "master"}))
		require.NoError(t, err)
		r, err := lockservice.DecodeReply(res.Output)
		require.NoError(t, err)
		return r.Holders
	}
	assert.Equal(t, []uint64{a.ID()}, read(), "held right after the holder vanished")
	time.Sleep(1500 * time.Millisecond) // a lease and a half, with only the replicas' ticks
	assert.Empty(t, read(), "released %v after the holder vanished, without client traffic", time.Since(gone))
}
