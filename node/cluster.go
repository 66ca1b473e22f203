package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/internal/jsonpos"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/rtt"
	"github.com/paxos-lab/paxos/transport"
)

// Cluster is a cluster file: everything every replica of one cluster must
// agree on. `paxos serve` and `paxos cluster` read it as JSON, e.g.
//
//	{
//	  "cluster": "demo-3",
//	  "protocol": "multi",
//	  "tick_ms": 10,
//	  "options": {"batch": 16, "leader": 0},
//	  "secret_file": "cluster.secret",
//	  "replicas": [
//	    {"id": 0, "peer": "127.0.0.1:7000", "client": "127.0.0.1:7100"},
//	    {"id": 1, "peer": "127.0.0.1:7001", "client": "127.0.0.1:7101"},
//	    {"id": 2, "peer": "127.0.0.1:7002", "client": "127.0.0.1:7102"}
//	  ]
//	}
type Cluster struct {
	// Name identifies the cluster; replicas refuse peers of another cluster.
	Name string `json:"cluster"`
	// Protocol is a registered protocol name (see paxos.Protocols).
	Protocol string `json:"protocol"`
	// TickMS is the length of one logical tick in milliseconds (default 10).
	TickMS int `json:"tick_ms,omitempty"`
	// Options are the protocol's tunables.
	Options Options `json:"options"`
	// RTT, if set, emulates a wide-area network on one machine: a preset
	// name (e.g. "epaxos2013") or a CSV matrix file, with one site per
	// replica in id order. Each message is delayed by half its link's RTT.
	RTT string `json:"rtt,omitempty"`
	// TLS, if set, enables mutual TLS between replicas (each certificate
	// names its replica id; see `paxos certs`) and on the client ports,
	// where clients must present a certificate the CA signed.
	TLS *TLSFiles `json:"tls,omitempty"`
	// SecretFile names the cluster secret (hex, as `paxos cluster` and
	// transport.WriteSecret write it). With it both ends of every peer
	// connection prove their replica id, and clients prove the client
	// token derived from it. A relative path is relative to the working
	// directory.
	SecretFile string `json:"secret_file,omitempty"`
	// Insecure runs the cluster without authentication when it has neither
	// a secret nor TLS: anyone who reaches a port can pose as a replica or
	// a client. A replica refuses to start without authentication unless
	// it is set, and logs a warning when it is.
	Insecure bool `json:"insecure,omitempty"`
	// Limits bound what connections may cost each replica.
	Limits Limits `json:"limits"`
	// Replicas lists every replica, ids 0..N-1 in order.
	Replicas []ReplicaAddrs `json:"replicas"`
}

// Limits bound, per replica, the connections of its peer port and of its
// client port (each port separately). Zero or absent means the default.
type Limits struct {
	// MaxConns is the most connections open at once on each port (default
	// 1024); more are accepted and closed at once. Both ports together
	// are also kept under the process's descriptor limit (RLIMIT_NOFILE).
	MaxConns int `json:"max_conns,omitempty"`
	// MaxConnsPerHost is the most connections one remote IP address may
	// hold on each port (default 256).
	MaxConnsPerHost int `json:"max_conns_per_host,omitempty"`
	// HandshakeTimeoutMS bounds a new connection's TLS and authentication
	// handshake (default 5000).
	HandshakeTimeoutMS int `json:"handshake_timeout_ms,omitempty"`
	// IdleTimeoutMS closes a client connection that sends nothing for
	// this long (default 300000; -1: never). Peer connections have no idle
	// timeout: they are authenticated, one per replica.
	IdleTimeoutMS int `json:"idle_timeout_ms,omitempty"`
	// ReadTimeoutMS bounds the reading of one frame once it started, on
	// both ports, so a slow sender is cut (default 10000).
	ReadTimeoutMS int `json:"read_timeout_ms,omitempty"`
	// MaxInFlight bounds the requests one client connection may have
	// outstanding (default 1024); the connection is not read meanwhile.
	MaxInFlight int `json:"max_inflight,omitempty"`
}

func ms(v int) time.Duration { return time.Duration(v) * time.Millisecond }

// Peer returns the peer port's transport limits.
func (l Limits) Peer() transport.Limits {
	return transport.Limits{MaxConns: l.MaxConns, MaxConnsPerHost: l.MaxConnsPerHost,
		HandshakeTimeout: ms(l.HandshakeTimeoutMS), ReadTimeout: ms(l.ReadTimeoutMS)}.WithDefaults()
}

// Client returns the client port's limits (IdleTimeout negative: none).
func (l Limits) Client() transport.Limits {
	t := transport.Limits{MaxConns: l.MaxConns, MaxConnsPerHost: l.MaxConnsPerHost,
		HandshakeTimeout: ms(l.HandshakeTimeoutMS), ReadTimeout: ms(l.ReadTimeoutMS)}.WithDefaults()
	switch {
	case l.IdleTimeoutMS < 0:
		t.IdleTimeout = -1
	case l.IdleTimeoutMS == 0:
		t.IdleTimeout = client.DefaultIdleTimeout
	default:
		t.IdleTimeout = ms(l.IdleTimeoutMS)
	}
	return t
}

func (l Limits) validate() error {
	for name, v := range map[string]int{"max_conns": l.MaxConns, "max_conns_per_host": l.MaxConnsPerHost,
		"handshake_timeout_ms": l.HandshakeTimeoutMS, "read_timeout_ms": l.ReadTimeoutMS, "max_inflight": l.MaxInFlight} {
		if v < 0 {
			return fmt.Errorf("cluster file: %w: limits.%s=%d must not be negative (omit it for the default)", paxos.ErrConfig, name, v)
		}
	}
	if l.IdleTimeoutMS < -1 {
		return fmt.Errorf("cluster file: %w: limits.idle_timeout_ms=%d: want a positive number of milliseconds, or -1 for none", paxos.ErrConfig, l.IdleTimeoutMS)
	}
	return nil
}

// Authenticated reports whether the cluster file names a secret or TLS.
func (c *Cluster) Authenticated() bool { return c.SecretFile != "" || c.TLS != nil }

// ClientOptions returns o with what a client of this cluster needs to
// authenticate, unless o already has it: the client token derived from
// SecretFile, and the TLS configuration of the TLS files (the CA, and
// ClientCert and ClientKey if set).
func (c *Cluster) ClientOptions(o client.Options) (client.Options, error) {
	if o.Token == "" && c.SecretFile != "" {
		secret, err := transport.LoadSecret(c.SecretFile)
		if err != nil {
			return o, err
		}
		o.Token = transport.ClientToken(secret)
	}
	if o.TLS == nil && c.TLS != nil {
		cfg, err := transport.LoadClientTLS(c.TLS.ClientCert, c.TLS.ClientKey, c.TLS.CA)
		if err != nil {
			return o, err
		}
		o.TLS = cfg
	}
	return o, nil
}

// DefaultElectionTicks is a live cluster's base election timeout when
// options.election_ticks is absent: 50 ticks, 0.5-1 s at the default 10 ms
// tick (protocols randomize it up to twice the base), about etcd's default
// of 1 s.
//
// It is five times paxos.DefaultElectionTicks, which suits the simulator,
// where no replica stalls. A live replica shares its machine: on a loaded
// 2-core machine whole processes stalled for 100-250 ms with every queue
// empty, which a 100 ms timeout turns into needless elections, and a
// leader deposed under overload loses most of its throughput.
const DefaultElectionTicks = 50

// Options are a cluster's protocol tunables; zero means the default of
// paxos.Config (or of the protocol).
type Options struct {
	// Batch is the most commands per slot or instance (paxos.Config.Batch).
	Batch int `json:"batch,omitempty"`
	// Window is the most slots a leader keeps in flight; absent means the
	// default, and an explicit value must be at least 1.
	Window *int `json:"window,omitempty"`
	// Thrifty sends phase-2 / PreAccept messages only to a quorum.
	Thrifty bool `json:"thrifty,omitempty"`
	// HeartbeatTicks is how often a leader sends heartbeats.
	HeartbeatTicks int `json:"heartbeat_ticks,omitempty"`
	// ElectionTicks is the base election timeout; keep it well above the
	// largest round trip (emulated or real) and the longest stall of a
	// replica's process. Zero means DefaultElectionTicks.
	ElectionTicks int `json:"election_ticks,omitempty"`
	// RetryTicks is how long to wait for replies before retrying.
	RetryTicks int `json:"retry_ticks,omitempty"`
	// LeaseTicks enables leader leases for local reads when positive.
	LeaseTicks int `json:"lease_ticks,omitempty"`
	// SnapshotEvery takes a snapshot after this many executed slots (0 =
	// protocol default, negative = never).
	SnapshotEvery int `json:"snapshot_every,omitempty"`
	// Leader is the initial leader of leader-based protocols; -1 elects
	// one. Absent means 0.
	Leader *int `json:"leader,omitempty"`
	// Quorums is a quorum.ParseSystem spec ("majority", "q1=4,q2=2",
	// "grid=2x3", ...); empty means the protocol's default.
	Quorums string `json:"quorums,omitempty"`
	// Q1 and Q2 are shorthands for counting quorums ("q1=..,q2=..").
	Q1 int `json:"q1,omitempty"`
	Q2 int `json:"q2,omitempty"`
	// Seed seeds the replicas' random sources (default 1).
	Seed uint64 `json:"seed,omitempty"`
}

// ReplicaAddrs are one replica's addresses.
type ReplicaAddrs struct {
	ID int `json:"id"`
	// Peer is where the replica listens for its peers ("host:port").
	Peer string `json:"peer"`
	// Client is where it serves the client protocol ("host:port").
	Client string `json:"client"`
}

// TLSFiles names PEM files for mutual TLS, as `paxos certs` writes them. In
// Cert and Key, "{id}" is replaced by the replica's id, so one cluster file
// serves all replicas. ClientCert and ClientKey are what `paxos put/get`
// and Cluster.ClientOptions present to the client ports.
type TLSFiles struct {
	CA         string `json:"ca"`
	Cert       string `json:"cert"`
	Key        string `json:"key"`
	ClientCert string `json:"client_cert,omitempty"`
	ClientKey  string `json:"client_key,omitempty"`
}

// LoadCluster reads and validates a cluster file.
func LoadCluster(path string) (*Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cluster file: %w", err)
	}
	return ParseCluster(data)
}

// ParseCluster decodes and validates a cluster file's JSON. Unknown fields
// are refused, so a misspelt option is not silently ignored.
func ParseCluster(data []byte) (*Cluster, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Cluster
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("cluster file: %w", jsonpos.Error(data, err))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks the cluster file for what would otherwise fail later.
func (c *Cluster) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("cluster file: %w: \"cluster\" (the cluster's name) is empty", paxos.ErrConfig)
	}
	if c.Protocol == "" {
		return fmt.Errorf("cluster file: %w: \"protocol\" is empty; one of %v", paxos.ErrConfig, paxos.Protocols())
	}
	if !registered(c.Protocol) {
		return fmt.Errorf("cluster file: %w: unknown protocol %q; one of %v", paxos.ErrConfig, c.Protocol, paxos.Protocols())
	}
	if len(c.Replicas) == 0 {
		return fmt.Errorf("cluster file: %w: no replicas", paxos.ErrConfig)
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	if c.TickMS < 0 {
		return fmt.Errorf("cluster file: %w: tick_ms=%d must be positive", paxos.ErrConfig, c.TickMS)
	}
	seen := map[string]int{}
	for i, r := range c.Replicas {
		if r.ID != i {
			return fmt.Errorf("cluster file: %w: replica %d has id %d; list replicas in id order 0..%d", paxos.ErrConfig, i, r.ID, len(c.Replicas)-1)
		}
		for _, a := range []string{r.Peer, r.Client} {
			if a == "" {
				return fmt.Errorf("cluster file: %w: replica %d lacks a peer or client address", paxos.ErrConfig, i)
			}
			if j, dup := seen[a]; dup {
				return fmt.Errorf("cluster file: %w: address %s used twice (replicas %d and %d)", paxos.ErrConfig, a, j, i)
			}
			seen[a] = i
		}
	}
	for i := range c.Replicas {
		cfg, err := c.ReplicaConfig(paxos.NodeID(i))
		if err != nil {
			return err
		}
		// Build (and drop) the replica so that the protocol's own checks —
		// a lease longer than the election timeout, quorums it cannot use —
		// fail here, not when the replica starts.
		if _, err := paxos.New(c.Protocol, cfg); err != nil {
			return fmt.Errorf("cluster file: replica %d: %w", i, err)
		}
	}
	return nil
}

// N returns the number of replicas.
func (c *Cluster) N() int { return len(c.Replicas) }

// Tick returns the tick length.
func (c *Cluster) Tick() time.Duration {
	if c.TickMS <= 0 {
		return 10 * time.Millisecond
	}
	return time.Duration(c.TickMS) * time.Millisecond
}

// PeerAddrs returns every replica's peer address, by id.
func (c *Cluster) PeerAddrs() []string {
	out := make([]string, len(c.Replicas))
	for i, r := range c.Replicas {
		out[i] = r.Peer
	}
	return out
}

// ClientAddrs returns every replica's client address, by id.
func (c *Cluster) ClientAddrs() []string {
	out := make([]string, len(c.Replicas))
	for i, r := range c.Replicas {
		out[i] = r.Client
	}
	return out
}

// Matrix returns the RTT matrix for WAN emulation, or nil when RTT is unset.
func (c *Cluster) Matrix() ([][]float64, error) {
	if c.RTT == "" {
		return nil, nil
	}
	m, err := rtt.Load(c.RTT)
	if err != nil {
		return nil, fmt.Errorf("cluster file: rtt: %w", err)
	}
	if m.N() != c.N() {
		return nil, fmt.Errorf("cluster file: %w: rtt matrix %q has %d sites for %d replicas", paxos.ErrConfig, c.RTT, m.N(), c.N())
	}
	return m.MS, nil
}

// ReplicaConfig returns replica id's paxos.Config (without Restore).
func (c *Cluster) ReplicaConfig(id paxos.NodeID) (paxos.Config, error) {
	o := c.Options
	seed := o.Seed
	if seed == 0 {
		seed = 1
	}
	leader := paxos.NodeID(0)
	if o.Leader != nil {
		leader = paxos.NodeID(*o.Leader)
	}
	window := 0 // the protocol's default
	if o.Window != nil {
		if *o.Window < 1 {
			return paxos.Config{}, fmt.Errorf("cluster file: %w: options.window=%d, want at least 1 slot in flight (omit it for the default %d)",
				paxos.ErrConfig, *o.Window, paxos.DefaultWindow)
		}
		window = *o.Window
	}
	election := o.ElectionTicks
	if election == 0 {
		election = DefaultElectionTicks
	}
	cfg := paxos.Config{
		ID: id, N: c.N(), Seed: seed,
		HeartbeatTicks: o.HeartbeatTicks, ElectionTicks: election, RetryTicks: o.RetryTicks,
		Batch: o.Batch, Window: window, Thrifty: o.Thrifty, LeaseTicks: o.LeaseTicks,
		InitialLeader: leader, SnapshotEvery: o.SnapshotEvery, StaggerSnapshots: true,
	}
	spec := o.Quorums
	if o.Q1 != 0 || o.Q2 != 0 {
		if spec != "" {
			return cfg, fmt.Errorf("cluster file: %w: give either quorums or q1/q2, not both", paxos.ErrConfig)
		}
		var parts []string
		if o.Q1 != 0 {
			parts = append(parts, fmt.Sprintf("q1=%d", o.Q1))
		}
		if o.Q2 != 0 {
			parts = append(parts, fmt.Sprintf("q2=%d", o.Q2))
		}
		spec = strings.Join(parts, ",")
	}
	if spec != "" {
		q, err := quorum.ParseSystem(c.N(), spec)
		if err != nil {
			return cfg, fmt.Errorf("cluster file: quorums: %w", err)
		}
		cfg.Quorums = q
	}
	if m, err := c.Matrix(); err != nil {
		return cfg, err
	} else if m != nil {
		cfg.Distances = append([]float64(nil), m[id]...)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("cluster file: replica %d: %w", id, err)
	}
	return cfg, nil
}

func registered(p string) bool {
	for _, n := range paxos.Protocols() {
		if n == p {
			return true
		}
	}
	return false
}
