package paxos

import (
	"fmt"
	"sort"
	"sync"
)

// Constructor builds a replica of one protocol. It refuses a configuration
// that cannot be safe with an error wrapping ErrConfig.
type Constructor func(cfg Config) (Replica, error)

var (
	protocolsMu sync.RWMutex
	protocols   = map[string]ProtocolInfo{}
)

// ProtocolInfo is what a protocol registers about itself: its constructor
// and the capabilities drivers need to choose flags and sizes without
// naming protocols (which protocols take --q1/--q2, which cannot run at an
// even N, ...). The zero value of every capability is the plain case.
type ProtocolInfo struct {
	// Name is the registered name; the registry fills it in.
	Name string
	// New builds a replica. Required.
	New Constructor
	// Quorums says the protocol is meant to run with phase-1 and phase-2
	// quorums of different sizes or shapes (Config.Quorums: counting
	// Q1/Q2, grids); drivers apply --q1/--q2 and --grid to it.
	Quorums bool
	// OddN says the protocol runs only with an odd number of replicas.
	OddN bool
	// Leader says one replica leads (Config.InitialLeader, elections,
	// leader leases).
	Leader bool
	// Rank orders protocols in default comparisons and figures: ranked
	// protocols (Rank > 0) first, lowest first, then the rest; ties by
	// name.
	Rank int
}

// Fits reports whether the protocol can run with n replicas: nil, or an
// error wrapping ErrConfig that says why not.
func (p ProtocolInfo) Fits(n int) error {
	if n < 1 {
		return fmt.Errorf("%w: %s: %d replicas; want at least 1", ErrConfig, p.Name, n)
	}
	if p.OddN && n%2 == 0 {
		return fmt.Errorf("%w: %s: needs an odd number of replicas, not %d; choose %d or %d", ErrConfig, p.Name, n, n-1, n+1)
	}
	return nil
}

// RegisterProtocol makes a protocol available by name, with no capability
// beyond the plain case (see RegisterProtocolInfo). Protocol packages call
// it from init; importing github.com/paxos-lab/paxos/protocols registers all.
// It panics on a duplicate name, which is a programming error.
func RegisterProtocol(name string, c Constructor) {
	RegisterProtocolInfo(name, ProtocolInfo{New: c})
}

// RegisterProtocolInfo makes a protocol available by name together with its
// capabilities. It panics on a duplicate name or a nil constructor, which
// are programming errors.
func RegisterProtocolInfo(name string, info ProtocolInfo) {
	if info.New == nil {
		panic("paxos: protocol registered without a constructor: " + name)
	}
	info.Name = name
	protocolsMu.Lock()
	defer protocolsMu.Unlock()
	if _, dup := protocols[name]; dup {
		panic("paxos: protocol registered twice: " + name)
	}
	protocols[name] = info
}

// Protocols returns the registered protocol names, sorted.
func Protocols() []string {
	protocolsMu.RLock()
	defer protocolsMu.RUnlock()
	names := make([]string, 0, len(protocols))
	for n := range protocols {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ProtocolInfos returns every registered protocol's information in the
// order of default comparisons (see ProtocolInfo.Rank).
func ProtocolInfos() []ProtocolInfo {
	protocolsMu.RLock()
	out := make([]ProtocolInfo, 0, len(protocols))
	for _, p := range protocols {
		out = append(out, p)
	}
	protocolsMu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Rank > 0) != (b.Rank > 0) {
			return a.Rank > 0
		}
		if a.Rank != b.Rank {
			return a.Rank < b.Rank
		}
		return a.Name < b.Name
	})
	return out
}

// LookupProtocol returns the information registered for a protocol, or an
// error that lists the registered names.
func LookupProtocol(name string) (ProtocolInfo, error) {
	protocolsMu.RLock()
	p, ok := protocols[name]
	protocolsMu.RUnlock()
	if !ok {
		return ProtocolInfo{}, fmt.Errorf("unknown protocol %q (registered: %v); import github.com/paxos-lab/paxos/protocols to register all", name, Protocols())
	}
	return p, nil
}

// New builds a replica of the named protocol.
func New(protocol string, cfg Config) (Replica, error) {
	p, err := LookupProtocol(protocol)
	if err != nil {
		return nil, err
	}
	return p.New(cfg)
}

// Build builds a replica with c when it is set, otherwise with the protocol
// registered under the given name: what every driver (the simulator, the
// explorer, the live runtime's tests) does to make a replica. A constructor
// that returns no replica, or one with another ID, is refused.
func Build(protocol string, c Constructor, cfg Config) (Replica, error) {
	var (
		r   Replica
		err error
	)
	if c != nil {
		r, err = c(cfg)
	} else {
		r, err = New(protocol, cfg)
	}
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("%w: the constructor returned no replica for id %d", ErrConfig, cfg.ID)
	}
	if r.ID() != cfg.ID {
		return nil, fmt.Errorf("%w: replica built for id %d reports ID %d", ErrConfig, cfg.ID, r.ID())
	}
	return r, nil
}
