package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/paxos-lab/paxos/node"
)

// procsUsage documents `paxos serve --procs`.
const procsUsage = "processors this replica runs Go code on at once (GOMAXPROCS): auto (the default unless GOMAXPROCS is set: the processors Go would use, shared out evenly among the cluster's replicas whose peer address is on this replica's host, at least 1 each), or a positive number"

// procsAuto is the --procs mode that shares the host among co-located
// replicas.
const procsAuto = 0

// parseProcs parses a --procs value: procsAuto for "auto", else a
// positive number of processors.
func parseProcs(s string) (int, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if v == "auto" {
		return procsAuto, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("bad --procs %q: want auto or a positive number of processors", s)
	}
	return n, nil
}

// colocated counts the replicas of c (id's own included) whose peer
// address names id's host: the same host name or IP address, every
// loopback address counting as one host. A name that resolves to this
// host under another spelling is not recognised (nothing is looked up).
func colocated(c *node.Cluster, id int) int {
	if id < 0 || id >= len(c.Replicas) {
		return 1
	}
	mine := hostOf(c.Replicas[id].Peer)
	n := 0
	for _, r := range c.Replicas {
		if hostOf(r.Peer) == mine {
			n++
		}
	}
	return n
}

// hostOf is the host part of a "host:port" address, in one spelling for
// every loopback address.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		h = addr
	}
	h = strings.ToLower(h)
	if h == "localhost" {
		return "loopback"
	}
	if ip := net.ParseIP(h); ip != nil {
		if ip.IsLoopback() {
			return "loopback"
		}
		return ip.String()
	}
	return h
}

// autoProcs is --procs auto's share: the processors Go would use (avail)
// divided evenly among the replicas on this host, at least 1.
func autoProcs(avail, onHost int) int {
	return max(1, avail/max(onHost, 1))
}

// applyProcs sets GOMAXPROCS as --procs asks (n from parseProcs) for
// replica id of c, and says how the number it returns was chosen, for the
// log. Auto leaves Go's choice alone (and with it Go's own updates when
// the container's CPU limit changes) when GOMAXPROCS is set in the
// environment or no other replica of c is on this host.
//
// Why auto shares the host: Go hands a goroutine that becomes runnable to
// an idle processor by waking a thread for it, and a replica's goroutines
// (connection readers, the event loop, writers) hand work to each other
// several times per command. With as many processors per replica as the
// whole machine has, and several replicas on it (a benchmark, a test
// cluster), most of those hand-offs wake a thread that then finds the
// processors of the machine busy with the other replicas: on a 2-core VM
// with three replicas that cost about a quarter of the replicas' CPU at one
// client (see docs/hot-path.md, "Processors shared out").
func applyProcs(n int, c *node.Cluster, id int) (procs int, why string) {
	switch onHost := colocated(c, id); {
	case n != procsAuto:
		runtime.GOMAXPROCS(n)
		return n, "--procs"
	case os.Getenv("GOMAXPROCS") != "":
		return runtime.GOMAXPROCS(0), "the GOMAXPROCS environment variable"
	case onHost <= 1:
		return runtime.GOMAXPROCS(0), "Go's default: no other replica of the cluster on this host"
	default:
		n = autoProcs(runtime.GOMAXPROCS(0), onHost)
		runtime.GOMAXPROCS(n)
		return n, fmt.Sprintf("shared among the cluster's %d replicas on this host", onHost)
	}
}
