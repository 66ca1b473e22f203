package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/explore"
	"github.com/paxos-lab/paxos/quorum"
)

func init() {
	register("explore", "bounded schedule exploration (a small model checker): invariants after every step", runExplore)
}

// exploreFlags holds the parsed flags of `paxos explore`.
type exploreFlags struct {
	protocol   string
	mutant     string
	replicas   int
	commands   int
	depth      int
	walks      int
	budget     time.Duration
	seed       uint64
	crashes    int
	drops      int
	tickStep   int
	workers    int
	thrifty    bool
	noShrink   bool
	showWalked bool
}

func runExplore(args []string, stdout, stderr io.Writer) int {
	var f exploreFlags
	fs := flag.NewFlagSet("paxos explore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.protocol, "protocol", "epaxos", "protocol to explore (registered: "+strings.Join(paxos.Protocols(), ", ")+")")
	fs.StringVar(&f.mutant, "mutant", "", "explore a registered planted-bug variant instead of --protocol")
	fs.IntVar(&f.replicas, "replicas", 3, "cluster size N")
	fs.IntVar(&f.commands, "commands", 2, "puts on one key to propose")
	fs.IntVar(&f.depth, "depth", 200, "most actions per walk")
	fs.IntVar(&f.walks, "walks", 0, "walks to run (0 = until --budget)")
	fs.DurationVar(&f.budget, "budget", time.Minute, "wall-clock budget (0 = until --walks are done)")
	fs.Uint64Var(&f.seed, "seed", 1, "first walk's seed (with --walks 1: replay that walk)")
	fs.IntVar(&f.crashes, "crashes", 6, "most crashes per walk")
	fs.IntVar(&f.drops, "drops", 40, "most message drops per walk")
	fs.IntVar(&f.tickStep, "tick-step", 5, "ticks per tick action")
	fs.IntVar(&f.workers, "workers", 0, "walks run in parallel (0 = GOMAXPROCS)")
	fs.BoolVar(&f.thrifty, "thrifty", false, "thrifty replicas (phase 2 / PreAccept to the needed quorum only)")
	fs.BoolVar(&f.noShrink, "no-shrink", false, "print the schedule as walked, not shrunk")
	fs.BoolVar(&f.showWalked, "v", false, "also print the schedule as walked, before shrinking")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usageError(stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	cfg := explore.Config{
		Protocol:   f.protocol,
		Replicas:   f.replicas,
		Commands:   f.commands,
		Depth:      f.depth,
		Walks:      f.walks,
		Budget:     f.budget,
		Seed:       f.seed,
		MaxCrashes: f.crashes,
		MaxDrops:   f.drops,
		TickStep:   f.tickStep,
		Workers:    f.workers,
		NoShrink:   f.noShrink,
		Replica:    paxos.Config{Thrifty: f.thrifty, InitialLeader: -1},
	}
	name := f.protocol
	if f.mutant != "" {
		m, err := paxos.LookupMutant(f.mutant)
		if err != nil {
			return usageError(stderr, "--mutant: "+err.Error())
		}
		cfg.New, name = m.New, f.mutant
	} else if !registered(f.protocol) {
		return usageError(stderr, fmt.Sprintf("--protocol: unknown protocol %q; registered: %s", f.protocol, strings.Join(paxos.Protocols(), ", ")))
	}
	switch {
	case f.replicas < 1 || f.replicas > quorum.MaxReplicas:
		return usageError(stderr, fmt.Sprintf("--replicas %d: want 1..%d", f.replicas, quorum.MaxReplicas))
	case f.commands < 1 || f.depth < 1 || f.tickStep < 1:
		return usageError(stderr, "--commands, --depth and --tick-step must be at least 1")
	case f.walks < 0 || f.budget < 0 || f.crashes < 0 || f.drops < 0 || f.workers < 0:
		return usageError(stderr, "--walks, --budget, --crashes, --drops and --workers must not be negative")
	case f.walks == 0 && f.budget == 0:
		return usageError(stderr, "unbounded: set --walks, --budget or both")
	}
	// Zero means "default" in explore.Config; the flags mean zero.
	if f.crashes == 0 {
		cfg.MaxCrashes = -1
	}
	if f.drops == 0 {
		cfg.MaxDrops = -1
	}
	res, err := explore.Explore(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(stderr, "paxos explore: %s: %v\n", name, err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s n=%d commands=%d depth=%d: %d walks, %d steps, %d distinct states, %s\n",
		name, f.replicas, f.commands, f.depth, res.Walks, res.Steps, res.States, res.Elapsed.Round(time.Millisecond))
	v := res.Violation
	if v == nil {
		fmt.Fprintln(stdout, "no violation")
		return exitOK
	}
	fmt.Fprintf(stdout, "VIOLATION in walk %d (found after %s, %d actions walked, %d after shrinking):\n",
		v.Seed, v.FoundAfter.Round(time.Millisecond), len(v.Walked), len(v.Schedule))
	for _, msg := range v.Failures {
		fmt.Fprintf(stdout, "  %s\n", msg)
	}
	if f.showWalked {
		fmt.Fprintf(stdout, "schedule as walked:\n%s", explore.Format(v.Walked))
	}
	fmt.Fprintf(stdout, "schedule:\n%s", explore.Format(v.Schedule))
	fmt.Fprintf(stdout, "replay: %s\n", exploreReplay(f, v.Seed))
	return exitFail
}

// exploreReplay is the command line that takes one walk again.
func exploreReplay(f exploreFlags, seed uint64) string {
	parts := []string{"go run ./cmd/paxos explore"}
	if f.mutant != "" {
		parts = append(parts, "--mutant "+f.mutant)
	} else {
		parts = append(parts, "--protocol "+f.protocol)
	}
	parts = append(parts, fmt.Sprintf("--replicas %d --commands %d --depth %d", f.replicas, f.commands, f.depth),
		fmt.Sprintf("--crashes %d --drops %d --tick-step %d", f.crashes, f.drops, f.tickStep))
	if f.thrifty {
		parts = append(parts, "--thrifty")
	}
	parts = append(parts, fmt.Sprintf("--seed %d --walks 1 --budget 0", seed))
	return strings.Join(parts, " ")
}
