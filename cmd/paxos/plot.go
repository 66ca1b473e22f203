package main

import (
	"fmt"
	"io"

	"github.com/paxos-lab/paxos/bench"
)

func init() {
	register("plot", "redraw the figures of a bench or reproduce output directory from its CSVs", runPlot)
}

func runPlot(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: paxos plot DIR\n\nRedraws every figure (SVG and PNG) in DIR from DIR/summary.csv,\ntimeline.csv, latency.csv and faults.csv, as written by paxos bench --out DIR\nor paxos reproduce (e.g. paxos plot results/epaxos-wan).")
		if len(args) == 1 {
			return exitOK
		}
		return exitUsage
	}
	names, err := bench.Plot(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "paxos plot: %v\n", err)
		return exitFail
	}
	for _, n := range names {
		fmt.Fprintf(stdout, "%s/%s.svg %s/%s.png\n", args[0], n, args[0], n)
	}
	return exitOK
}
