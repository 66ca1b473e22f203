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
	protocols   = map[string]Constructor{}
)

// RegisterProtocol makes a protocol available by name. Protocol packages call
// it from init; importing github.com/paxos-lab/paxos/protocols registers all.
// It panics on a duplicate name, which is a programming error.
func RegisterProtocol(name string, c Constructor) {
	protocolsMu.Lock()
	defer protocolsMu.Unlock()
	if _, dup := protocols[name]; dup {
		panic("paxos: protocol registered twice: " + name)
	}
	protocols[name] = c
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

// New builds a replica of the named protocol.
func New(protocol string, cfg Config) (Replica, error) {
	protocolsMu.RLock()
	c, ok := protocols[protocol]
	protocolsMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown protocol %q (registered: %v); import github.com/paxos-lab/paxos/protocols to register all", protocol, Protocols())
	}
	return c(cfg)
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
