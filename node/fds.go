package node

import (
	"log/slog"

	"github.com/paxos-lab/paxos/transport"
)

// reservedFDs are the descriptors kept free of connections for the WAL,
// snapshots, the data directory, the listeners and the runtime.
const reservedFDs = 64

// fitDescriptors raises the process's descriptor limit to its hard limit
// where it can, and lowers the ports' connection caps so that both ports
// full still leave reservedFDs descriptors free: connections alone can
// then never exhaust descriptors and stop the replica from persisting.
func fitDescriptors(peer, clients *transport.Limits, lg *slog.Logger) {
	limit, ok := raiseFDLimit()
	if !ok {
		return
	}
	avail := int(limit) - reservedFDs
	want := peer.MaxConns + clients.MaxConns
	if want <= avail {
		return
	}
	if avail < 16 {
		avail = 16
	}
	p := max(8, avail/4)
	c := max(8, avail-p)
	lg.Warn("the descriptor limit is too low for the connection caps; lowering them (raise RLIMIT_NOFILE, ulimit -n, to keep them)",
		"rlimit_nofile", limit, "peer_max_conns", p, "client_max_conns", c, "configured_max_conns", peer.MaxConns)
	peer.MaxConns, clients.MaxConns = min(peer.MaxConns, p), min(clients.MaxConns, c)
	peer.MaxConnsPerHost = min(peer.MaxConnsPerHost, peer.MaxConns)
	clients.MaxConnsPerHost = min(clients.MaxConnsPerHost, clients.MaxConns)
}
