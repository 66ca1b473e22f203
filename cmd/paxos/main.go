// Command paxos runs, checks and benchmarks the consensus protocols of
// github.com/paxos-lab/paxos.
//
// Subcommands: check (randomized fault checking in the simulator); further
// subcommands register themselves in their own files.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	_ "github.com/paxos-lab/paxos/protocols"
)

// Exit codes shared by every subcommand.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and found a problem (e.g. a failing seed)
	exitUsage = 2 // bad flags or arguments
	// exitNotFound (4) is paxos get's answer for a key that holds no value;
	// 3 is exitLostStorage (serve.go).
	exitNotFound = 4
)

// subcommand is one verb of the command line.
type subcommand struct {
	summary string
	// run executes the verb with its arguments (after the verb itself) and
	// returns the process exit code.
	run func(args []string, stdout, stderr io.Writer) int
}

var subcommands = map[string]subcommand{}

// register adds a subcommand; each subcommand's file calls it from init.
func register(name, summary string, run func(args []string, stdout, stderr io.Writer) int) {
	if _, dup := subcommands[name]; dup {
		panic("paxos: subcommand registered twice: " + name)
	}
	subcommands[name] = subcommand{summary: summary, run: run}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: paxos <command> [flags]")
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, subcommands[n].summary)
	}
	fmt.Fprintln(w, "run 'paxos <command> -h' for a command's flags")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sc, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "paxos: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return sc.run(args[1:], stdout, stderr)
}
