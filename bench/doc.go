// Package bench is the benchmark harness of the paxos library: workloads,
// a runner that drives the registered protocols in the deterministic
// simulator, gonum statistics with bootstrap confidence intervals, CSV/JSON
// outputs, gonum/plot figures and the named experiments behind
// `paxos reproduce`.
//
// # Running
//
// A Spec describes what to measure (protocols, cluster, RTT matrix,
// workload, clients, durations, faults, seed); Run executes every
// (protocol, conflict rate) cell Spec.Runs times with seeds Seed, Seed+1, …
// and returns a Result. WriteDir writes summary.csv, timeline.csv,
// latency.csv, faults.csv and run.json; Plot draws the figures from those
// files alone, so `paxos plot DIR` can redraw them later. The same Spec and
// seed give byte-identical CSVs, whatever Options.Parallel is.
//
// In sim mode times are virtual (a 10 s run simulates 10 s of protocol
// time) and a seed decides everything. The simulator ticks replicas every
// Spec.Tick (10 ms); Run sets the election timeout to at least four of the
// matrix's largest round trips and the retry timeout to two, so leaders
// stay stable on WAN matrices (see Spec.Timeouts).
//
// In live mode (ModeLive) the replicas are real, TCP over loopback with
// each link delayed by half its RTT, a file WAL per replica (fsynced unless
// LiveNoSync); times are wall clock, and Spec.Clients counts the clients in
// all, spread over the client sites, so exactly that many requests are
// outstanding. With Spec.Serve (what `paxos bench` sets) the replicas are
// `paxos serve` processes driven through the client protocol, and their
// CPU time per command and peak memory are read from /proc; without it,
// one node (package node) per replica runs in this process and clients
// call their site's node (needed for crash faults, and commit latency is
// observable). With Spec.Cluster set, live mode instead measures replicas
// that are already running (`paxos serve`, possibly on several machines)
// through the client protocol; commit latency is then not observable.
//
// # What is measured
//
//   - Client latency: Return − Call of each operation whose Call falls in
//     the measured window [Warmup, Warmup+Duration) and that returned by its
//     end; operations still outstanding are counted in the pending column.
//     Open-loop clients (Spec.Rate > 0) are Poisson processes whose Call is
//     the intended send time, so queueing is not hidden by coordinated
//     omission. Client latency includes execution: it is the execution
//     latency at the client's replica.
//   - Commit latency: Commit − Call, where the replica the command was
//     proposed at reported it committed (Ready.Committed). For EPaxos it
//     differs from client latency when execution waits for dependencies.
//   - Throughput: operations returned within the measured window, per
//     second, averaged over runs; and, as a timeline, per 100 ms window over
//     the whole run (warm-up included, so faults show).
//   - Fast-path share: fast / (fast + slow) of the commits with a path.
//
// # Statistics
//
// Mean and standard deviation come from gonum/stat. Quantiles are gonum's
// stat.Empirical quantile: the smallest sample x with at least a fraction p
// of the samples at or below x; no interpolation. The 95% confidence
// intervals are percentile bootstraps, seeded from the spec's seed: with
// two or more runs the run is the resampling unit (the CI of the median is
// that of the per-run medians; runs are independent, samples within a run
// are not); with a single run the samples themselves are resampled, which
// understates the uncertainty of a strongly autocorrelated run — use
// --runs for honest intervals.
//
// # Workloads
//
// Conflict is the EPaxos workload (a shared hot key with probability c,
// else a key unique to the request); Zipf draws keys from a bounded zipf(θ)
// over K keys for any θ > 0 with an exact rejection-inversion sampler
// (ZipfGen). Both take a read percentage and a payload size.
package bench
