package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/bench"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/rtt"
)

func init() {
	register("bench", "benchmark protocols in the simulator: per-site latency table, CSVs and plots", runBench)
}

// defaultProtocols is the default comparison: every registered protocol,
// in the order they register (paxos.ProtocolInfo.Rank).
func defaultProtocols() []string {
	var out []string
	for _, p := range paxos.ProtocolInfos() {
		out = append(out, p.Name)
	}
	return out
}

// badFlagError is a bad flag value: exit code 2.
type badFlagError struct{ err error }

func (u badFlagError) Error() string { return u.err.Error() }
func (u badFlagError) Unwrap() error { return u.err }

func flagErr(name, format string, args ...any) error {
	return badFlagError{fmt.Errorf("--%s: %s", name, fmt.Sprintf(format, args...))}
}

// benchFlags holds the raw flag values of `paxos bench`.
type benchFlags struct {
	protocols, mode, rttName, conflict, clientSites, keys, leader, out string
	cluster, sweepClients, serveBin, app                               string
	data, tokenFile, cpuProfile                                        string
	replicas, clients, payload, runs, q1, q2, batch, parallel          int
	commands, memoryEvery, resamples                                   int
	rate, reads, cpuUS, jitterMS                                       float64
	duration, warmup                                                   time.Duration
	thrifty, noPlots, noSync, inProcess, rivals, samples               bool
	seed                                                               uint64
}

func benchFlagSet(name string, f *benchFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.protocols, "protocols", strings.Join(defaultProtocols(), ","), "comma-separated protocols to compare (registered: "+strings.Join(paxos.Protocols(), ",")+")")
	fs.IntVar(&f.replicas, "replicas", 0, "number of replicas, 1.."+strconv.Itoa(quorum.MaxReplicas)+" (default: every site of the --rtt matrix)")
	fs.StringVar(&f.app, "app", bench.AppKV, "replicated application, or a comma-separated list run one after the other: kv (the key-value store: puts and gets) or lockservice (sessions acquiring and releasing exclusive locks, a keep-alive every 20th operation; --conflict/--keys choose the locks, --reads the share of lock reads); rows are labelled with the application when --app is given")
	fs.StringVar(&f.mode, "mode", bench.ModeSim, "sim (deterministic simulator, virtual time) or live (real replicas as `paxos serve` processes over loopback TCP with emulated WAN delay, file WALs, wall-clock time; CPU per command and peak memory measured)")
	fs.StringVar(&f.rttName, "rtt", "epaxos2013", "RTT preset ("+strings.Join(rtt.PresetNames(), ", ")+") or CSV file")
	fs.StringVar(&f.conflict, "conflict", "0,2,25,100", "comma-separated conflict percentages")
	fs.IntVar(&f.clients, "clients", 10, "closed-loop clients per client site in sim mode; in live mode the clients in all (exactly K requests outstanding), spread over the client sites")
	fs.StringVar(&f.sweepClients, "sweep-clients", "", "live mode: run once per comma-separated client count (e.g. 1,16,64,256,1024) and report the peak")
	fs.StringVar(&f.serveBin, "serve-bin", "", "live mode: the paxos program whose `serve` runs the replicas (default: this one; another build compares versions under the same load)")
	fs.BoolVar(&f.inProcess, "in-process", false, "live mode: run the replicas in this process instead of as paxos serve processes (needed for crash faults; no CPU or memory measurement)")
	fs.StringVar(&f.clientSites, "client-sites", "all", "sites hosting clients: all, or comma-separated indices or names")
	fs.Float64Var(&f.rate, "rate", 0, "open-loop Poisson arrivals in ops/s per site (0 = closed loop)")
	fs.StringVar(&f.keys, "keys", "conflict", "key distribution: conflict, zipf:THETA or zipf:THETA:KEYS")
	fs.Float64Var(&f.reads, "reads", 0, "percentage of reads (0..100)")
	fs.IntVar(&f.payload, "payload", 16, "bytes per written value")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured time per run (virtual in sim mode)")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "discarded warm-up before the measured time")
	fs.IntVar(&f.runs, "runs", 1, "repetitions per protocol and conflict (seeds S, S+1, ...); CIs resample runs when > 1")
	fs.StringVar(&f.leader, "leader", "0", "initial leader: replica index or site name, -1 to elect")
	fs.IntVar(&f.q1, "q1", 0, "phase-1 quorum size for flexible (0 = N-Q2+1, or majority)")
	fs.IntVar(&f.q2, "q2", 0, "phase-2 quorum size for flexible (0 = N-Q1+1, or majority)")
	fs.IntVar(&f.batch, "batch", 1, "most commands per slot or instance")
	fs.BoolVar(&f.thrifty, "thrifty", false, "send phase-2 messages only to a nearest quorum")
	fs.BoolVar(&f.rivals, "rivals", false, "make --conflict a collision rate (sim mode): each command has a key of its own, and that share of them gets a rival command on the same key proposed at the same instant at the replica nearest to the client")
	fs.Float64Var(&f.cpuUS, "cpu-us", 0, "processing cost per message in microseconds")
	fs.Float64Var(&f.jitterMS, "jitter-ms", 0, "uniform random extra one-way delay up to this many ms")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the first run")
	fs.StringVar(&f.out, "out", "bench-out", "output directory for CSVs, run.json and plots")
	fs.IntVar(&f.parallel, "parallel", runtime.NumCPU(), "simulations run at once (results do not depend on it)")
	fs.BoolVar(&f.noPlots, "no-plots", false, "skip drawing the plots")
	fs.StringVar(&f.cluster, "cluster", "", "live mode against running replicas: a cluster file (as for paxos serve); implies --mode live, and the cluster's protocol, size and RTT preset")
	fs.StringVar(&f.data, "data", "", "with --cluster: the data root of paxos cluster, where it keeps the client token when the cluster file has no secret (default ./data/<cluster name>)")
	fs.StringVar(&f.tokenFile, "token-file", "", "with --cluster: file holding the client token (default: derived from the cluster file's secret_file, else DATA/client.token)")
	fs.BoolVar(&f.noSync, "no-sync", false, "live mode: skip fsync in the replicas' WALs (measures the protocol without the disk)")
	fs.IntVar(&f.commands, "commands", 0, "live mode: end each run once this many commands completed, warm-up included (--duration still caps it; give a long one); 0 = no limit")
	fs.IntVar(&f.resamples, "resamples", bench.DefaultResamples, "bootstrap resamples for the confidence intervals (each resamples every latency sample of a run: fewer for runs of millions of commands)")
	fs.BoolVar(&f.samples, "samples", false, "also write samples.csv: every measured operation's site, call and return times and latency (a per-request latency timeline, to tell periodic stalls from steady queueing)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the simulator, or in live mode the load generator and any in-process replicas; not `paxos serve` replicas) to this file, for go tool pprof")
	fs.IntVar(&f.memoryEvery, "memory-every", 0, "live mode with replicas started as processes: read every replica's resident memory (VmRSS, VmHWM) each time this many more commands completed, and at the end; printed as it goes and written to memory.csv")
	return fs
}

// specFromFlags builds the spec from the flags; Spec.Validate checks it, so
// only what cannot be expressed in a Spec is checked here. Default
// protocols that cannot run at the chosen size are left out and returned
// in skipped, with the reason.
func specFromFlags(f *benchFlags, set map[string]bool) (s bench.Spec, skipped []string, err error) {
	s, err = specFromFlagsInner(f, set)
	if err != nil {
		return s, nil, err
	}
	if !set["protocols"] {
		var keep []string
		for _, p := range s.Protocols {
			info, err := paxos.LookupProtocol(p)
			if err == nil {
				err = info.Fits(s.Replicas)
			}
			if err != nil {
				skipped = append(skipped, strings.TrimPrefix(err.Error(), paxos.ErrConfig.Error()+": "))
				continue
			}
			keep = append(keep, p)
		}
		s.Protocols = keep
	}
	if err := s.Validate(); err != nil {
		return s, skipped, badFlagError{err}
	}
	return s, skipped, nil
}

func specFromFlagsInner(f *benchFlags, set map[string]bool) (bench.Spec, error) {
	s := bench.DefaultSpec()
	if f.cluster != "" {
		cl, err := node.LoadCluster(f.cluster)
		if err != nil {
			return s, flagErr("cluster", "%v", err)
		}
		if !set["mode"] {
			f.mode = bench.ModeLive
		}
		if !set["protocols"] {
			f.protocols, set["protocols"] = cl.Protocol, true
		}
		if !set["replicas"] {
			f.replicas = len(cl.Replicas)
		}
		if !set["rtt"] {
			f.rttName = "lan"
			if cl.RTT != "" {
				f.rttName = cl.RTT
			}
		}
		s.Cluster = f.cluster
		// The clients authenticate as paxos put and get do: a token from
		// --token-file, the cluster file's secret or TLS, or the token
		// paxos cluster keeps in its data root.
		o, err := clientOptions(cl, f.data, f.tokenFile, "", "", "")
		if err != nil {
			return s, flagErr("cluster", "%v", err)
		}
		s.ClientOptions = &client.Options{Token: o.Token, TLS: o.TLS}
	} else if set["data"] || set["token-file"] {
		return s, flagErr("data", "--data and --token-file name the credentials of a running cluster: they need --cluster")
	}
	s.Mode = f.mode
	if f.mode != bench.ModeSim && f.mode != bench.ModeLive {
		return s, flagErr("mode", "unknown mode %q, want sim or live", f.mode)
	}
	for _, p := range strings.Split(f.protocols, ",") {
		if p = strings.TrimSpace(p); p != "" {
			s.Protocols = append(s.Protocols, p)
		}
	}
	if !set["protocols"] {
		s.Protocols = defaultProtocols()
	}
	if len(s.Protocols) == 0 {
		return s, flagErr("protocols", "no protocol given (registered: %s)", strings.Join(paxos.Protocols(), ","))
	}
	if (set["replicas"] && f.replicas < 1) || f.replicas < 0 || f.replicas > quorum.MaxReplicas {
		return s, flagErr("replicas", "%d, want 1..%d (or leave it out for every site of the --rtt matrix)", f.replicas, quorum.MaxReplicas)
	}
	name := f.rttName
	if name == "lan" && f.replicas > 0 {
		name = "lan:" + strconv.Itoa(f.replicas)
	}
	m, err := rtt.Load(name)
	if err != nil {
		return s, flagErr("rtt", "%v", err)
	}
	if err := m.Validate(); err != nil {
		return s, flagErr("rtt", "%v", err)
	}
	s.RTTName, s.Sites, s.RTT = f.rttName, m.Sites, m.MS
	s.Replicas = f.replicas
	if s.Replicas == 0 {
		s.Replicas = m.N()
	}
	if s.Replicas > m.N() {
		return s, flagErr("replicas", "%d replicas but --rtt %s has %d sites (give a larger matrix)", s.Replicas, f.rttName, m.N())
	}
	site := func(flagName, v string) (int, error) {
		v = strings.TrimSpace(v)
		if i, ok := m.Index(v); ok && i < s.Replicas {
			return i, nil
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= s.Replicas {
			return 0, flagErr(flagName, "%q is not a site index 0..%d or a site name of the matrix", v, s.Replicas-1)
		}
		return i, nil
	}
	s.Conflicts = nil
	for _, c := range strings.Split(f.conflict, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(c), 64)
		if err != nil {
			return s, flagErr("conflict", "%q is not a percentage in 0..100", c)
		}
		s.Conflicts = append(s.Conflicts, v)
	}
	s.Clients = f.clients
	if f.clientSites != "all" {
		for _, c := range strings.Split(f.clientSites, ",") {
			i, err := site("client-sites", c)
			if err != nil {
				return s, err
			}
			s.ClientSites = append(s.ClientSites, i)
		}
	}
	s.Rate = f.rate
	ks, err := bench.ParseKeySpec(f.keys)
	if err != nil {
		return s, flagErr("keys", "%v", err)
	}
	s.Keys = ks
	if ks.Kind == "zipf" && !set["conflict"] {
		s.Conflicts = []float64{0}
	}
	s.ReadPct = f.reads
	s.Payload = f.payload
	s.Duration, s.Warmup = f.duration, f.warmup
	s.Runs = f.runs
	if strings.TrimSpace(f.leader) == "-1" {
		s.Leader = -1
	} else {
		l, err := site("leader", f.leader)
		if err != nil {
			return s, err
		}
		s.Leader = l
	}
	s.Q1, s.Q2 = f.q1, f.q2
	s.Batch, s.Thrifty, s.Rivals = f.batch, f.thrifty, f.rivals
	if !(f.cpuUS >= 0) {
		return s, flagErr("cpu-us", "%v is negative", f.cpuUS)
	}
	if !(f.jitterMS >= 0) {
		return s, flagErr("jitter-ms", "%v is negative", f.jitterMS)
	}
	s.CPU = time.Duration(f.cpuUS * float64(time.Microsecond))
	s.Jitter = time.Duration(f.jitterMS * float64(time.Millisecond))
	s.Seed = f.seed
	s.LiveNoSync = f.noSync
	s.Commands, s.MemoryEvery = f.commands, f.memoryEvery
	s.KeepSamples = f.samples
	s.Resamples = f.resamples
	if s.Mode == bench.ModeLive && s.Cluster == "" && !f.inProcess {
		exe := f.serveBin
		if exe == "" {
			var err error
			if exe, err = os.Executable(); err != nil {
				return s, fmt.Errorf("find this program to start replicas: %w", err)
			}
		}
		s.Serve = []string{exe, "serve"}
	}
	if s.Mode == bench.ModeLive && (f.cpuUS != 0 || f.jitterMS != 0) {
		return s, flagErr("cpu-us/--jitter-ms", "model the simulator's network; live mode measures the real machine (drop them)")
	}
	return s, nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressPrinter returns a Progress callback: a redrawn bar on a terminal,
// one line per run otherwise.
func progressPrinter(stderr io.Writer, prefix string) func(bench.Progress) {
	tty := isTerminal(stderr)
	return func(p bench.Progress) {
		what := p.Protocol
		if p.Label != "" {
			what = p.Label + " " + what
		}
		line := fmt.Sprintf("%s[%d/%d] %s conflict=%g%% run=%d: %d ops in %.1fs", prefix, p.Done, p.Total, what, p.ConflictPct, p.Run, p.Ops, p.Wall.Seconds())
		if tty {
			const width = 30
			n := p.Done * width / p.Total
			fmt.Fprintf(stderr, "\r\033[K[%s%s] %s", strings.Repeat("#", n), strings.Repeat(".", width-n), line)
			if p.Done == p.Total {
				fmt.Fprintln(stderr)
			}
			return
		}
		fmt.Fprintln(stderr, line)
	}
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

func runBench(args []string, stdout, stderr io.Writer) int {
	var f benchFlags
	fs := benchFlagSet("bench", &f, stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: paxos bench [flags]\n\nWith no flags: basic, multi, flexible and epaxos in the simulator on the\nepaxos2013 matrix at 0, 2, 25 and 100% conflicts; prints a per-site table\nand writes CSVs, run.json and plots to bench-out/.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "paxos bench: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	spec, skipped, err := specFromFlags(&f, set)
	if err != nil {
		fmt.Fprintf(stderr, "paxos bench: %v\n", err)
		return exitUsage
	}
	for _, why := range skipped {
		fmt.Fprintf(stderr, "paxos bench: skipping %s (name it in --protocols to make this an error)\n", why)
	}
	if f.parallel < 1 {
		fmt.Fprintf(stderr, "paxos bench: --parallel: %d, want at least 1\n", f.parallel)
		return exitUsage
	}
	spec.MemoryLog = stderr
	if f.cpuProfile != "" {
		stop, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "paxos bench: --cpuprofile: %v\n", err)
			return exitUsage
		}
		defer func() {
			if err := stop(); err != nil {
				fmt.Fprintf(stderr, "paxos bench: --cpuprofile: %v\n", err)
			}
		}()
	}
	ctx, cancel := signalContext()
	defer cancel()
	meta := bench.CollectMeta(append([]string{"paxos", "bench"}, args...))
	start := time.Now()
	ks, err := sweepCounts(f.sweepClients, spec)
	if err != nil {
		fmt.Fprintf(stderr, "paxos bench: %v\n", err)
		return exitUsage
	}
	var res *bench.Result
	for _, app := range strings.Split(f.app, ",") {
		for _, k := range ks {
			s := spec
			s.App = strings.TrimSpace(app)
			if len(ks) > 1 || f.sweepClients != "" {
				s.Clients, s.Label = k, fmt.Sprintf("K=%d", k)
			}
			if set["app"] {
				s.Label = strings.TrimSpace(s.App + " " + s.Label)
			}
			r, err := bench.Run(ctx, s, bench.Options{Parallel: f.parallel, Progress: progressPrinter(stderr, "")})
			if err != nil {
				fmt.Fprintf(stderr, "paxos bench: %v\n", err)
				if errors.Is(err, bench.ErrSpec) {
					return exitUsage
				}
				return exitFail
			}
			res = bench.Merge(res, r)
		}
	}
	meta.WallTime = time.Since(start).Round(time.Millisecond).String()
	bench.PrintTable(stdout, res.Summary)
	if f.sweepClients != "" {
		for _, p := range bench.Peaks(res.Summary) {
			fmt.Fprintf(stdout, "peak: %s N=%d conflict=%g%%: %.0f ops/s at %s (p50 %.2f ms, p99 %.2f ms, cpu %.1f µs/cmd)\n",
				p.Protocol, p.Replicas, p.ConflictPct, p.ThroughputOpsS, p.Label, p.Lat.P50, p.Lat.P99, p.CPUPerCmdUS)
		}
	}
	if err := bench.WriteDir(f.out, meta, res); err != nil {
		fmt.Fprintf(stderr, "paxos bench: %v\n", err)
		return exitFail
	}
	if !f.noPlots {
		names, err := bench.Plot(f.out)
		if err != nil {
			fmt.Fprintf(stderr, "paxos bench: plots: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "\nwrote %s/{summary,timeline,latency,faults}.csv, run.json and %d plots (SVG+PNG) in %s\n", f.out, len(names), meta.WallTime)
	} else {
		fmt.Fprintf(stdout, "\nwrote %s/{summary,timeline,latency,faults}.csv and run.json in %s\n", f.out, meta.WallTime)
	}
	return exitOK
}

// startCPUProfile starts profiling this process's CPU into a new file at
// path; stop ends the profile and closes the file.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create the profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start profiling: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("write the profile %s: %w", path, err)
		}
		return nil
	}, nil
}

// sweepCounts parses --sweep-clients (live mode only); without it, the one
// run uses --clients.
func sweepCounts(list string, spec bench.Spec) ([]int, error) {
	if list == "" {
		return []int{spec.Clients}, nil
	}
	if spec.Mode != bench.ModeLive {
		return nil, flagErr("sweep-clients", "needs --mode live (or --cluster)")
	}
	var ks []int
	for _, f := range strings.Split(list, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 {
			return nil, flagErr("sweep-clients", "%q is not a client count of at least 1", f)
		}
		ks = append(ks, k)
	}
	return ks, nil
}
