// Package bench is the benchmark harness of the paxos library: workloads,
// a runner that drives the registered protocols in the deterministic
// simulator, gonum statistics with bootstrap confidence intervals, CSV/JSON
// outputs, gonum/plot figures and the named experiments behind
// `paxos reproduce`.
//
// A run is described by a Spec and executed by Run, which returns a Result
// holding every latency sample, the throughput timeline and per-site
// summaries. Result.WriteDir writes summary.csv, timeline.csv, latency.csv
// and run.json; Plot draws the figures from those files, so figures can be
// redrawn later from the CSVs alone (`paxos plot DIR`).
//
// Times in sim mode are virtual: a run of 10 s simulates 10 s of protocol
// time, however long it takes on the host.
package bench
