package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/quorum"
)

// Modes a Spec can run in.
const (
	ModeSim  = "sim"  // the deterministic simulator (virtual time)
	ModeLive = "live" // real replicas in this process over loopback TCP with emulated WAN delay
)

// ErrSpec is wrapped by every error about an invalid Spec. Its messages
// name the command-line flag that sets the offending field.
var ErrSpec = errors.New("invalid benchmark spec")

// Fault is an event injected into every run at a virtual time.
type Fault struct {
	// At is the time from the start of the run (warm-up included).
	At time.Duration `json:"at"`
	// Kind is "crash" or "restart".
	Kind string `json:"kind"`
	// Replica is the replica id, or LeaderReplica for the spec's leader.
	Replica int `json:"replica"`
}

// LeaderReplica in a Fault means "the spec's Leader".
const LeaderReplica = -1

// Spec describes a benchmark: a set of protocols and conflict rates, each
// pair run Runs times (seeds Seed, Seed+1, ...). The zero value is not
// usable; start from DefaultSpec.
//
// Mode selects the driver: the simulator, or live replicas in this process
// (TCP over loopback, WAN delay emulated per link from RTT, a file WAL per
// replica). Jitter and CPU are simulator-only. Mode is recorded in every
// output row.
type Spec struct {
	// Label names this configuration within an experiment (e.g. "batch=10");
	// it becomes the label column of every CSV.
	Label string `json:"label,omitempty"`
	// Mode is ModeSim or ModeLive.
	Mode string `json:"mode"`
	// App is the replicated application the clients drive: AppKV (or
	// empty) the key-value store with the Conflict or Zipf workload,
	// AppLockService the lock service with the Locks workload (over the
	// same key distribution; Payload unused).
	App string `json:"app,omitempty"`
	// Protocols are registered protocol names (paxos.Protocols()).
	Protocols []string `json:"protocols"`
	// Replicas is the cluster size. The RTT matrix must have at least this
	// many sites; the first Replicas sites are used.
	Replicas int `json:"replicas"`
	// RTTName is the preset name or file the matrix came from (recorded only).
	RTTName string `json:"rtt_name"`
	// Sites names the matrix's sites; nil means "0", "1", ...
	Sites []string `json:"sites,omitempty"`
	// RTT is the round-trip time matrix in milliseconds (RTT[i][j] between
	// sites i and j). Nil means a uniform 1 ms LAN.
	RTT [][]float64 `json:"rtt_ms,omitempty"`
	// Conflicts are the conflict percentages to run (conflict key mode).
	// With zipf keys, only the first is used for labelling and it is
	// usually 0.
	Conflicts []float64 `json:"conflicts_pct"`
	// Keys chooses the key distribution.
	Keys KeySpec `json:"keys"`
	// ReadPct is the percentage of commands that are reads (Get).
	ReadPct float64 `json:"reads_pct"`
	// Payload is the value size of a Put, in bytes.
	Payload int `json:"payload_bytes"`
	// Clients is the number of closed-loop clients (each with one request
	// outstanding) per client site in sim mode, and in all in live mode
	// (spread over the client sites), so that a live run has exactly
	// Clients requests outstanding.
	Clients int `json:"clients_per_site"`
	// ClientSites lists the sites that host clients; nil means all.
	ClientSites []int `json:"client_sites,omitempty"`
	// Rate, if positive, makes clients open loop with Poisson arrivals at
	// Rate operations per second per site (split evenly across the site's
	// clients); latency then counts from the intended send time. Zero means
	// closed loop: each client keeps one request outstanding.
	Rate float64 `json:"rate_ops_s_per_site"`
	// Duration is the measured time after Warmup.
	Duration time.Duration `json:"duration"`
	// Warmup is run first and discarded.
	Warmup time.Duration `json:"warmup"`
	// Runs repeats every (protocol, conflict) with seeds Seed, Seed+1, ...
	Runs int `json:"runs"`
	// Leader is the initial leader of leader-based protocols; -1 elects one.
	Leader int `json:"leader"`
	// Q1 and Q2 are counting-quorum sizes for Flexible Paxos (0 = majority).
	Q1 int `json:"q1,omitempty"`
	Q2 int `json:"q2,omitempty"`
	// Batch is the most commands per slot or instance.
	Batch int `json:"batch"`
	// Thrifty sends phase-2 messages only to a quorum, nearest first.
	Thrifty bool `json:"thrifty"`
	// CPU is the processing cost of one message at a replica.
	CPU time.Duration `json:"cpu_per_msg"`
	// Jitter is the largest random extra one-way delay of a message.
	Jitter time.Duration `json:"jitter"`
	// Seed seeds the first run.
	Seed uint64 `json:"seed"`
	// Tick is the simulator's logical tick (default 10 ms).
	Tick time.Duration `json:"tick"`
	// ElectionTicks is the base election timeout in ticks; 0 chooses one
	// well above the largest RTT so leaders stay stable.
	ElectionTicks int `json:"election_ticks"`
	// Faults are injected into every run.
	Faults []Fault `json:"faults,omitempty"`
	// Resamples is the number of bootstrap resamples for confidence
	// intervals (default DefaultResamples).
	Resamples int `json:"bootstrap_resamples"`
	// Timeline records throughput in Window-wide buckets (default 100 ms).
	Window time.Duration `json:"timeline_window"`
	// Cluster, in live mode, is a cluster file (see node.LoadCluster) of
	// replicas that are already running, possibly on other machines: the
	// clients run here against them instead of replicas started in this
	// process.
	Cluster string `json:"cluster,omitempty"`
	// ClientOptions, with Cluster, are the credentials the clients present
	// to its client ports (client.Options.Token, TLS); nil means what the
	// cluster file names (node.Cluster.ClientOptions). Not recorded in
	// run.json.
	ClientOptions *client.Options `json:"-"`
	// Serve, in live mode without Cluster, is the command that runs one
	// replica (`paxos serve`: the program and its leading arguments); the
	// replicas are then started as separate processes, on loopback ports
	// with a fresh data directory each, and their CPU time per command and
	// peak memory are measured. Empty runs them in this process (needed
	// for crash faults).
	Serve []string `json:"serve,omitempty"`
	// Rivals, in sim mode with conflict keys, makes the conflict
	// percentage a collision rate: every command's key is unique to it, and
	// with probability Conflicts[i]/100 a rival command writing the same
	// key is proposed at the same instant at the replica nearest to the
	// client's site (by RTT). The two proposals race for the same log slot
	// (Fast Paxos), interfere (EPaxos) or are ordered by the leader
	// (Multi-Paxos). Rival commands are not measured; they only load the
	// cluster.
	Rivals bool `json:"rivals,omitempty"`
	// LiveNoSync skips fsync in live mode's WALs (measures the protocol
	// without the disk; unsafe for real deployments).
	LiveNoSync bool `json:"live_no_sync,omitempty"`
	// Commands, in live mode, ends a run once this many commands have
	// completed (warm-up included) or at Warmup + Duration, whichever
	// comes first; throughput is then over the measured time the run
	// had. 0: no limit.
	Commands int `json:"commands,omitempty"`
	// MemoryEvery, in live mode with replicas started as processes
	// (Serve), reads every replica's resident set (VmRSS and VmHWM from
	// /proc) each time this many more commands have completed, and once
	// at the end of the run: Result.Memory, memory.csv. 0: no samples.
	MemoryEvery int `json:"memory_every,omitempty"`
	// MemoryLog, when set, gets a line per memory sample as it is taken.
	MemoryLog io.Writer `json:"-"`
	// KeepSamples keeps every latency sample in the Result (for tests and
	// custom analysis); CSVs hold histograms either way.
	KeepSamples bool `json:"-"`
}

// DefaultSpec returns the defaults of `paxos bench`: every given protocol,
// 5 replicas on a uniform LAN, conflict 0, 10 closed-loop clients per site,
// 16-byte puts, 10 s measured after 2 s warm-up, one run, leader 0.
func DefaultSpec() Spec {
	return Spec{
		Mode:      ModeSim,
		Replicas:  5,
		RTTName:   "lan",
		Conflicts: []float64{0},
		Keys:      KeySpec{Kind: "conflict"},
		Payload:   16,
		Clients:   10,
		Duration:  10 * time.Second,
		Warmup:    2 * time.Second,
		Runs:      1,
		Leader:    0,
		Batch:     1,
		Seed:      1,
		Tick:      10 * time.Millisecond,
		Resamples: DefaultResamples,
		Window:    100 * time.Millisecond,
	}
}

// CheckPercent refuses a percentage outside 0..100 (or NaN): the one check
// behind every conflict and read percentage of the harness and the command
// line.
func CheckPercent(v float64) error {
	if !(v >= 0 && v <= 100) {
		return fmt.Errorf("%v is not a percentage in 0..100", v)
	}
	return nil
}

func specErr(flag, format string, args ...any) error {
	return fmt.Errorf("%w: --%s: %s", ErrSpec, flag, fmt.Sprintf(format, args...))
}

// Validate checks the spec and names the flag of the first problem.
func (s *Spec) Validate() error {
	switch s.Mode {
	case ModeSim, ModeLive:
	default:
		return specErr("mode", "unknown mode %q, want sim or live", s.Mode)
	}
	if len(s.Protocols) == 0 {
		return specErr("protocols", "no protocol given")
	}
	if s.App != "" && s.App != AppKV && s.App != AppLockService {
		return specErr("app", "unknown application %q, want %s or %s", s.App, AppKV, AppLockService)
	}
	for _, p := range s.Protocols {
		if _, err := paxos.LookupProtocol(p); err != nil {
			return specErr("protocols", "%v", err)
		}
	}
	if s.Rivals && (s.Mode != ModeSim || s.Keys.Kind == "zipf" || s.Replicas < 2) {
		return specErr("rivals", "rival proposals need --mode sim, conflict keys and at least 2 replicas")
	}
	if (s.Commands != 0 || s.MemoryEvery != 0) && s.Mode != ModeLive {
		return specErr("commands", "--commands and --memory-every need --mode live")
	}
	if s.Commands < 0 || s.MemoryEvery < 0 {
		return specErr("commands", "--commands %d and --memory-every %d must not be negative", s.Commands, s.MemoryEvery)
	}
	if s.Cluster != "" && s.Mode != ModeLive {
		return specErr("cluster", "an existing cluster can only be measured with --mode live")
	}
	if s.Replicas < 1 || s.Replicas > quorum.MaxReplicas {
		return specErr("replicas", "%d replicas, want 1..%d", s.Replicas, quorum.MaxReplicas)
	}
	for _, p := range s.Protocols {
		info, _ := paxos.LookupProtocol(p)
		if err := info.Fits(s.Replicas); err != nil {
			return specErr("replicas", "%v", err)
		}
	}
	if s.RTT != nil {
		if len(s.RTT) < s.Replicas {
			return specErr("replicas", "%d replicas but the RTT matrix %q has only %d sites", s.Replicas, s.RTTName, len(s.RTT))
		}
		for i, row := range s.RTT {
			if len(row) != len(s.RTT) {
				return specErr("rtt", "matrix row %d has %d values, want %d (square)", i, len(row), len(s.RTT))
			}
			for _, v := range row {
				if !(v >= 0) || math.IsInf(v, 0) {
					return specErr("rtt", "matrix row %d has RTT %v, want finite and non-negative", i, v)
				}
			}
		}
		if s.Sites != nil && len(s.Sites) != len(s.RTT) {
			return specErr("rtt", "%d site names for %d sites", len(s.Sites), len(s.RTT))
		}
	}
	if len(s.Conflicts) == 0 {
		return specErr("conflict", "no conflict percentage given")
	}
	for _, c := range s.Conflicts {
		if err := CheckPercent(c); err != nil {
			return specErr("conflict", "%v", err)
		}
	}
	switch s.Keys.Kind {
	case "conflict":
	case "zipf":
		if !(s.Keys.Theta > 0) || s.Keys.Keys < 1 {
			return specErr("keys", "zipf needs a positive exponent and key count")
		}
	default:
		return specErr("keys", "unknown key mode %q, want conflict or zipf:THETA", s.Keys.Kind)
	}
	if err := CheckPercent(s.ReadPct); err != nil {
		return specErr("reads", "%v", err)
	}
	if s.Payload < 0 {
		return specErr("payload", "%d bytes is negative", s.Payload)
	}
	if s.Clients < 1 {
		return specErr("clients", "%d clients per site, want at least 1", s.Clients)
	}
	for _, c := range s.ClientSites {
		if c < 0 || c >= s.Replicas {
			return specErr("client-sites", "site %d outside 0..%d", c, s.Replicas-1)
		}
	}
	if !(s.Rate >= 0) || math.IsInf(s.Rate, 0) {
		return specErr("rate", "%v ops/s, want 0 (closed loop) or a positive rate", s.Rate)
	}
	if s.Duration <= 0 {
		return specErr("duration", "%v, want a positive duration", s.Duration)
	}
	if s.Warmup < 0 {
		return specErr("warmup", "%v is negative", s.Warmup)
	}
	if s.Runs < 1 {
		return specErr("runs", "%d, want at least 1", s.Runs)
	}
	if s.Leader < -1 || s.Leader >= s.Replicas {
		return specErr("leader", "%d outside 0..%d (or -1 to elect)", s.Leader, s.Replicas-1)
	}
	if s.Q1 < 0 || s.Q1 > s.Replicas || s.Q2 < 0 || s.Q2 > s.Replicas {
		return specErr("q1/--q2", "quorum sizes %d/%d outside 1..%d", s.Q1, s.Q2, s.Replicas)
	}
	if (s.Q1 > 0 || s.Q2 > 0) && s.quorumQ1()+s.quorumQ2() <= s.Replicas {
		return specErr("q1/--q2", "Q1=%d + Q2=%d must exceed N=%d so phase-1 and phase-2 quorums intersect", s.quorumQ1(), s.quorumQ2(), s.Replicas)
	}
	if s.Batch < 1 {
		return specErr("batch", "%d, want at least 1", s.Batch)
	}
	if s.CPU < 0 {
		return specErr("cpu-us", "%v is negative", s.CPU)
	}
	if s.Jitter < 0 {
		return specErr("jitter-ms", "%v is negative", s.Jitter)
	}
	if s.Tick <= 0 {
		return specErr("tick", "%v, want a positive tick", s.Tick)
	}
	if s.ElectionTicks < 0 {
		return specErr("election-ticks", "%d is negative", s.ElectionTicks)
	}
	if s.Resamples < 0 {
		return specErr("resamples", "%d is negative", s.Resamples)
	}
	if s.Window < 0 {
		return specErr("window", "%v is negative", s.Window)
	}
	for _, f := range s.Faults {
		if f.Kind != "crash" && f.Kind != "restart" {
			return specErr("fault", "unknown fault kind %q, want crash or restart", f.Kind)
		}
		if f.Replica < LeaderReplica || f.Replica >= s.Replicas {
			return specErr("fault", "replica %d outside 0..%d", f.Replica, s.Replicas-1)
		}
		if f.At < 0 {
			return specErr("fault", "time %v is negative", f.At)
		}
	}
	return nil
}

// quorumQ1 and quorumQ2 fill in the complement when only one size is given:
// Q1 = N - Q2 + 1 (the smallest safe phase-1 quorum) and vice versa.
func (s *Spec) quorumQ1() int {
	if s.Q1 > 0 {
		return s.Q1
	}
	if s.Q2 > 0 {
		return s.Replicas - s.Q2 + 1
	}
	return 0
}

func (s *Spec) quorumQ2() int {
	if s.Q2 > 0 {
		return s.Q2
	}
	if s.Q1 > 0 {
		return s.Replicas - s.Q1 + 1
	}
	return 0
}

// SiteName returns the name of site i: its name in the matrix, or its index.
func (s *Spec) SiteName(i int) string {
	if i < len(s.Sites) && s.Sites[i] != "" {
		return s.Sites[i]
	}
	return strconv.Itoa(i)
}

// clientsAt returns the number of clients at the i-th client site.
func (s *Spec) clientsAt(i int) int {
	if s.Mode != ModeLive {
		return s.Clients
	}
	k := len(s.clientSites())
	n := s.Clients / k
	if i < s.Clients%k {
		n++
	}
	return n
}

// totalClients returns the number of clients over all client sites.
func (s *Spec) totalClients() int {
	if s.Mode == ModeLive {
		return s.Clients
	}
	return s.Clients * len(s.clientSites())
}

// clientSites returns the sites hosting clients.
func (s *Spec) clientSites() []int {
	if len(s.ClientSites) > 0 {
		return s.ClientSites
	}
	out := make([]int, s.Replicas)
	for i := range out {
		out[i] = i
	}
	return out
}

// MaxRTT returns the largest RTT among the first Replicas sites, in ms.
func (s *Spec) MaxRTT() float64 {
	m := 1.0
	for i := 0; i < s.Replicas && i < len(s.RTT); i++ {
		for j := 0; j < s.Replicas && j < len(s.RTT[i]); j++ {
			m = math.Max(m, s.RTT[i][j])
		}
	}
	return m
}

// MarshalJSON writes the spec with durations as strings ("10s"), for a
// readable run.json.
func (s Spec) MarshalJSON() ([]byte, error) {
	type plain Spec
	return json.Marshal(struct {
		plain
		Duration string `json:"duration"`
		Warmup   string `json:"warmup"`
		CPU      string `json:"cpu_per_msg"`
		Jitter   string `json:"jitter"`
		Tick     string `json:"tick"`
		Window   string `json:"timeline_window"`
	}{plain(s), s.Duration.String(), s.Warmup.String(), s.CPU.String(), s.Jitter.String(), s.Tick.String(), s.Window.String()})
}

// MarshalJSON writes the fault time as a string ("5s").
func (f Fault) MarshalJSON() ([]byte, error) {
	type plain Fault
	return json.Marshal(struct {
		plain
		At string `json:"at"`
	}{plain(f), f.At.String()})
}
