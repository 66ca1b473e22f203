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
