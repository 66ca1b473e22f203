package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
	proposals  int
	workers    int
	thrifty    bool
	noShrink   bool
	showWalked bool
	out        string
	replay     string
	q1, q2     int
	mode       string
}

func runExplore(args []string, stdout, stderr io.Writer) int {
	var f exploreFlags
	fs := flag.NewFlagSet("paxos explore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.protocol, "protocol", "epaxos", "protocol to explore (registered: "+strings.Join(paxos.Protocols(), ", ")+")")
	fs.StringVar(&f.mutant, "mutant", "", "explore a registered planted-bug variant instead of --protocol")
	fs.IntVar(&f.replicas, "replicas", 3, "cluster size N")
	fs.IntVar(&f.commands, "commands", 2, "puts on one key to propose")
	fs.StringVar(&f.mode, "mode", "episodes", "how walks draw their steps: episodes (run a group of replicas for a while, deliver part of a broadcast, crash, restart, propose) or steps (one delivery, tick, crash... at a time)")
	fs.IntVar(&f.depth, "depth", 0, "most actions per walk (0 = the mode's default: 1500 for episodes, 200 for steps)")
	fs.IntVar(&f.walks, "walks", 0, "walks to run (0 = until --budget)")
	fs.DurationVar(&f.budget, "budget", time.Minute, "wall-clock budget (0 = until --walks are done)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the first walk (walk k uses seed+k)")
	fs.IntVar(&f.crashes, "crashes", 6, "most crashes per walk")
	fs.IntVar(&f.drops, "drops", -1, "most message drops per walk (-1 = the mode's default: 400 for episodes, 40 for steps)")
	fs.IntVar(&f.tickStep, "tick-step", 0, "ticks per tick action (0 = the mode's default: 10 for episodes, 5 for steps)")
	fs.IntVar(&f.proposals, "proposals", 1, "times each command may be proposed (2: a client retries at another replica)")
	fs.IntVar(&f.workers, "workers", 0, "walks run in parallel (0 = GOMAXPROCS)")
	fs.IntVar(&f.q1, "q1", 0, "phase-1 quorum size (with --q2: counting quorums, q1+q2 must exceed N)")
	fs.IntVar(&f.q2, "q2", 0, "phase-2 quorum size (with --q1)")
	fs.BoolVar(&f.thrifty, "thrifty", false, "thrifty replicas (phase 2 / PreAccept to the needed quorum only)")
	fs.BoolVar(&f.noShrink, "no-shrink", false, "print the schedule as walked, not shrunk")
	fs.BoolVar(&f.showWalked, "v", false, "also print the schedule as walked, before shrinking")
	fs.StringVar(&f.out, "out", "explore-violation.json", "on a violation, write its schedule to this file for --replay")
	fs.StringVar(&f.replay, "replay", "", "replay the schedule in FILE (written by --out) instead of exploring")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usageError(stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if f.replay != "" {
		return replaySchedule(f.replay, stdout, stderr)
	}
	var mode explore.Mode
	switch f.mode {
	case "episodes":
		mode = explore.Episodes
	case "steps":
		mode = explore.Steps
	default:
		return usageError(stderr, fmt.Sprintf("--mode %q: want episodes or steps", f.mode))
	}
	cfg := explore.Config{
		Mode:         mode,
		Protocol:     f.protocol,
		Replicas:     f.replicas,
		Commands:     f.commands,
		Depth:        f.depth,
		Walks:        f.walks,
		Budget:       f.budget,
		Seed:         f.seed,
		MaxCrashes:   f.crashes,
		MaxDrops:     f.drops,
		TickStep:     f.tickStep,
		MaxProposals: f.proposals,
		Workers:      f.workers,
		NoShrink:     f.noShrink,
		Replica:      paxos.Config{Thrifty: f.thrifty, InitialLeader: -1},
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
	case f.commands < 1 || f.proposals < 1:
		return usageError(stderr, "--commands and --proposals must be at least 1")
	case f.walks < 0 || f.budget < 0 || f.crashes < 0 || f.drops < -1 || f.workers < 0 || f.depth < 0 || f.tickStep < 0:
		return usageError(stderr, "--walks, --budget, --crashes, --depth, --tick-step and --workers must not be negative (--drops: -1 for the default)")
	case f.walks == 0 && f.budget == 0:
		return usageError(stderr, "unbounded: set --walks, --budget or both")
	case (f.q1 == 0) != (f.q2 == 0):
		return usageError(stderr, "--q1 and --q2 go together")
	}
	if f.q1 != 0 {
		q, err := quorum.NewCounting(f.replicas, f.q1, f.q2)
		if err != nil {
			return usageError(stderr, err.Error())
		}
		cfg.Replica.Quorums = q
	}
	// Zero means "default" in explore.Config; the flags mean zero.
	if f.crashes == 0 {
		cfg.MaxCrashes = -1
	}
	switch f.drops {
	case 0:
		cfg.MaxDrops = -1
	case -1:
		cfg.MaxDrops = 0 // the mode's default
	}
	// The file records the tick step the schedule ran with.
	tickStep := f.tickStep
	if tickStep == 0 {
		tickStep = 10
		if mode == explore.Steps {
			tickStep = 5
		}
	}
	cfg.Progress = exploreProgress(stderr, f.budget)
	res, err := explore.Explore(context.Background(), cfg)
	cfg.Progress(explore.Progress{}) // ends a line redrawn on a terminal
	if err != nil {
		fmt.Fprintf(stderr, "paxos explore: %s: %v\n", name, err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s n=%d commands=%d mode=%s: %d walks, %d steps, %d distinct states, %s\n",
		name, f.replicas, f.commands, f.mode, res.Walks, res.Steps, res.States, res.Elapsed.Round(time.Millisecond))
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
	if f.out != "" {
		file := explore.File{Protocol: f.protocol, Mutant: f.mutant, Replicas: f.replicas, Commands: f.commands,
			TickStep: tickStep, Thrifty: f.thrifty, Seed: v.Seed, Failures: v.Failures, Actions: v.Schedule}
		if f.mutant != "" {
			file.Protocol = ""
		}
		if err := writeSchedule(f.out, file); err != nil {
			fmt.Fprintf(stderr, "paxos explore: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "replay: go run ./cmd/paxos explore --replay %s\n", f.out)
	}
	return exitFail
}

// exploreProgress returns a Progress callback that reports on stderr once
// the run has lasted progressAfter: on a terminal, one line redrawn every
// second; otherwise a plain line every progressEvery. Called with a zero
// Progress, it ends a redrawn line.
func exploreProgress(stderr io.Writer, budget time.Duration) func(explore.Progress) {
	tty := isTerminal(stderr)
	var last time.Duration
	drawn, printed := false, false
	return func(p explore.Progress) {
		if p.Elapsed == 0 {
			if drawn {
				fmt.Fprintln(stderr)
				drawn = false
			}
			return
		}
		if p.Elapsed < progressAfter || !tty && printed && p.Elapsed-last < progressEvery {
			return
		}
		last, printed = p.Elapsed, true
		line := fmt.Sprintf("%d walks, %d steps, %d states, %d cells, %s", p.Walks, p.Steps, p.States, p.Cells, p.Elapsed.Round(time.Second))
		if budget > 0 {
			line += " of " + budget.String()
		}
		if tty {
			fmt.Fprintf(stderr, "\r\033[K%s", line)
			drawn = true
			return
		}
		fmt.Fprintln(stderr, line)
	}
}

// progressAfter is how long `paxos explore` runs before it reports
// progress; progressEvery how often it then writes a plain line.
const progressAfter, progressEvery = 3 * time.Second, 5 * time.Second

func writeSchedule(path string, file explore.File) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := explore.WriteFile(fh, file); err != nil {
		fh.Close()
		return fmt.Errorf("--out %s: %w", path, err)
	}
	return fh.Close()
}

// replaySchedule replays a schedule file and prints what it shows: exit 1
// when it still breaks an invariant, 0 when it no longer does.
func replaySchedule(path string, stdout, stderr io.Writer) int {
	fh, err := os.Open(path)
	if err != nil {
		return usageError(stderr, "--replay: "+err.Error())
	}
	defer fh.Close()
	file, err := explore.ReadFile(fh)
	if err != nil {
		return usageError(stderr, fmt.Sprintf("--replay %s: %v", path, err))
	}
	cfg := explore.Config{Protocol: file.Protocol, Replicas: file.Replicas, Commands: file.Commands, TickStep: file.TickStep,
		MaxCrashes: len(file.Actions) + 1, MaxDrops: len(file.Actions) + 1, MaxProposals: len(file.Actions) + 1,
		Replica: paxos.Config{Thrifty: file.Thrifty, InitialLeader: -1}}
	name := file.Protocol
	if file.Mutant != "" {
		m, err := paxos.LookupMutant(file.Mutant)
		if err != nil {
			return usageError(stderr, fmt.Sprintf("--replay %s: %v", path, err))
		}
		cfg.New, name = m.New, file.Mutant
	}
	fails, err := explore.Replay(cfg, file.Seed, file.Actions)
	if err != nil {
		fmt.Fprintf(stderr, "paxos explore: replay %s: %v\n", path, err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s n=%d: replayed %d actions from %s\n%s", name, file.Replicas, len(file.Actions), path, explore.Format(file.Actions))
	if len(fails) == 0 {
		fmt.Fprintln(stdout, "no violation")
		return exitOK
	}
	fmt.Fprintln(stdout, "VIOLATION:")
	for _, msg := range fails {
		fmt.Fprintf(stdout, "  %s\n", msg)
	}
	return exitFail
}
