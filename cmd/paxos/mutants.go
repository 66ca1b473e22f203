package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/paxos-lab/paxos"
)

func init() {
	register("mutants", "run the catalog of planted bugs under paxos check; a kill table, exit 1 if a bug survives", runMutants)
}

// applyMutant handles `paxos check --mutant NAME`: it lists the catalog
// (NAME "list"), or sets the protocol from the mutant and applies the flags
// the mutant needs, under the flags given on the command line (which win).
// It returns the mutant's constructor, or done with the exit code when the
// command is finished or wrong.
func applyMutant(f *checkFlags, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (paxos.Constructor, int, bool) {
	if f.mutant == "" {
		return nil, 0, false
	}
	if f.mutant == "list" {
		listMutants(stdout)
		return nil, exitOK, true
	}
	m, err := paxos.LookupMutant(f.mutant)
	if err != nil {
		return nil, usageError(stderr, "--mutant: "+err.Error()+"; 'paxos check --mutant list' lists them"), true
	}
	explicit := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { explicit[fl.Name] = true })
	if explicit["protocol"] && f.protocol != m.Protocol {
		return nil, usageError(stderr, fmt.Sprintf("--mutant %s breaks protocol %s, not %s; leave out --protocol", m.Name, m.Protocol, f.protocol)), true
	}
	if m.App != "" {
		f.app = m.App
	}
	if m.Needs != "" {
		// The mutant's flags first, so that those on the command line win.
		if err := fs.Parse(append(strings.Fields(m.Needs), args...)); err != nil {
			return nil, exitUsage, true
		}
	}
	f.protocol = m.Protocol
	return m.New, 0, false
}

// mutantSizes are the cluster sizes at which the catalog runs m.
func mutantSizes(m paxos.Mutant) []int {
	if len(m.Sizes) > 0 {
		return m.Sizes
	}
	return []int{3, 5}
}

func listMutants(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "mutant\tprotocol\tsizes\tneeds\tbug")
	for _, m := range paxos.Mutants() {
		needs := m.Needs
		if needs == "" {
			needs = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.Protocol, joinInts(mutantSizes(m)), needs, m.Bug)
	}
	tw.Flush()
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// mutantRun is one row of the kill table: a mutant at one cluster size.
type mutantRun struct {
	m       paxos.Mutant
	n       int
	seeds   int    // seeds run
	killed  uint64 // the seed that caught the bug, 0 if none did
	verdict string // the first violation, or the setup error
	err     bool   // the run could not be set up
	took    time.Duration
	running atomic.Bool  // a worker is on it (for progress)
	at      atomic.Int64 // seeds started so far (for progress)
}

// runMutants runs every planted bug (or those named by --only) through
// `paxos check` seed by seed, stopping at the first seed that catches it.
func runMutants(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("paxos mutants", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seeds := fs.Int("seeds", 500, "seed budget per mutant and cluster size: a bug not caught within it SURVIVED")
	seedStart := fs.Uint64("seed-start", 1, "first seed")
	replicas := fs.Int("replicas", 0, "cluster size (0 = the sizes each mutant lists)")
	only := fs.String("only", "", "comma-separated mutant names or name prefixes (e.g. 'epaxos/,multi/lease-never-expires'); empty = all")
	skip := fs.String("skip", "", "comma-separated mutant names or name prefixes to leave out")
	faults := fs.String("faults", "all", "faults to inject, as for paxos check")
	jobs := fs.Int("jobs", 1, "mutants run in parallel")
	list := fs.Bool("list", false, "list the catalog and exit")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		return usageError(stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case *seeds < 1:
		return usageError(stderr, fmt.Sprintf("--seeds %d: want at least 1", *seeds))
	case *replicas < 0:
		return usageError(stderr, fmt.Sprintf("--replicas %d: want 0 (each mutant's sizes) or a cluster size", *replicas))
	case *jobs < 1:
		return usageError(stderr, fmt.Sprintf("--jobs %d: want at least 1", *jobs))
	}
	if *list {
		listMutants(stdout)
		return exitOK
	}
	var runs []*mutantRun
	matched := map[string]bool{}
	for _, m := range paxos.Mutants() {
		if sel := selected(m.Name, *only); sel == "" || *skip != "" && selected(m.Name, *skip) != "" {
			continue
		} else {
			matched[sel] = true
		}
		sizes := mutantSizes(m)
		if *replicas > 0 {
			sizes = []int{*replicas}
		}
		for _, n := range sizes {
			runs = append(runs, &mutantRun{m: m, n: n})
		}
	}
	if *only != "" {
		for _, p := range strings.Split(*only, ",") {
			if p = strings.TrimSpace(p); p != "" && !matched[p] {
				return usageError(stderr, fmt.Sprintf("--only: %q names no planted bug; 'paxos mutants --list' lists them", p))
			}
		}
	}
	if len(runs) == 0 {
		return usageError(stderr, "no planted bug selected (check --only and --skip; paxos mutants --list lists them)")
	}

	// Rows are printed in catalog order as they finish.
	done := make([]chan struct{}, len(runs))
	for i := range done {
		done[i] = make(chan struct{})
	}
	// Progress on stderr: a bar on a terminal, otherwise a line at most
	// every few seconds, saying which bugs are running at which seed.
	var pmu sync.Mutex
	progress := newCounter(stderr, "runs", len(runs))
	caught, lost := 0, 0
	note := func() string {
		var on []string
		for _, r := range runs {
			if r.running.Load() {
				on = append(on, fmt.Sprintf("%s n=%d seed %d/%d", r.m.Name, r.n, r.at.Load(), *seeds))
			}
		}
		s := fmt.Sprintf("%d caught, %d survived", caught, lost)
		if len(on) > 0 {
			s += "; running " + strings.Join(on, ", ")
		}
		return s
	}
	stopTicker := make(chan struct{})
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopTicker:
				return
			case <-t.C:
				pmu.Lock()
				progress.show(note())
				pmu.Unlock()
			}
		}
	}()
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < *jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r := runs[i]
				r.running.Store(true)
				killMutant(r, *seeds, *seedStart, *faults)
				r.running.Store(false)
				pmu.Lock()
				if r.killed != 0 {
					caught++
				} else if !r.err {
					lost++
				}
				progress.step(note())
				pmu.Unlock()
				close(done[i])
			}
		}()
	}
	go func() {
		for i := range runs {
			work <- i
		}
		close(work)
	}()

	fmt.Fprintf(stdout, "planted bugs: %d runs, up to %d seeds each from seed %d, faults %s\n", len(runs), *seeds, *seedStart, *faults)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bug\tprotocol\tN\tseeds needed\tseconds\tfirst violation")
	tw.Flush()
	survived, broken := 0, 0
	start := time.Now()
	for i, r := range runs {
		<-done[i]
		needed := fmt.Sprint(uint64(r.killed) - *seedStart + 1)
		switch {
		case r.err:
			needed = "ERROR"
			broken++
		case r.killed == 0:
			needed = "SURVIVED"
			survived++
		}
		pmu.Lock()
		progress.clear() // the row starts on a clean line when both go to a terminal
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.1f\t%s\n", r.m.Name, r.m.Protocol, r.n, needed, r.took.Seconds(), shorten(r.verdict, 100))
		tw.Flush()
		pmu.Unlock()
	}
	wg.Wait()
	close(stopTicker)
	<-tickerDone
	progress.finish()
	fmt.Fprintf(stdout, "%d of %d caught, %d survived %d seeds, %d could not run (%.0f s)\n",
		len(runs)-survived-broken, len(runs), survived, *seeds, broken, time.Since(start).Seconds())
	switch {
	case broken > 0:
		return exitUsage
	case survived > 0:
		return exitFail
	}
	return exitOK
}

// selected returns the entry of the comma-separated list only that selects
// name (an exact name, or a prefix ending in "/"), "*" when only is empty,
// and "" when none does.
func selected(name, only string) string {
	if only == "" {
		return "*"
	}
	for _, p := range strings.Split(only, ",") {
		p = strings.TrimSpace(p)
		if p != "" && (p == name || strings.HasSuffix(p, "/") && strings.HasPrefix(name, p)) {
			return p
		}
	}
	return ""
}

// killMutant runs `paxos check --mutant` one seed at a time until a seed
// fails or the budget is spent, exactly as a user would run it, so the
// catalog sees every fault and option the checker has.
func killMutant(r *mutantRun, budget int, seedStart uint64, faults string) {
	start := time.Now()
	defer func() { r.took = time.Since(start) }()
	for i := 0; i < budget; i++ {
		seed := seedStart + uint64(i)
		r.at.Store(int64(i + 1))
		var out, errb bytes.Buffer
		code := runCheck([]string{"--mutant", r.m.Name, "--replicas", strconv.Itoa(r.n), "--seeds", "1",
			"--seed-start", strconv.FormatUint(seed, 10), "--faults", faults}, &out, &errb)
		r.seeds = i + 1
		switch code {
		case exitOK:
			continue
		case exitFail:
			r.killed = seed
			r.verdict = firstLine(out.String(), "FAIL ")
			return
		default:
			r.err = true
			r.verdict = strings.TrimSpace(errb.String())
			return
		}
	}
}

// firstLine returns the first line of s that starts with prefix, without it.
func firstLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimPrefix(l, prefix)
		}
	}
	return ""
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
