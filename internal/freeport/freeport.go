// Package freeport finds loopback TCP ports for processes that are started
// later and bind them by number (`paxos serve` replicas started by
// `paxos bench --mode live` or by tests).
//
// A port the kernel hands out for 127.0.0.1:0 comes from its ephemeral
// range, the same range it picks the local ports of outgoing connections
// from: between the moment such a port is found free and the moment the
// replica binds it, any process that connects somewhere may take it as its
// local port, and the replica's bind then fails with "address already in
// use" (seen in CI, where other test binaries open thousands of
// connections meanwhile). Ports below the ephemeral range are taken only
// by processes that bind them by number, so this package picks there,
// at random, and checks each by binding it.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lowest is the lowest port picked: well above the registered ports most
// services listen on.
const lowest = 20000

// ephemeralRange is where Linux keeps the ephemeral port range.
const ephemeralRange = "/proc/sys/net/ipv4/ip_local_port_range"

// Loopback returns n distinct 127.0.0.1 addresses ("127.0.0.1:PORT") whose
// ports were free a moment ago and lie below the kernel's ephemeral range.
// Where that range cannot be read, or leaves fewer than 1,000 ports below
// it, it falls back to ports the kernel picks (127.0.0.1:0).
func Loopback(n int) ([]string, error) {
	return loopback(n, lowest, ephemeralLow(), rand.IntN)
}

// loopback is Loopback picking ports in [lo, hi) with intN.
func loopback(n, lo, hi int, intN func(int) int) ([]string, error) {
	if n < 0 {
		return nil, fmt.Errorf("freeport: %d ports asked for", n)
	}
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	out := make([]string, 0, n)
	for taken := 0; len(out) < n; {
		addr := "127.0.0.1:0"
		if hi-lo >= 1000 {
			addr = "127.0.0.1:" + strconv.Itoa(lo+intN(hi-lo))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr != "127.0.0.1:0" && errors.Is(err, syscall.EADDRINUSE) && taken < 100 {
				taken++
				continue // try another
			}
			return nil, fmt.Errorf("freeport: find a free loopback port: %w", err)
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// ephemeralLow returns the lowest port of the kernel's ephemeral range, or
// 0 when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile(ephemeralRange)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return lo
}
