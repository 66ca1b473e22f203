package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/paxos-lab/paxos/bench"
)

func init() {
	register("reproduce", "rerun a named experiment (or all) and write results/NAME/", runReproduce)
}

func runReproduce(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reproduce", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "results", "root directory; each experiment writes OUT/NAME/")
	parallel := fs.Int("parallel", runtime.NumCPU(), "simulations run at once (results do not depend on it)")
	live := fs.Bool("live", false, "with all: also run the live experiments, which measure this machine in wall-clock time and change from run to run")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: paxos reproduce NAME|all [--out results/] [--live]\n\nexperiments (all runs every one not marked live):")
		for _, e := range bench.Experiments() {
			mark := ""
			if e.Live {
				mark = "[live] "
			}
			fmt.Fprintf(stderr, "  %-25s %s%s\n", e.Name, mark, e.About)
		}
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	// Accept the name before or after the flags.
	var names []string
	var rest []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") && (len(rest) == 0 || !strings.HasPrefix(rest[len(rest)-1], "-") || strings.Contains(rest[len(rest)-1], "=")) {
			names = append(names, a)
			continue
		}
		rest = append(rest, a)
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	names = append(names, fs.Args()...)
	if len(names) != 1 {
		fs.Usage()
		return exitUsage
	}
	if *parallel < 1 {
		fmt.Fprintf(stderr, "paxos reproduce: --parallel: %d, want at least 1\n", *parallel)
		return exitUsage
	}
	var exps []bench.Experiment
	if names[0] == "all" {
		for _, e := range bench.Experiments() {
			if e.Live && !*live {
				fmt.Fprintf(stderr, "paxos reproduce: skipping %s (wall-clock on this machine; run it by name or add --live)\n", e.Name)
				continue
			}
			exps = append(exps, e)
		}
	} else {
		e, err := bench.FindExperiment(names[0])
		if err != nil {
			fmt.Fprintf(stderr, "paxos reproduce: %v\n", err)
			return exitUsage
		}
		exps = []bench.Experiment{e}
	}
	ctx, cancel := signalContext()
	defer cancel()
	code := exitOK
	for _, e := range exps {
		meta := bench.CollectMeta(append([]string{"paxos", "reproduce"}, args...))
		start := time.Now()
		fmt.Fprintf(stderr, "== %s\n", e.Name)
		rep, err := bench.RunExperiment(ctx, e, *out, bench.Options{Parallel: *parallel, Progress: progressPrinter(stderr, e.Name+" ")}, meta)
		if err != nil {
			fmt.Fprintf(stderr, "paxos reproduce %s: %v\n", e.Name, err)
			code = exitFail
			if ctx.Err() != nil {
				return code
			}
			continue
		}
		fmt.Fprintf(stdout, "%s: %d runs, %d plots in %s, wall time %s", e.Name, rep.Runs, len(rep.Plots), rep.Dir, time.Since(start).Round(time.Millisecond))
		if len(rep.Skipped) > 0 {
			fmt.Fprintf(stdout, " (not run, protocol not registered: %s)", strings.Join(rep.Skipped, ", "))
		}
		fmt.Fprintln(stdout)
	}
	return code
}
