package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/lockservice"
	"github.com/paxos-lab/paxos/node"
)

// serveReadyLine starts the line `paxos serve` prints on stdout once it
// listens.
const serveReadyLine = "paxos serve: ready"

// exitLostStorage is the exit code of `paxos serve` when it refuses a data
// directory that may have lost records (wiped, cut, damaged): the replica
// must be started with --rebuild. paxos cluster recognises it.
const exitLostStorage = 3

func init() {
	register("serve", "run one replica of a cluster file as this process (TCP peers, client port, WAL in --data)", runServe)
}

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("paxos serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "cluster file (JSON; see examples/cluster-3.json)")
	id := fs.Int("id", -1, "this replica's id in the cluster file (0..N-1)")
	data := fs.String("data", "", "data directory for this replica's WAL and snapshot (created if missing; reuse it to restart)")
	protocol := fs.String("protocol", "", "override the cluster file's protocol (registered: "+strings.Join(paxos.Protocols(), ", ")+")")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	noSync := fs.Bool("no-sync", false, "skip fsync (benchmarks only: unsafe against power loss, safe against kill -9)")
	isNew := fs.Bool("new", false, "this replica's very first start (a new cluster): accept an empty --data directory. Never use it for a replica that ran before")
	secretFile := fs.String("secret-file", "", "the cluster secret (hex) instead of the cluster file's secret_file; paxos cluster passes the one it keeps in its data directory")
	metrics := fs.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. :9100); empty: off")
	withPprof := fs.Bool("pprof", false, "with --metrics: also serve Go's profiler at http://ADDR/debug/pprof/")
	app := fs.String("app", "kv", "replicated application: kv (the key-value store) or lockservice (Chubby-style locks; session commands stamped with this replica's clock)")
	lockTick := fs.Duration("lock-tick", lockservice.DefaultTickEvery, "with --app lockservice: propose a lock-service Tick (stamped with this replica's clock) this often, so that the sessions of clients that died expire without any client traffic; 0: never")
	memLimit := fs.String("memory-limit", "auto", memoryLimitUsage)
	procsFlag := fs.String("procs", "auto", procsUsage)
	rebuild := fs.Bool("rebuild", false, "the replica's storage was lost or damaged: move what --data holds aside (to DIR.damaged-<time>, nothing is deleted), start empty as a non-voting member, learn the state from the peers and vote again once that is safe")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: paxos serve --config cluster.json --id N --data DIR [--protocol P] [--secret-file F] [--new | --rebuild]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *config == "" || *id < 0 || *data == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "paxos serve: --config, --id and --data are required")
		fs.Usage()
		return exitUsage
	}
	if *withPprof && *metrics == "" {
		fmt.Fprintln(stderr, "paxos serve: --pprof needs --metrics ADDR (it serves on the same address)")
		return exitUsage
	}
	if *isNew && *rebuild {
		fmt.Fprintln(stderr, "paxos serve: --new and --rebuild exclude each other: --new is a replica's first start, --rebuild a restart after its storage was lost")
		return exitUsage
	}
	limit, err := parseMemoryLimit(*memLimit)
	if err != nil {
		fmt.Fprintln(stderr, "paxos serve:", err)
		return exitUsage
	}
	procs, err := parseProcs(*procsFlag)
	if err != nil {
		fmt.Fprintln(stderr, "paxos serve:", err)
		return exitUsage
	}
	var sm func() paxos.StateMachine
	var stamp func(paxos.Command, time.Time) paxos.Command
	switch *app {
	case "kv":
	case "lockservice":
		sm, stamp = lockservice.New, lockservice.StampWall
	default:
		fmt.Fprintf(stderr, "paxos serve: --app %q: want kv or lockservice\n", *app)
		return exitUsage
	}
	memCtx, stopMem := context.WithCancel(context.Background())
	defer stopMem()
	applyMemoryLimit(memCtx, limit)
	lg, err := newLogger(stderr, *logLevel, *logJSON)
	if err != nil {
		fmt.Fprintln(stderr, "paxos serve:", err)
		return exitUsage
	}
	c, err := node.LoadCluster(*config)
	if err != nil {
		fmt.Fprintf(stderr, "paxos serve: %v\n", err)
		return exitUsage
	}
	n, why := applyProcs(procs, c, *id)
	lg.Info("processors", "gomaxprocs", n, "chosen_by", why, "cpus", runtime.NumCPU())
	// Signals are caught before the replica starts: a SIGTERM that arrives
	// while it opens its storage stops it cleanly once it is up, instead of
	// killing it mid-replay.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	scfg := node.ServeConfig{Cluster: c, ID: paxos.NodeID(*id), DataDir: *data, Protocol: *protocol, NoSync: *noSync,
		New: *isNew, Rebuild: *rebuild, Logger: lg, SecretFile: *secretFile, StateMachine: sm, Stamp: stamp}
	if *metrics != "" {
		// The metrics port is taken before the replica starts, so a port in
		// use fails at once and leaves the data directory untouched.
		reg := prometheus.NewRegistry()
		m, err := startMetrics(*metrics, *withPprof, reg)
		if err != nil {
			fmt.Fprintf(stderr, "paxos serve: %v\n", err)
			return exitUsage
		}
		defer m.Close(context.Background())
		scfg.Metrics = replicaLabels(reg, *id, cmp.Or(*protocol, c.Protocol))
		lg.Info("metrics", "url", "http://"+m.Addr().String()+"/metrics", "pprof", *withPprof)
	}
	s, err := node.Serve(scfg)
	if err != nil {
		lg.Error("cannot start the replica", "err", err)
		switch {
		case errors.Is(err, node.ErrStorageLost):
			fmt.Fprintf(stderr, "paxos serve: replica %d refused its data directory %s: its storage may have lost records it had acknowledged, so it must not vote. Start it with --rebuild (the old files are moved aside, not deleted):\n  paxos serve --config %s --id %d --data %s --rebuild\n",
				*id, *data, *config, *id, *data)
			return exitLostStorage
		case errors.Is(err, paxos.ErrConfig):
			return exitUsage
		}
		return exitFail
	}
	// One line on stdout says the replica listens (paxos cluster waits for
	// it); everything else goes to the log on stderr.
	fmt.Fprintf(stdout, "%s replica=%d peer=%s client=%s\n", serveReadyLine, *id, c.Replicas[*id].Peer, s.ClientAddr())
	stopTicks := func() {}
	if *app == "lockservice" {
		var tctx context.Context
		tctx, stopTicks = context.WithCancel(context.Background())
		defer stopTicks()
		go lockservice.RunTicker(tctx, s.Node().Submit, *lockTick)
	}
	code := exitOK
	select {
	case sig := <-sigs:
		lg.Info("stopping on signal", "signal", sig.String())
	case <-s.Done():
		err := s.Node().Err()
		lg.Error("replica stopped", "err", err)
		code = exitFail
		if errors.Is(err, node.ErrStorageLost) {
			fmt.Fprintf(stderr, "paxos serve: replica %d stopped: a peer refused its storage (it went backwards or was replaced), so it must not vote. Start it with --rebuild (the old files are moved aside, not deleted):\n  paxos serve --config %s --id %d --data %s --rebuild\n",
				*id, *config, *id, *data)
			code = exitLostStorage
		}
	}
	stopTicks()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		lg.Error("unclean stop", "err", err)
		return exitFail
	}
	lg.Info("stopped")
	return code
}

// newLogger returns a slog logger writing to w at the given level.
func newLogger(w io.Writer, level string, asJSON bool) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if asJSON {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
