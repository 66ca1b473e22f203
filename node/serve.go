package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

// ServeConfig configures one replica process: what `paxos serve` runs.
type ServeConfig struct {
	// Cluster is the cluster file.
	Cluster *Cluster
	// ID is this replica's id.
	ID paxos.NodeID
	// DataDir holds the replica's WAL and snapshot; it is created if
	// missing. Restarting on the same DataDir rejoins the cluster.
	DataDir string
	// Protocol, if set, overrides the cluster file's protocol.
	Protocol string
	// NoSync skips fsync (benchmarks only; see storage.WALOptions).
	NoSync bool
	// Memory, if set, is used instead of a WAL in DataDir (tests).
	Memory *storage.Memory
	// PeerListener and ClientListener, if set, are used instead of
	// listening on the cluster file's addresses (tests).
	PeerListener, ClientListener net.Listener
	// Logger receives the replica's log (default slog.Default()).
	Logger *slog.Logger
	// Observe is passed to the Node (see Config.Observe).
	Observe func(rd *paxos.Ready)
}

// Server is a running replica process: a Node, its TCP transport and WAL,
// and the client protocol server on its client port.
type Server struct {
	node     *Node
	clients  *client.Server
	clientLn net.Listener
	log      *slog.Logger
	wg       sync.WaitGroup
	once     sync.Once
	stopErr  error
}

// Serve starts a replica: it opens its storage (replaying what it holds),
// starts the transport and the node, and serves clients. It returns once
// the replica is listening; Stop ends it.
func Serve(cfg ServeConfig) (*Server, error) {
	c := cfg.Cluster
	if c == nil {
		return nil, fmt.Errorf("serve: %w: no cluster file", paxos.ErrConfig)
	}
	if cfg.ID < 0 || int(cfg.ID) >= c.N() {
		return nil, fmt.Errorf("serve: %w: --id %d outside 0..%d of cluster %q", paxos.ErrConfig, cfg.ID, c.N()-1, c.Name)
	}
	protocol := c.Protocol
	if cfg.Protocol != "" {
		protocol = cfg.Protocol
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	rcfg, err := c.ReplicaConfig(cfg.ID)
	if err != nil {
		return nil, err
	}
	matrix, err := c.Matrix()
	if err != nil {
		return nil, err
	}
	if matrix != nil {
		maxRTT := 0.0
		for _, v := range matrix[cfg.ID] {
			maxRTT = max(maxRTT, v)
		}
		if timeout := float64(rcfg.ElectionTicks) * float64(c.Tick()) / float64(time.Millisecond); timeout < 2*maxRTT {
			lg.Warn("election timeout is short for the emulated round trips: leaders may be deposed needlessly; raise options.election_ticks",
				"election_timeout_ms", timeout, "max_rtt_ms", maxRTT)
		}
	}
	var tlsCfg *tls.Config
	if c.TLS != nil {
		id := strconv.Itoa(int(cfg.ID))
		tlsCfg, err = transport.LoadMutualTLS(strings.ReplaceAll(c.TLS.Cert, "{id}", id), strings.ReplaceAll(c.TLS.Key, "{id}", id), c.TLS.CA)
		if err != nil {
			return nil, err
		}
	}

	var st storage.Storage
	if cfg.Memory != nil {
		st = cfg.Memory
	} else {
		if cfg.DataDir == "" {
			return nil, fmt.Errorf("serve: %w: no data directory; pass --data DIR", paxos.ErrConfig)
		}
		w, err := storage.OpenWAL(cfg.DataDir, storage.WALOptions{Logger: lg, NoSync: cfg.NoSync})
		if err != nil {
			return nil, err
		}
		st = w
	}
	clientLn := cfg.ClientListener
	if clientLn == nil {
		clientLn, err = net.Listen("tcp", c.Replicas[cfg.ID].Client)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("serve: listen on client address %s: %w; is another process using it?", c.Replicas[cfg.ID].Client, err)
		}
	}
	tr, err := transport.NewTCP(transport.TCPConfig{
		Cluster: c.Name, ID: cfg.ID, Peers: c.PeerAddrs(), Listener: cfg.PeerListener,
		TLS: tlsCfg, RTT: matrix, Logger: lg,
	})
	if err != nil {
		clientLn.Close()
		st.Close()
		return nil, err
	}
	n, err := Start(Config{Protocol: protocol, Replica: rcfg, Transport: tr, Storage: st, Tick: c.Tick(), Logger: lg, Observe: cfg.Observe})
	if err != nil {
		tr.Close()
		clientLn.Close()
		st.Close()
		return nil, err
	}
	s := &Server{node: n, log: lg, clientLn: clientLn,
		clients: client.NewServer(client.ServerConfig{Submitter: n, Replica: cfg.ID, Logger: lg})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.clients.Serve(clientLn)
	}()
	lg.Info("replica serving", "cluster", c.Name, "protocol", protocol, "replica", cfg.ID,
		"peer", tr.Addr().String(), "client", clientLn.Addr().String(), "data", cfg.DataDir)
	return s, nil
}

// Node returns the replica's node.
func (s *Server) Node() *Node { return s.node }

// ClientAddr returns the address clients connect to.
func (s *Server) ClientAddr() net.Addr { return s.clientLn.Addr() }

// Done is closed when the node stops (after Stop, or on a fatal storage
// error: then Node().Err() says why).
func (s *Server) Done() <-chan struct{} { return s.node.Done() }

// Stop stops serving clients, then stops the node (closing its transport
// and storage). It is safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.once.Do(func() {
		errC := s.clients.Close()
		s.wg.Wait()
		errN := s.node.Stop(ctx)
		s.stopErr = errors.Join(errC, errN)
	})
	return s.stopErr
}
