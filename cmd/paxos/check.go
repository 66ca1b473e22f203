package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/bench"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/lockservice"
	"github.com/paxos-lab/paxos/quorum"
)

func init() {
	register("check", "randomized fault checking in the simulator: linearizability and invariants over many seeds", runCheck)
}

// checkFlags holds the parsed flags of `paxos check`.
type checkFlags struct {
	protocol   string
	replicas   int
	seeds      int
	seedStart  uint64
	ops        int
	clients    int
	faults     string
	historyDir string
	trace      string // file for the simulator's event log (check.Options.Trace)
	q1, q2     int
	grid       string
	conflict   float64
	thrifty    bool
	batch      int
	lease      int
	snapEvery  int
	verbose    bool
	codec      bool
	mutant     string // a planted bug to check instead of a protocol (mutants.go)
	app        string // the replicated application: kv or lockservice
	broken     string // a broken lock-service variant (lockservice.Broken)
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	var f checkFlags
	fs := flag.NewFlagSet("paxos check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.protocol, "protocol", "basic", "protocol to check, or 'all' (registered: "+strings.Join(paxos.Protocols(), ", ")+")")
	fs.IntVar(&f.replicas, "replicas", 5, "cluster size N")
	fs.IntVar(&f.seeds, "seeds", 100, "number of seeds (runs) to check")
	fs.Uint64Var(&f.seedStart, "seed-start", 1, "first seed")
	fs.IntVar(&f.ops, "ops", 200, "client operations per run")
	fs.IntVar(&f.clients, "clients", 0, "closed-loop clients per run, at random sites (0 = 3 to 8, drawn per seed)")
	fs.StringVar(&f.faults, "faults", "all", "faults to inject: none, all, or a list of "+strings.Join(check.AllFaults, ","))
	fs.StringVar(&f.historyDir, "history-dir", "", "write each seed's history to DIR/<protocol>-n<N>-s<seed>.jsonl")
	fs.StringVar(&f.trace, "trace", "", "write the simulator's event log of every checked seed to FILE (use with --seeds 1: a run logs about a million lines)")
	fs.IntVar(&f.q1, "q1", 0, "phase-1 quorum size (with --q2: counting quorums, q1+q2 must exceed N)")
	fs.IntVar(&f.q2, "q2", 0, "phase-2 quorum size (with --q1)")
	fs.StringVar(&f.grid, "grid", "", "grid quorums ROWSxCOLS (rows are phase-1 quorums, columns phase-2); ROWS*COLS must equal --replicas")
	fs.Float64Var(&f.conflict, "conflict", 0, "percentage (0..100) of operations on one shared hot key (fastpaxos: only what linearizability checks; any two commands proposed at once at different replicas collide for a slot whatever their keys)")
	fs.BoolVar(&f.thrifty, "thrifty", false, "send phase-2 / PreAccept messages only to the needed quorum in every seed (without it, half the seeds are thrifty)")
	fs.IntVar(&f.batch, "batch", 1, "commands per slot or instance")
	fs.IntVar(&f.lease, "lease", 0, "leader lease in ticks for local reads (0 = off; leader-based protocols)")
	fs.IntVar(&f.snapEvery, "snapshot-every", 0, "snapshot and compact the log every K executed slots (0 = protocol default; protocols with compaction)")
	fs.BoolVar(&f.verbose, "v", false, "print one line per seed")
	fs.BoolVar(&f.codec, "codec", false, "pass every message, record and snapshot through the codec, as the live runtime does (slower; catches aliasing and values the codec cannot carry)")
	fs.StringVar(&f.app, "app", check.AppKV, "replicated application: kv (the key-value store) or lockservice (Chubby-style locks: lock invariants and linearizability against the lock service)")
	fs.StringVar(&f.broken, "broken", "", "with --app lockservice: run a deliberately broken lock service, or 'list' to list them")
	fs.StringVar(&f.mutant, "mutant", "", "check a planted bug (protocol and needed flags come from it), or 'list' to list them")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	mutantNew, code, done := applyMutant(&f, fs, args, stdout, stderr)
	if done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if f.broken == "list" {
		for _, v := range lockservice.Broken() {
			fmt.Fprintf(stdout, "%-20s %s\n", v.Name, v.Bug)
		}
		return exitOK
	}
	if f.app != check.AppKV && f.app != check.AppLockService {
		return usageError(stderr, fmt.Sprintf("--app %q: want %s or %s", f.app, check.AppKV, check.AppLockService))
	}
	if f.broken != "" {
		if f.app != check.AppLockService {
			return usageError(stderr, "--broken needs --app lockservice")
		}
		if _, err := lockservice.LookupBroken(f.broken); err != nil {
			return usageError(stderr, "--broken: "+err.Error())
		}
	}
	faults, err := check.ParseFaults(f.faults)
	if err != nil {
		return usageError(stderr, "--faults: "+err.Error())
	}
	protocols := []string{f.protocol}
	if f.protocol == "all" {
		protocols = paxos.Protocols()
	} else if !registered(f.protocol) {
		return usageError(stderr, fmt.Sprintf("--protocol: unknown protocol %q; registered: %s, or all", f.protocol, strings.Join(paxos.Protocols(), ", ")))
	}
	switch {
	case f.replicas < 1 || f.replicas > quorum.MaxReplicas:
		return usageError(stderr, fmt.Sprintf("--replicas %d: want 1..%d", f.replicas, quorum.MaxReplicas))
	case f.seeds < 1:
		return usageError(stderr, fmt.Sprintf("--seeds %d: want at least 1", f.seeds))
	case f.ops < 1:
		return usageError(stderr, fmt.Sprintf("--ops %d: want at least 1", f.ops))
	case f.clients < 0:
		return usageError(stderr, fmt.Sprintf("--clients %d: want 0 (3 to 8, drawn per seed) or a number of clients", f.clients))
	case bench.CheckPercent(f.conflict) != nil:
		return usageError(stderr, "--conflict: "+bench.CheckPercent(f.conflict).Error())
	case f.batch < 1:
		return usageError(stderr, fmt.Sprintf("--batch %d: want at least 1", f.batch))
	case f.snapEvery < 0:
		return usageError(stderr, fmt.Sprintf("--snapshot-every %d: want 0 (protocol default) or a positive number of slots", f.snapEvery))
	case f.lease < 0:
		return usageError(stderr, fmt.Sprintf("--lease %d: want 0 (off) or a positive number of ticks", f.lease))
	case (f.q1 == 0) != (f.q2 == 0):
		return usageError(stderr, "--q1 and --q2 go together")
	case f.q1 != 0 && f.grid != "":
		return usageError(stderr, "choose either --q1/--q2 or --grid")
	}
	var skipped, fit []string
	for _, proto := range protocols {
		info, _ := paxos.LookupProtocol(proto)
		err := info.Fits(f.replicas)
		switch {
		case err == nil:
			fit = append(fit, proto)
		case f.protocol == "all":
			// One protocol cannot run this size (EPaxos needs an odd N):
			// say so and check the others.
			why := strings.TrimPrefix(err.Error(), paxos.ErrConfig.Error()+": ")
			fmt.Fprintf(stderr, "paxos check: skipping %s\n", why)
			skipped = append(skipped, proto)
		default:
			return usageError(stderr, "--replicas: "+err.Error())
		}
	}
	protocols = fit
	quorums, err := quorumBuilder(f)
	if err != nil {
		return usageError(stderr, err.Error())
	}
	if quorums != nil {
		if _, err := quorums(f.replicas); err != nil {
			return usageError(stderr, err.Error())
		}
	}
	if f.historyDir != "" {
		if err := os.MkdirAll(f.historyDir, 0o755); err != nil {
			fmt.Fprintf(stderr, "paxos check: --history-dir: %v\n", err)
			return exitUsage
		}
	}

	var trace *bufio.Writer
	if f.trace != "" {
		tf, err := os.Create(f.trace)
		if err != nil {
			fmt.Fprintf(stderr, "paxos check: --trace: %v\n", err)
			return exitUsage
		}
		defer tf.Close()
		trace = bufio.NewWriterSize(tf, 1<<20)
		defer trace.Flush()
	}

	passed, failed := 0, 0
	progress := newCounter(stderr, "seeds", len(protocols)*f.seeds)
	defer progress.finish()
	for _, proto := range protocols {
		cov, runs := paxos.Coverage{}, 0
		for i := 0; i < f.seeds; i++ {
			seed := f.seedStart + uint64(i)
			opts := check.Options{
				Protocol: proto,
				New:      mutantNew,
				Replicas: f.replicas,
				Codec:    f.codec,
				Seed:     seed,
				Ops:      f.ops,
				Clients:  f.clients,
				Conflict: f.conflict / 100,
				Faults:   faults,
				Quorums:  quorums,
				App:      f.app,
				Broken:   f.broken,
				Replica: paxos.Config{
					Thrifty:       f.thrifty,
					Batch:         f.batch,
					LeaseTicks:    f.lease,
					SnapshotEvery: f.snapEvery,
					InitialLeader: -1,
				},
			}
			if trace != nil {
				fmt.Fprintf(trace, "# %s n=%d seed=%d\n", proto, f.replicas, seed)
				opts.Trace = trace
			}
			start := time.Now()
			res, err := check.Run(opts)
			if err != nil {
				if f.protocol == "all" && errors.Is(err, paxos.ErrConfig) {
					// One protocol cannot run this configuration (EPaxos
					// needs an odd N, say): say so and check the others.
					fmt.Fprintf(stderr, "paxos check: skipping %s: %v\n", proto, err)
					break
				}
				fmt.Fprintf(stderr, "paxos check: %s: %v\n", proto, err)
				return exitUsage
			}
			cov.Add(res.Coverage)
			runs++
			progress.step(fmt.Sprintf("%s n=%d seed %d, %d failed", proto, f.replicas, seed, failed+btoi(!res.OK())))
			if f.historyDir != "" {
				path := filepath.Join(f.historyDir, fmt.Sprintf("%s-n%d-s%d.jsonl", proto, f.replicas, seed))
				if err := check.WriteFile(path, res.History); err != nil {
					fmt.Fprintf(stderr, "paxos check: %v\n", err)
					return exitFail
				}
			}
			if res.OK() {
				passed++
				if f.verbose {
					progress.finish()
					fmt.Fprintf(stdout, "ok   %s n=%d seed=%d: %d/%d ops completed; faults: %d crashes, %d partitions, %d messages lost; %d events, %s virtual, %s; coverage: %s\n",
						proto, f.replicas, seed, res.Completed, res.Ops, res.Crashes, res.Partitions, res.Dropped,
						res.Events, res.Virtual.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), formatCoverage(res.Coverage))
				}
				continue
			}
			progress.finish() // the bar, if any, keeps its own line
			failed++
			fmt.Fprintf(stdout, "FAIL %s n=%d seed=%d: %s (%d more) — replay: %s\n",
				proto, f.replicas, seed, res.Failures[0], len(res.Failures)-1, replayCommand(f, proto, seed))
			if f.verbose {
				for _, more := range res.Failures[1:] {
					fmt.Fprintf(stdout, "     %s\n", more)
				}
				fmt.Fprintf(stdout, "     coverage: %s\n", formatCoverage(res.Coverage))
			}
		}
		if runs > 0 {
			progress.finish()
			fmt.Fprintf(stdout, "coverage %s n=%d, %d runs: %s\n", proto, f.replicas, runs, formatCoverage(cov))
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(stdout, "%d passed, %d failed, skipped %s (cannot run with %d replicas)\n", passed, failed, strings.Join(skipped, ", "), f.replicas)
	} else {
		fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	}
	if failed > 0 {
		return exitFail
	}
	return exitOK
}

// formatCoverage prints coverage counts as "name=count" in name order.
func formatCoverage(c paxos.Coverage) string {
	if len(c) == 0 {
		return "none reported"
	}
	names := make([]string, 0, len(c))
	for k := range c {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s=%d", k, c[k])
	}
	return strings.Join(parts, " ")
}

func registered(name string) bool {
	for _, p := range paxos.Protocols() {
		if p == name {
			return true
		}
	}
	return false
}

func usageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "paxos: %s\n", msg)
	return exitUsage
}

// quorumBuilder turns --q1/--q2 or --grid into a quorum constructor.
func quorumBuilder(f checkFlags) (func(n int) (quorum.System, error), error) {
	if f.q1 != 0 {
		q1, q2 := f.q1, f.q2
		return func(n int) (quorum.System, error) { return quorum.NewCounting(n, q1, q2) }, nil
	}
	if f.grid != "" {
		var rows, cols int
		if _, err := fmt.Sscanf(f.grid, "%dx%d", &rows, &cols); err != nil {
			return nil, fmt.Errorf("--grid %q: want ROWSxCOLS, e.g. 2x3", f.grid)
		}
		return func(n int) (quorum.System, error) {
			if rows*cols != n {
				return nil, fmt.Errorf("--grid %dx%d has %d replicas, but --replicas is %d", rows, cols, rows*cols, n)
			}
			return quorum.NewGrid(rows, cols)
		}, nil
	}
	return nil, nil
}

// replayCommand is the command line that reruns one seed alone.
func replayCommand(f checkFlags, proto string, seed uint64) string {
	what := "--protocol " + proto
	if f.mutant != "" {
		what = "--mutant " + f.mutant
	}
	parts := []string{"go run ./cmd/paxos check",
		what,
		fmt.Sprintf("--replicas %d", f.replicas),
		"--seeds 1",
		fmt.Sprintf("--seed-start %d", seed),
		fmt.Sprintf("--ops %d", f.ops),
		fmt.Sprintf("--clients %d", f.clients),
		"--faults " + f.faults,
	}
	if f.q1 != 0 {
		parts = append(parts, fmt.Sprintf("--q1 %d --q2 %d", f.q1, f.q2))
	}
	if f.grid != "" {
		parts = append(parts, "--grid "+f.grid)
	}
	if f.conflict != 0 {
		parts = append(parts, fmt.Sprintf("--conflict %v", f.conflict))
	}
	if f.thrifty {
		parts = append(parts, "--thrifty")
	}
	if f.codec {
		parts = append(parts, "--codec")
	}
	if f.batch != 1 {
		parts = append(parts, fmt.Sprintf("--batch %d", f.batch))
	}
	if f.lease != 0 {
		parts = append(parts, fmt.Sprintf("--lease %d", f.lease))
	}
	if f.snapEvery != 0 {
		parts = append(parts, fmt.Sprintf("--snapshot-every %d", f.snapEvery))
	}
	if f.app != check.AppKV {
		parts = append(parts, "--app "+f.app)
	}
	if f.broken != "" {
		parts = append(parts, "--broken "+f.broken)
	}
	return strings.Join(parts, " ") + " -v"
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
