package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/lockservice"
	"github.com/paxos-lab/paxos/rtt"
	"github.com/paxos-lab/paxos/sim"
)

// lockBenchClient is one closed-loop lock-service client of `paxos lock
// bench`: it acquires a random lock and releases it, renewing its session
// every keepEvery operations.
type lockBenchClient struct {
	locks, keepEvery int
	ttl              int64
	n                int
	held             string
}

func (c *lockBenchClient) Next(rng *rand.Rand) paxos.Command {
	c.n++
	switch {
	case c.n == 1:
		return lockservice.Command(0, lockservice.Request{Kind: lockservice.KindOpen, TTL: c.ttl})
	case c.n%c.keepEvery == 0:
		return lockservice.Command(0, lockservice.Request{Kind: lockservice.KindKeepAlive, TTL: c.ttl})
	case c.held != "":
		name := c.held
		c.held = ""
		return lockservice.Command(0, lockservice.Request{Kind: lockservice.KindRelease, Lock: name})
	}
	c.held = fmt.Sprintf("lock-%d", rng.IntN(c.locks))
	return lockservice.Command(0, lockservice.Request{Kind: lockservice.KindAcquire, Lock: c.held})
}

// lockBenchResult is one measured run.
type lockBenchResult struct {
	ops           int
	tput          float64
	p50, p99, avg time.Duration
}

func runLockBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("paxos lock bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	protocols := fs.String("protocols", "all", "comma-separated protocols, or all")
	replicas := fs.Int("replicas", 5, "cluster size (the first N sites of --rtt)")
	rttName := fs.String("rtt", "lan", "RTT preset or CSV file (see paxos bench)")
	clients := fs.Int("clients", 10, "closed-loop clients per replica site")
	locks := fs.Int("locks", 100, "distinct locks (and keys of the KV workload beside it)")
	duration := fs.Duration("duration", 10*time.Second, "measured virtual time (after a 1 s warm-up)")
	lease := fs.Int("lease", 6, "leader lease in ticks (leader-based protocols; 0 = off)")
	seed := fs.Uint64("seed", 1, "simulation seed")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	m, err := rtt.Load(*rttName)
	if err != nil {
		return usageError(stderr, "--rtt: "+err.Error())
	}
	if *replicas < 1 || *replicas > m.N() || *clients < 1 || *locks < 1 || *duration <= 0 {
		return usageError(stderr, fmt.Sprintf("want 1 <= --replicas <= %d (sites of %s), --clients >= 1, --locks >= 1, --duration > 0", m.N(), *rttName))
	}
	protos := strings.Split(*protocols, ",")
	if *protocols == "all" {
		protos = paxos.Protocols()
	}
	ms := make([][]float64, *replicas)
	for i := range ms {
		ms[i] = m.MS[i][:*replicas]
	}
	fmt.Fprintf(stdout, "lock service vs key-value store: %d replicas, rtt %s, %d clients per site, %d locks/keys, %s virtual\n",
		*replicas, *rttName, *clients, *locks, *duration)
	fmt.Fprintf(stdout, "%-10s %-12s %10s %10s %10s %10s\n", "protocol", "workload", "ops/s", "mean", "p50", "p99")
	for _, proto := range protos {
		for _, app := range []string{"lockservice", "kv"} {
			r, err := lockBenchRun(proto, app, ms, *clients, *locks, *lease, *seed, *duration)
			if err != nil {
				fmt.Fprintf(stderr, "paxos lock bench: %s: %v\n", proto, err)
				return exitFail
			}
			fmt.Fprintf(stdout, "%-10s %-12s %10.0f %10s %10s %10s\n", proto, app, r.tput,
				r.avg.Round(10*time.Microsecond), r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond))
		}
	}
	return exitOK
}

func lockBenchRun(proto, app string, ms [][]float64, clients, locks, lease int, seed uint64, d time.Duration) (lockBenchResult, error) {
	n := len(ms)
	cfg := sim.Config{Protocol: proto, N: n, RTT: ms, Seed: seed, CPU: 20 * time.Microsecond,
		Replica: paxos.Config{InitialLeader: 0, LeaseTicks: lease}}
	if proto != "multi" && proto != "flexible" && proto != "raft" {
		cfg.Replica.LeaseTicks = 0
	}
	if app == "lockservice" {
		cfg.Replica.StateMachine, cfg.Stamp = lockservice.New, lockservice.StampSim
	}
	s, err := sim.New(cfg)
	if err != nil {
		return lockBenchResult{}, err
	}
	for site := 0; site < n; site++ {
		for k := 0; k < clients; k++ {
			var wl sim.Workload = &lockBenchClient{locks: locks, keepEvery: 20, ttl: 10_000}
			if app == "kv" {
				wl = sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
					key := fmt.Sprintf("lock-%d", rng.IntN(locks))
					if rng.IntN(2) == 0 {
						return paxos.Command{Op: paxos.OpGet, Key: key}
					}
					return paxos.Command{Op: paxos.OpPut, Key: key, Value: "v"}
				})
			}
			if _, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: wl}); err != nil {
				return lockBenchResult{}, err
			}
		}
	}
	warm := time.Second
	s.Run(warm + d)
	var lat []time.Duration
	var sum time.Duration
	for _, o := range s.History() {
		if o.Done && o.Call >= warm && o.Return <= warm+d {
			lat = append(lat, o.Latency())
			sum += o.Latency()
		}
	}
	if len(lat) == 0 {
		return lockBenchResult{}, fmt.Errorf("no operation completed in the measured window")
	}
	slices.Sort(lat)
	return lockBenchResult{ops: len(lat), tput: float64(len(lat)) / d.Seconds(),
		p50: lat[len(lat)/2], p99: lat[len(lat)*99/100], avg: sum / time.Duration(len(lat))}, nil
}
