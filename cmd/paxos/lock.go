package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/lockservice"
	"github.com/paxos-lab/paxos/node"
)

func init() {
	register("lock", "use a lock service (replicas run paxos serve --app lockservice): paxos lock acquire|try|read --config FILE LOCK, or paxos lock bench", runLock)
}

const lockUsage = `usage: paxos lock acquire|try|read --config FILE [flags] LOCK
       paxos lock bench [flags]

  acquire  open a session, wait (up to --timeout) for LOCK, print its fencing
           token, optionally store --value, hold it for --hold (0: until
           SIGINT/SIGTERM) while renewing the session, then release it and
           close the session. A holder that is killed loses the lock when
           its session expires (--ttl after its last renewal);
           --renewals prints each renewal's send time and the lease end
           the service recorded.
  try      like acquire, but give up at once (exit 1) when LOCK is held.
  read     print LOCK's holders, mode and value.
  bench    (no LOCK) paxos bench --app kv,lockservice with settings for a
           LAN (--rtt lan --conflict 0 --cpu-us 20 --duration 5s --warmup 1s
           --out lock-bench-out): throughput and latency of the lock
           service's acquire/release mix beside the key-value workload, per
           protocol, in the same table and CSVs; any paxos bench flag
           overrides these (paxos bench -h).

The replicas are served with: paxos serve --app lockservice ...`

// lockBenchDefaults are the flags `paxos lock bench` puts before its own
// arguments to `paxos bench` (later flags win).
var lockBenchDefaults = []string{"--app", "kv,lockservice", "--rtt", "lan", "--conflict", "0", "--cpu-us", "20",
	"--duration", "5s", "--warmup", "1s", "--out", "lock-bench-out"}

func runLock(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, lockUsage)
		return exitUsage
	}
	verb := args[0]
	if verb == "bench" {
		return runBench(append(append([]string(nil), lockBenchDefaults...), args[1:]...), stdout, stderr)
	}
	if verb != "acquire" && verb != "try" && verb != "read" {
		fmt.Fprintf(stderr, "paxos lock: unknown subcommand %q\n%s\n", verb, lockUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("paxos lock "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "cluster file (JSON) naming every replica's client address")
	replica := fs.Int("replica", -1, "talk to this replica only (default: any, retrying across all)")
	ttl := fs.Duration("ttl", 12*time.Second, "session lease")
	timeout := fs.Duration("timeout", 30*time.Second, "acquire: how long to wait for the lock")
	hold := fs.Duration("hold", 0, "acquire/try: how long to hold the lock (0: until SIGINT or SIGTERM)")
	shared := fs.Bool("shared", false, "acquire/try: take the lock in shared mode")
	value := fs.String("value", "", "acquire/try: store this value in the lock (exclusive mode)")
	renewals := fs.Bool("renewals", false, "print a line for each successful lease renewal: renewed session=ID sent=TIME expires=TIME")
	data := fs.String("data", "", "the data root of paxos cluster, where it keeps the client token when the cluster file has no secret")
	tokenFile := fs.String("token-file", "", "file holding the client token")
	tlsCA := fs.String("tls-ca", "", "CA certificate of the client ports")
	tlsCert := fs.String("tls-cert", "", "client certificate")
	tlsKey := fs.String("tls-key", "", "client key")
	fs.Usage = func() {
		fmt.Fprintln(stderr, lockUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *config == "" || fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	name := fs.Arg(0)
	c, err := node.LoadCluster(*config)
	if err != nil {
		fmt.Fprintf(stderr, "paxos lock: %v\n", err)
		return exitUsage
	}
	opts, err := clientOptions(c, *data, *tokenFile, *tlsCA, *tlsCert, *tlsKey)
	if err != nil {
		fmt.Fprintf(stderr, "paxos lock: %v\n", err)
		return exitUsage
	}
	addrs := c.ClientAddrs()
	if *replica >= 0 {
		if *replica >= len(addrs) {
			fmt.Fprintf(stderr, "paxos lock: --replica %d: the cluster has replicas 0..%d\n", *replica, len(addrs)-1)
			return exitUsage
		}
		addrs = addrs[*replica : *replica+1]
	}
	opts.AttemptTimeout = min(opts.AttemptTimeout, *ttl/4)
	cl, err := client.New(addrs, opts)
	if err != nil {
		fmt.Fprintf(stderr, "paxos lock: %v\n", err)
		return exitUsage
	}
	defer cl.Close()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	// The session's renewals print from its own goroutine.
	var outMu sync.Mutex
	printf := func(format string, a ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(stdout, format, a...)
	}
	sopts := lockservice.SessionOptions{TTL: *ttl}
	if *renewals {
		sopts.OnRenew = func(sent, expires time.Time) {
			printf("renewed session=%d sent=%s expires=%s\n", cl.ID(), sent.UTC().Format(time.RFC3339Nano), expires.UTC().Format(time.RFC3339Nano))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	s, err := lockservice.OpenSession(ctx, cl, sopts)
	if err != nil {
		fmt.Fprintf(stderr, "paxos lock: open a session: %v\n", err)
		return exitFail
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		_ = s.Close(cctx)
	}()
	if verb == "read" {
		r, err := s.Read(ctx, name)
		if err != nil {
			fmt.Fprintf(stderr, "paxos lock: read %s: %v\n", name, err)
			return exitFail
		}
		mode := "exclusive"
		if r.Mode == lockservice.Shared {
			mode = "shared"
		}
		if len(r.Holders) == 0 {
			mode = "free"
		}
		printf("%s %s holders=%v value=%q\n", name, mode, r.Holders, r.Value)
		return exitOK
	}
	mode := lockservice.Exclusive
	if *shared {
		mode = lockservice.Shared
	}
	var tok uint64
	if verb == "try" {
		tok, err = s.TryAcquire(ctx, name, mode)
	} else {
		tok, err = s.Acquire(ctx, name, mode)
	}
	if err != nil {
		fmt.Fprintf(stderr, "paxos lock: %s %s: %v\n", verb, name, err)
		return exitFail
	}
	printf("acquired %s token=%d session=%d at=%s\n", name, tok, s.ID(), time.Now().UTC().Format(time.RFC3339Nano))
	if *value != "" {
		if err := s.SetValue(ctx, name, []byte(*value)); err != nil {
			fmt.Fprintf(stderr, "paxos lock: set value: %v\n", err)
			return exitFail
		}
	}
	var until <-chan time.Time
	if *hold > 0 {
		until = time.After(*hold)
	}
	tick := time.NewTicker(*ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-sigs:
		case <-until:
		case <-tick.C:
			if err := s.Valid(); err != nil {
				fmt.Fprintf(stderr, "paxos lock: %s: %v\n", name, err)
				if errors.Is(err, lockservice.ErrSessionLost) {
					return exitFail
				}
			}
			continue
		}
		break
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	if err := s.Release(rctx, name); err != nil {
		fmt.Fprintf(stderr, "paxos lock: release %s: %v\n", name, err)
		return exitFail
	}
	printf("released %s\n", name)
	return exitOK
}
