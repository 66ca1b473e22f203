package node

import (
	"cmp"
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

	"github.com/prometheus/client_golang/prometheus"

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
	// DataDir holds the replica's WAL, snapshot and identity file, and is
	// locked while the replica runs (a second process is refused).
	// Restarting on the same DataDir rejoins the cluster. An empty or
	// missing DataDir is refused unless New or Rebuild is set: a wiped
	// directory looks just like a new one, and a replica that forgot what
	// it promised and accepted must not vote.
	DataDir string
	// New allows an empty DataDir: this replica never ran before (the
	// first start of a new cluster). It is ignored when DataDir already
	// belongs to this replica.
	New bool
	// Rebuild moves whatever DataDir holds aside (into
	// <DataDir>.damaged-<time>, nothing is deleted) and starts the replica
	// empty with paxos.Config.Rebuild: a non-voting member that learns the
	// state from its peers. Restarts continue the rebuild until the
	// replica reports it finished (see paxos.Rebuilder).
	Rebuild bool
	// Protocol, if set, overrides the cluster file's protocol.
	Protocol string
	// StateMachine, if set, builds the application state machine the
	// replica runs (paxos.Config.StateMachine); nil is the key-value store.
	StateMachine func() paxos.StateMachine
	// Stamp is passed to the Node (see Config.Stamp).
	Stamp func(cmd paxos.Command, now time.Time) paxos.Command
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
	// Secret, if set, is the cluster secret, used instead of SecretFile
	// and the cluster file's secret_file.
	Secret []byte
	// SecretFile, if set, names the cluster secret instead of the cluster
	// file's secret_file (`paxos serve --secret-file`).
	SecretFile string
	// Metrics, if set, receives the replica's Prometheus series: the
	// node's (Config.Metrics), the WAL's (fsync time, bytes, snapshots)
	// and the transport's (send queue depth per peer, messages).
	Metrics prometheus.Registerer
}

// Server is a running replica process: a Node, its TCP transport and WAL,
// and the client protocol server on its client port.
type Server struct {
	node     *Node
	tr       *transport.TCP
	clients  *client.Server
	clientLn net.Listener
	log      *slog.Logger
	wit      *witness
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
	rcfg.StateMachine = cfg.StateMachine
	if cfg.Rebuild {
		// A protocol that refuses Rebuild (fastpaxos) is refused
		// here, before anything in the data directory is moved aside.
		probe := rcfg
		probe.Rebuild, probe.Restore = true, nil
		if _, err := paxos.New(protocol, probe); err != nil {
			return nil, fmt.Errorf("serve: replica %d: --rebuild: %w", cfg.ID, err)
		}
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
	secret := cfg.Secret
	if secretFile := cmp.Or(cfg.SecretFile, c.SecretFile); secret == nil && secretFile != "" {
		if secret, err = transport.LoadSecret(secretFile); err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
	}
	insecure := secret == nil && tlsCfg == nil
	if insecure && !c.Insecure {
		return nil, fmt.Errorf("serve: %w: cluster %q has no authentication: give it a \"secret_file\" (paxos cluster writes one) or \"tls\" files (paxos certs), or set \"insecure\": true to let anyone who reaches its ports pose as a replica or a client",
			paxos.ErrConfig, c.Name)
	}
	if insecure {
		lg.Warn("INSECURE: this cluster runs without authentication (\"insecure\": true): anyone who reaches its peer or client port can pose as a replica or a client")
	}
	peerLim, clientLim := c.Limits.Peer(), c.Limits.Client()
	fitDescriptors(&peerLim, &clientLim, lg)

	var st storage.Storage
	var onRebuilt func()
	var wit *witness
	if cfg.Memory != nil {
		st = cfg.Memory
		rcfg.Rebuild = cfg.Rebuild
	} else {
		if cfg.DataDir == "" {
			return nil, fmt.Errorf("serve: %w: no data directory; pass --data DIR", paxos.ErrConfig)
		}
		lock, ident, isNew, err := prepareDataDir(cfg, c.Name, lg)
		if err != nil {
			return nil, err
		}
		wopts := storage.WALOptions{Logger: lg, NoSync: cfg.NoSync, Lock: lock}
		var walMetrics []prometheus.Collector
		if cfg.Metrics != nil {
			wopts.OnSync, wopts.OnSnapshot, walMetrics = walHooks()
		}
		w, err := storage.OpenWAL(cfg.DataDir, wopts)
		if err != nil {
			lock.Unlock()
			if errors.Is(err, storage.ErrLost) || errors.Is(err, storage.ErrCorrupt) {
				return nil, fmt.Errorf("serve: replica %d refuses to start on %s: %w: %w", cfg.ID, cfg.DataDir, ErrStorageLost, err)
			}
			return nil, fmt.Errorf("serve: replica %d: %w", cfg.ID, err)
		}
		if isNew {
			// Written after the WAL's files exist: an identity without
			// them means they were removed.
			if err := storage.WriteIdentity(cfg.DataDir, *ident); err != nil {
				w.Close()
				return nil, fmt.Errorf("serve: replica %d: %w", cfg.ID, err)
			}
			lg.Info("data directory initialised", "data", cfg.DataDir, "incarnation", ident.Incarnation, "rebuilding", ident.Rebuilding)
		}
		st = w
		if cfg.Metrics != nil {
			if err := register(cfg.Metrics, append(walMetrics, walCounters(w)...)); err != nil {
				w.Close()
				return nil, err
			}
		}
		rcfg.Rebuild = ident.Rebuilding
		wit, err = newWitness(cfg.ID, cfg.DataDir, ident.Incarnation, w, ident.Rebuilding, lg)
		if err != nil {
			w.Close()
			return nil, err
		}
		if rcfg.Rebuild {
			dir := cfg.DataDir
			onRebuilt = func() {
				wit.rebuilding.Store(false)
				if err := markRebuilt(dir); err != nil {
					lg.Error("cannot record in the identity file that the rebuild finished; the next start will pass Rebuild again", "err", err)
				}
			}
		}
	}
	clientLn := cfg.ClientListener
	if clientLn == nil {
		clientLn, err = net.Listen("tcp", c.Replicas[cfg.ID].Client)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("serve: listen on client address %s: %w; is another process using it?", c.Replicas[cfg.ID].Client, err)
		}
	}
	tcfg := transport.TCPConfig{
		Cluster: c.Name, ID: cfg.ID, Peers: c.PeerAddrs(), Listener: cfg.PeerListener,
		TLS: tlsCfg, Secret: secret, Insecure: insecure, Limits: peerLim, RTT: matrix, Logger: lg,
	}
	if wit != nil {
		tcfg.Witness = wit
	}
	tr, err := transport.NewTCP(tcfg)
	if err != nil {
		clientLn.Close()
		st.Close()
		return nil, err
	}
	if cfg.Metrics != nil {
		err = register(cfg.Metrics, transportMetrics(tr, c.N(), cfg.ID))
	}
	var n *Node
	if err == nil {
		n, err = Start(Config{Protocol: protocol, Replica: rcfg, Transport: tr, Storage: st, Tick: c.Tick(), Logger: lg, Observe: cfg.Observe, OnRebuilt: onRebuilt, Stamp: cfg.Stamp, Metrics: cfg.Metrics})
	}
	if err != nil {
		tr.Close()
		clientLn.Close()
		st.Close()
		return nil, err
	}
	ccfg := client.ServerConfig{Submitter: n, Replica: cfg.ID, Logger: lg, TLS: tlsCfg, Insecure: insecure,
		Limits: clientLim, MaxInFlight: c.Limits.MaxInFlight}
	if secret != nil {
		ccfg.Token = transport.ClientToken(secret)
	}
	s := &Server{node: n, tr: tr, log: lg, clientLn: clientLn, wit: wit, clients: client.NewServer(ccfg)}
	if wit != nil {
		// A peer that refuses this replica's storage stops it.
		go func() {
			select {
			case <-wit.refused:
				n.abort(wit.refusal)
			case <-n.Done():
			}
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.clients.Serve(clientLn)
	}()
	auth := "secret"
	switch {
	case insecure:
		auth = "none (insecure)"
	case secret != nil && tlsCfg != nil:
		auth = "secret+mtls"
	case tlsCfg != nil:
		auth = "mtls"
	}
	lg.Info("replica serving", "cluster", c.Name, "protocol", protocol, "replica", cfg.ID,
		"peer", tr.Addr().String(), "client", clientLn.Addr().String(), "data", cfg.DataDir, "rebuilding", rcfg.Rebuild,
		"auth", auth, "max_conns", peerLim.MaxConns, "client_max_conns", clientLim.MaxConns)
	return s, nil
}

// Node returns the replica's node.
func (s *Server) Node() *Node { return s.node }

// GuardStats returns the abuse counters of the peer port and of the client
// port: refused handshakes and connections, accept errors, deadlines. The
// same counts, summed over the process, are published with expvar as
// "paxos_guard".
func (s *Server) GuardStats() (peer, clients transport.GuardStats) {
	return s.tr.GuardStats(), s.clients.GuardStats()
}

// ClientAddr returns the address clients connect to.
func (s *Server) ClientAddr() net.Addr { return s.clientLn.Addr() }

// Done is closed when the node stops (after Stop, on a fatal storage
// error, or when a peer refused this replica's storage: then Node().Err()
// says why, wrapping ErrStorageLost in the last case).
func (s *Server) Done() <-chan struct{} { return s.node.Done() }

// Stop stops serving clients, then stops the node (closing its transport
// and storage). It is safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.once.Do(func() {
		errC := s.clients.Close()
		s.wg.Wait()
		errN := s.node.Stop(ctx)
		if s.wit != nil {
			s.wit.save()
		}
		s.stopErr = errors.Join(errC, errN)
	})
	return s.stopErr
}

// ErrStorageLost is wrapped by Serve's refusal to start a replica whose
// data directory may have lost records it had made durable (wiped, cut,
// restored from a backup, damaged): such a replica must be rebuilt from its
// peers (ServeConfig.Rebuild, `paxos serve --rebuild`), not started as a
// voter. It wraps storage.ErrLost or storage.ErrCorrupt as well.
var ErrStorageLost = errors.New("replica storage lost or damaged")

// prepareDataDir locks cfg.DataDir and checks its identity. It returns the
// lock and the identity, and whether that identity is new (a new replica or
// a rebuild) and must be written once the WAL is open.
func prepareDataDir(cfg ServeConfig, cluster string, lg *slog.Logger) (*storage.DirLock, *storage.Identity, bool, error) {
	dir := cfg.DataDir
	lock, err := storage.LockDir(dir)
	if err != nil {
		return nil, nil, false, fmt.Errorf("serve: replica %d: %w", cfg.ID, err)
	}
	ok := false
	defer func() {
		if !ok {
			lock.Unlock()
		}
	}()
	fresh := func(rebuilding bool) *storage.Identity {
		return &storage.Identity{Cluster: cluster, Replica: int(cfg.ID), Incarnation: storage.NewIncarnation(),
			Created: time.Now().UTC(), Rebuilding: rebuilding}
	}
	if cfg.Rebuild {
		aside, err := storage.MoveAside(dir, time.Now())
		if err != nil {
			return nil, nil, false, fmt.Errorf("serve: replica %d: --rebuild: %w", cfg.ID, err)
		}
		if aside != "" {
			lg.Warn("--rebuild: moved the replica's old state aside (nothing was deleted)", "data", dir, "moved_to", aside)
		}
		ok = true
		return lock, fresh(true), true, nil
	}
	id, err := storage.ReadIdentity(dir)
	if err != nil {
		return nil, nil, false, fmt.Errorf("serve: replica %d refuses to start: %w: %w", cfg.ID, ErrStorageLost, err)
	}
	if id == nil {
		has, err := storage.HasState(dir)
		if err != nil {
			return nil, nil, false, err
		}
		if has {
			return nil, nil, false, fmt.Errorf("serve: replica %d refuses to start: data directory %s holds records but no %s file, so it cannot be trusted to hold this replica's whole history: %w: %w; start it with --rebuild (its files are moved aside, not deleted)",
				cfg.ID, dir, storage.IdentityName, ErrStorageLost, storage.ErrLost)
		}
		if !cfg.New {
			return nil, nil, false, fmt.Errorf("serve: replica %d refuses to start: data directory %s is empty (no %s file). If this replica ran before, its storage was lost and it must not vote on an empty state: %w: %w; start it with --rebuild. If this is its very first start (a new cluster), pass --new",
				cfg.ID, dir, storage.IdentityName, ErrStorageLost, storage.ErrLost)
		}
		ok = true
		return lock, fresh(false), true, nil
	}
	if id.Cluster != cluster || id.Replica != int(cfg.ID) {
		return nil, nil, false, fmt.Errorf("serve: %w: data directory %s belongs to replica %d of cluster %q, not replica %d of cluster %q; pass this replica's own --data directory",
			paxos.ErrConfig, dir, id.Replica, id.Cluster, cfg.ID, cluster)
	}
	if !storage.HasWAL(dir) {
		return nil, nil, false, fmt.Errorf("serve: replica %d refuses to start: data directory %s has its %s file but its WAL files are gone (removed or never restored): %w: %w; start it with --rebuild",
			cfg.ID, dir, storage.IdentityName, ErrStorageLost, storage.ErrLost)
	}
	if id.Refused != "" {
		return nil, nil, false, fmt.Errorf("serve: replica %d refuses to start: a peer refused its storage when it last ran (%s): %w: %w; start it with --rebuild",
			cfg.ID, id.Refused, ErrStorageLost, storage.ErrLost)
	}
	if id.Rebuilding {
		lg.Warn("this replica's rebuild has not finished: it continues as a non-voting member", "data", dir, "incarnation", id.Incarnation)
	}
	ok = true
	return lock, id, false, nil
}

// markRebuilt records in dir's identity that the rebuild finished.
func markRebuilt(dir string) error {
	id, err := storage.ReadIdentity(dir)
	if err != nil || id == nil {
		return fmt.Errorf("read identity: %w", err)
	}
	now := time.Now().UTC()
	id.Rebuilding, id.Rebuilt = false, &now
	return storage.WriteIdentity(dir, *id)
}
