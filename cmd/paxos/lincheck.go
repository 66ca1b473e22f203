package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/paxos-lab/paxos/check"
)

func init() {
	register("lincheck", "decide whether JSON-lines history files (as written by check --history-dir) are linearizable", runLincheck)
}

func runLincheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("paxos lincheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", time.Minute, "give up on one file after this long (reported as undecided)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: paxos lincheck [--timeout D] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	passed, failed := 0, 0
	for _, path := range fs.Args() {
		ops, err := check.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stdout, "FAIL %s: %v\n", path, err)
			failed++
			continue
		}
		v, err := check.CheckLinearizable(ops, *timeout)
		if err != nil || v != check.Linearizable {
			msg := v.String()
			if err != nil {
				msg = err.Error()
			}
			fmt.Fprintf(stdout, "FAIL %s: %s\n", path, msg)
			failed++
			continue
		}
		passed++
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return exitFail
	}
	return exitOK
}
