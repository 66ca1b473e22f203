// Package paxos is the contract shared by every consensus variant in this
// library: Basic Paxos, Multi-Paxos, Flexible Paxos and EPaxos.
//
// A Replica is a deterministic state machine. It never starts a goroutine,
// reads a clock, does I/O or uses global randomness. Its inputs are a client
// command proposed at it (Propose), a message from a peer (Step) and a tick of
// logical time (Tick). Its outputs accumulate until the driver collects them
// with Ready: records to persist, messages to send, and the commands it
// executed, in order, with their results.
//
// The same replica code runs in the deterministic simulator (package sim), in
// the live runtime (package node), and in unit tests that step replicas by
// hand.
package paxos

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/paxos-lab/paxos/quorum"
)

// NodeID names a replica: 0..N-1 in a cluster of N.
type NodeID int32

// Op is the kind of a key-value command.
type Op uint8

// The key-value operations.
const (
	OpNop Op = iota // does nothing; fills a slot that must hold something
	OpGet           // reads Key
	OpPut           // writes Value to Key
	OpApp           // an application command: Payload for the configured StateMachine (statemachine.go)
)

// String returns "nop", "get" or "put".
func (o Op) String() string {
	switch o {
	case OpNop:
		return "nop"
	case OpGet:
		return "get"
	case OpPut:
		return "put"
	case OpApp:
		return "app"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Command is a client's operation, identified by (Client, Seq). A client
// numbers its commands 1, 2, 3, ...; a retry reuses the number, and execution
// deduplicates by it so a retried command takes effect once.
//
// A key-value command (the default kv state machine) uses Op, Key and Value.
// An application command (Op == OpApp) carries an opaque Payload for the
// configured StateMachine, plus the conflict information protocols order by:
// the Keys it touches and whether it is ReadOnly (see Interferes).
type Command struct {
	Client uint64 `msgpack:"c"`
	Seq    uint64 `msgpack:"s"`
	Op     Op     `msgpack:"o"`
	// ReadOnly marks an application command that changes no state. It
	// sits next to Op, in the padding after it, so that a Command takes
	// 104 bytes instead of 112 (a batch of 64 then fits the allocator's
	// 6,784-byte size class instead of its 8,192-byte one). The field
	// order is not the encoding's: EncodeMsgpack writes the fields by
	// hand, ro last.
	ReadOnly bool   `msgpack:"ro,omitempty"`
	Key      string `msgpack:"k"`
	Value    string `msgpack:"v"`
	// Payload is an application command's input, opaque to the library.
	Payload []byte `msgpack:"p,omitempty"`
	// Keys names what an application command touches; none means the
	// whole state (it interferes with every command).
	Keys []string `msgpack:"ks,omitempty"`
}

// CommandID identifies a command: its client and that client's sequence number.
type CommandID struct {
	Client uint64 `msgpack:"c"`
	Seq    uint64 `msgpack:"s"`
}

// ID returns the command's identity.
func (c *Command) ID() CommandID { return CommandID{Client: c.Client, Seq: c.Seq} }

// Writes reports whether the command modifies state: a Put, or an
// application command not marked ReadOnly.
func (c *Command) Writes() bool { return c.Op == OpPut || (c.Op == OpApp && !c.ReadOnly) }

// IsNop reports whether the command is a no-op.
func (c *Command) IsNop() bool { return c.Op == OpNop }

// Message is an envelope carrying a protocol message between replicas. Body
// is a value of a type registered with the codec (see Register).
type Message struct {
	From NodeID
	To   NodeID
	Body any
}

// Path says how a command committed.
type Path uint8

// Commit paths. Protocols with a single path report PathClassic.
const (
	PathClassic Path = iota // the protocol has one path (Paxos phase 2)
	PathFast                // EPaxos fast path: one round to a fast quorum
	PathSlow                // EPaxos slow path: an extra Accept round
)

// String returns "classic", "fast" or "slow".
func (p Path) String() string {
	switch p {
	case PathClassic:
		return "classic"
	case PathFast:
		return "fast"
	case PathSlow:
		return "slow"
	}
	return fmt.Sprintf("path(%d)", uint8(p))
}

// Commit reports that a command proposed at this replica committed.
type Commit struct {
	ID   CommandID
	Path Path
}

// Execution is one command applied to this replica's state machine, in
// execution order.
type Execution struct {
	Command Command
	// Output is the value a Get returned ("" for a missing key, a Put or a Nop).
	Output string
	// Duplicate is set when (Client, Seq) had already executed: the command
	// took no effect again and Output repeats the first execution's output.
	Duplicate bool
	// LocalRead is set when a Get was answered from local state under a lease,
	// without a consensus round.
	LocalRead bool
	// Err is the state machine's error for this command ("" for none), or
	// why the replica refused it (see CheckCommand). It is the same on
	// every replica, and a retry of the command returns it again.
	Err string
	// Missing is set when a Get found no value under its key (Output is
	// then ""), so that a missing key and an empty value can be told
	// apart. A duplicate answer repeats only the first execution's Output.
	Missing bool
}

// Ready is what a replica asks its driver to carry out, collected since the
// previous call to Replica.Ready. The driver must:
//
//  1. make Snapshot (if any) and then Persist durable, in order;
//  2. only then send Messages;
//  3. deliver the results in Executed to waiting clients.
//
// Committed, FastPath and SlowPath are reports for measurement only.
type Ready struct {
	// Snapshot, when non-nil, is a record that holds all of the replica's
	// durable state up to this point. Once it is durable, every record
	// persisted before this Ready may be discarded.
	Snapshot any
	// Persist lists records to append to durable storage, in order.
	Persist []any
	// Messages are to be sent after Persist is durable.
	Messages []Message
	// Executed lists the commands this replica applied, in order.
	Executed []Execution
	// Committed lists commands proposed at this replica whose commit this
	// replica learned, so harnesses can measure commit apart from execution.
	Committed []Commit
	// Decided lists every instance whose decision this replica learned
	// (once per instance and incarnation), so checkers can verify that no
	// two replicas ever learn different values for one instance.
	Decided []Decision
}

// Instance names a consensus instance: a slot of a replica's log. Protocols
// with a single shared log (Basic, Multi, Flexible Paxos) use Replica 0.
// Slots are numbered from 1.
type Instance struct {
	Replica NodeID `msgpack:"r"`
	Slot    uint64 `msgpack:"s"`
}

// Decision is what a replica learned was chosen for one instance.
type Decision struct {
	Instance Instance
	// Commands is the chosen value: a batch of commands (one Nop when the
	// instance was filled with nothing).
	Commands []Command
	// Seq and Deps are EPaxos's ordering attributes; other protocols leave
	// them zero. Deps[r] is the highest slot of replica r this instance
	// depends on, 0 for none; it has N entries.
	Seq  uint64
	Deps []uint64
}

// Empty reports whether the Ready holds nothing to do or report.
func (r *Ready) Empty() bool {
	return r.Snapshot == nil && len(r.Persist) == 0 && len(r.Messages) == 0 &&
		len(r.Executed) == 0 && len(r.Committed) == 0 && len(r.Decided) == 0
}

// Persisted is what a replica wrote to durable storage before it stopped: the
// latest Snapshot (or nil) and every record persisted after it, in order.
type Persisted struct {
	Snapshot any
	Records  []any
}

// Replica is one member of a consensus group, driven by a single goroutine.
// No method may block, start a goroutine, read a clock or do I/O.
type Replica interface {
	// ID returns this replica's id.
	ID() NodeID
	// Propose submits a client command at this replica. Its result appears
	// in a later Ready's Executed once the command has executed here.
	Propose(cmd Command)
	// Step delivers a message from a peer. A message that is malformed or
	// not meant for this replica is dropped and reported as an error; the
	// replica stays usable.
	Step(msg Message) error
	// Tick advances logical time by one tick.
	Tick()
	// Ready returns and clears the outputs accumulated since the last call.
	Ready() Ready
}

// Config configures one replica. Fields a protocol does not use are ignored.
type Config struct {
	// ID is this replica's id, in 0..N-1.
	ID NodeID
	// N is the number of replicas.
	N int
	// Quorums is the quorum system. Nil means the protocol's default
	// (majority, or EPaxos's fast/slow quorums).
	Quorums quorum.System
	// Seed seeds the replica's random source (election timeouts, backoff).
	// Replicas derive distinct streams from (Seed, ID).
	Seed uint64

	// HeartbeatTicks is how often a leader sends heartbeats (default 1).
	HeartbeatTicks int
	// ElectionTicks is the base election timeout; the actual timeout is
	// drawn uniformly from [ElectionTicks, 2*ElectionTicks) (default 10).
	ElectionTicks int
	// RetryTicks is how long to wait for replies before retrying, widening
	// a thrifty quorum or starting recovery (default 5).
	RetryTicks int

	// Batch is the most commands one slot or instance carries (default 1).
	Batch int
	// Window is the most slots a leader keeps in flight (default 1000).
	Window int
	// Thrifty sends phase-2 (and EPaxos PreAccept) messages only to the
	// replicas needed for a quorum, nearest first, widening on timeout.
	Thrifty bool
	// Distances, if set, holds this replica's distance (e.g. RTT) to every
	// replica; thrifty sending prefers the nearest. Nil means by id.
	Distances []float64
	// LeaseTicks, if positive, enables leader leases for local reads.
	LeaseTicks int
	// InitialLeader is the replica that starts as leader in leader-based
	// protocols, so runs begin in steady state. -1 means elect one.
	InitialLeader NodeID
	// SnapshotEvery takes a snapshot after this many executed slots
	// (0 = protocol default; negative = never). Multi-Paxos, Flexible
	// Paxos and EPaxos also wait until at least as many commands executed
	// since the previous snapshot as their state holds keys, so that the
	// cost of snapshots per command stays bounded as the state grows.
	SnapshotEvery int
	// StaggerSnapshots delays this replica's first routine snapshot by
	// its share of the interval (Config.SnapshotDelay), so replicas that
	// execute the same commands do not all snapshot at the same point and
	// stall at once. The live runtime (package node) sets it; the
	// simulator and the checker leave it off.
	StaggerSnapshots bool

	// Restore, when non-nil, rebuilds the replica from what it persisted
	// before a crash instead of starting empty.
	Restore *Persisted
	// StateMachine, when non-nil, builds the state machine this replica
	// applies application commands (OpApp) to, wrapped in the library's
	// exactly-once sessions (statemachine.go). Nil means the built-in
	// key-value store (package kv). Each replica calls it once, so every
	// replica gets its own instance.
	StateMachine func() StateMachine
	// Rebuild starts a replica whose durable state was lost (a wiped,
	// truncated or restored-from-backup disk) as a non-voting member: it
	// learns state from its peers and votes again only once that is safe
	// (each protocol's package doc states its rule). Restore is then
	// whatever the replica persisted since the rebuild began, or nil.
	Rebuild bool
}

// Rebuilder is implemented by replicas that support Config.Rebuild.
// Rebuilding reports whether the replica is still rebuilding after a lost
// disk and so does not vote yet. Drivers use it to learn when a rebuild
// finished (the live runtime records it; the checker counts a rebuilding
// replica as down).
type Rebuilder interface {
	Rebuilding() bool
}

// Config defaults.
const (
	DefaultHeartbeatTicks = 1
	DefaultElectionTicks  = 10
	DefaultRetryTicks     = 5
	DefaultBatch          = 1
	DefaultWindow         = 1000
)

// ErrConfig is wrapped by every error about an invalid configuration.
var ErrConfig = errors.New("invalid configuration")

// ErrMalformed is wrapped by every error a replica's Step returns for a
// message it refuses: addressed to another replica or sent by a replica
// outside the cluster, of a type the protocol does not know, or with fields
// no correct peer could send (slot or instance numbers further ahead of the
// receiver's state than its Config.Window allows, ballots or replica ids out
// of range, a batch larger than Config.Batch, a dependency list whose length
// is not N). The replica drops the message before allocating anything for
// it, counts it under CoverageRefused when it implements CoverageReporter,
// and stays usable. A correct replica far behind its peers can refuse their
// messages this way for a while; it catches up by the protocol's own
// catch-up path, within its window. Seen often, it means a peer runs
// another protocol, N or Window, or is not a correct replica.
var ErrMalformed = errors.New("malformed message")

// CoverageRefused is the Coverage key under which a replica counts the
// messages its Step refused with ErrMalformed.
const CoverageRefused = "refused"

// WithDefaults returns c with zero-valued tunables replaced by defaults.
func (c Config) WithDefaults() Config {
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.RetryTicks == 0 {
		c.RetryTicks = DefaultRetryTicks
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	return c
}

// Validate checks what every protocol needs: N in 1..quorum.MaxReplicas, ID
// in 0..N-1, positive tunables, a quorum system over N replicas and distances
// for all N replicas. Errors wrap ErrConfig.
func (c Config) Validate() error {
	if c.N < 1 || c.N > quorum.MaxReplicas {
		return fmt.Errorf("%w: N=%d, want 1..%d replicas", ErrConfig, c.N, quorum.MaxReplicas)
	}
	if c.ID < 0 || int(c.ID) >= c.N {
		return fmt.Errorf("%w: replica id %d outside 0..%d", ErrConfig, c.ID, c.N-1)
	}
	for _, t := range []struct {
		name string
		v    int
	}{{"HeartbeatTicks", c.HeartbeatTicks}, {"ElectionTicks", c.ElectionTicks}, {"RetryTicks", c.RetryTicks}, {"Batch", c.Batch}, {"Window", c.Window}} {
		if t.v < 1 {
			return fmt.Errorf("%w: %s=%d, must be at least 1", ErrConfig, t.name, t.v)
		}
	}
	if c.LeaseTicks < 0 {
		return fmt.Errorf("%w: LeaseTicks=%d, must not be negative", ErrConfig, c.LeaseTicks)
	}
	if c.Quorums != nil && c.Quorums.N() != c.N {
		return fmt.Errorf("%w: quorum system %s covers %d replicas, cluster has %d", ErrConfig, c.Quorums, c.Quorums.N(), c.N)
	}
	if c.Distances != nil && len(c.Distances) != c.N {
		return fmt.Errorf("%w: %d distances for %d replicas", ErrConfig, len(c.Distances), c.N)
	}
	for i, d := range c.Distances {
		if d < 0 || math.IsNaN(d) || math.IsInf(d, 0) {
			return fmt.Errorf("%w: distance %v to replica %d, want a finite non-negative number", ErrConfig, d, i)
		}
	}
	if c.InitialLeader >= NodeID(c.N) || c.InitialLeader < -1 {
		return fmt.Errorf("%w: initial leader %d outside 0..%d (or -1 to elect one)", ErrConfig, c.InitialLeader, c.N-1)
	}
	return nil
}

// Rand returns the replica's deterministic random source, derived from
// (Seed, ID).
func (c Config) Rand() *rand.Rand {
	return rand.New(rand.NewPCG(c.Seed, uint64(c.ID)+0x9e3779b97f4a7c15))
}

// Nearest returns the other replicas ordered by Distances (nearest first,
// ties by id), or by id when Distances is nil (or too short to cover every
// replica, which Validate refuses).
func (c Config) Nearest() []NodeID {
	out := make([]NodeID, 0, max(c.N-1, 0))
	for i := 0; i < c.N; i++ {
		if NodeID(i) != c.ID {
			out = append(out, NodeID(i))
		}
	}
	if len(c.Distances) < c.N { // nil, or an invalid config: order by id
		return out
	}
	// insertion sort: N is small and this keeps ties stable by id.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && c.Distances[out[j]] < c.Distances[out[j-1]]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
