package paxos

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos/internal/idtable"
)

// StateMachine is an application's replicated state. Every replica applies
// the same committed application commands (Op == OpApp) in an order that
// agrees on every pair of interfering commands (see Interferes), so Apply
// must be deterministic: the same state and command give the same new state,
// output and error on every replica (no clocks, randomness or map iteration
// order in what it returns).
//
// The library wraps the state machine in exactly-once sessions (Sessions):
// Apply sees each (Client, Seq) at most once, and a retry gets the first
// output and error back. A state machine never needs its own deduplication.
type StateMachine interface {
	// Apply executes cmd (its Payload is the application's input) and
	// returns its output. An error is the command's result too: it is
	// returned to the client, the same on every replica, and the command
	// counts as executed. Apply must reject a malformed Payload with an
	// error; a panic is caught and reported as an error, but the state may
	// then be half-changed. A command marked ReadOnly must change nothing:
	// it may be answered from one replica's state under a lease.
	//
	// Apply takes cmd by value, unlike the library's own methods: the
	// application owns its copy and may keep or change it, a pointer passed
	// through an interface method would make every caller's command escape
	// to the heap, and the copy costs little next to an application's work
	// on its Payload.
	Apply(cmd Command) (output string, err error)
	// Snapshot returns the whole state as bytes. It cannot fail: a replica
	// must be able to persist every state Apply produced.
	Snapshot() []byte
	// Restore replaces the state with one that Snapshot returned.
	Restore(snapshot []byte) error
}

// KeyValue is implemented by a state machine that takes the key-value
// operations Get and Put instead of OpApp commands: the built-in store
// (package kv, the default when Config.StateMachine is nil), which
// Sessions wraps like any other state machine. Sessions calls ApplyKV for
// Get and Put (never Apply), which cannot fail and says whether a Get found
// no value (Execution.Missing), and Lookup for a Get served under a lease
// (Read), which executes nothing. ApplyKV takes the three fields a Get or a
// Put uses rather than the command: neither a copy of the whole Command nor
// a pointer to it, which the interface call would make escape to the heap.
type KeyValue interface {
	StateMachine
	ApplyKV(op Op, key, value string) (output string, missing bool)
	Lookup(key string) (value string, missing bool)
}

// Errors a replica reports in Execution.Err for a command it refuses
// without proposing it (see CheckCommand).
var (
	// ErrReservedClient: client id 0 names the library's internal no-ops.
	ErrReservedClient = errors.New("client id 0 is reserved for internal no-ops; give every client a random non-zero id")
	// ErrBadCommand: the command cannot run on this replica's state machine.
	ErrBadCommand = errors.New("command refused")
)

// CheckCommand reports why a replica must refuse cmd without proposing it,
// or nil. app says whether the replica runs an application state machine
// (Config.StateMachine set): it then takes only OpApp commands, and the
// built-in key-value store takes only Get and Put. A Nop is accepted either
// way and does nothing. Every protocol calls it in Propose and answers a
// refused command at once with an Execution whose Err says why.
func CheckCommand(cmd *Command, app bool) error {
	if cmd.Client == 0 {
		return ErrReservedClient
	}
	switch cmd.Op {
	case OpNop:
		return nil
	case OpGet, OpPut:
		if app {
			return fmt.Errorf("%w: %v on a replica running an application state machine; send OpApp commands with a Payload", ErrBadCommand, cmd.Op)
		}
		return nil
	case OpApp:
		if !app {
			return fmt.Errorf("%w: an application command on a replica running the key-value store; set Config.StateMachine", ErrBadCommand)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown operation %v", ErrBadCommand, cmd.Op)
}

// Refused returns the execution that answers a command CheckCommand refused.
func Refused(cmd *Command, err error) Execution {
	return Execution{Command: *cmd, Err: err.Error()}
}

// BatchesInterfere reports whether some command of a interferes with some
// command of b (see Interferes): whether two instances, each holding a
// batch, must be ordered.
func BatchesInterfere(a, b []Command) bool {
	for i := range a {
		for j := range b {
			if Interferes(&a[i], &b[j]) {
				return true
			}
		}
	}
	return false
}

// Interferes reports whether the order of a and b matters, so that EPaxos
// must order them and the checker must see them ordered: neither is a Nop,
// at least one writes, and they touch a common key. A key-value command
// touches its Key; an application command touches its Keys, or everything
// when it names none. Two read-only commands never interfere.
func Interferes(a, b *Command) bool {
	if a.IsNop() || b.IsNop() || (!a.Writes() && !b.Writes()) {
		return false
	}
	ka, wa := a.ConflictKeys()
	kb, wb := b.ConflictKeys()
	if wa || wb {
		return true
	}
	for _, x := range ka {
		for _, y := range kb {
			if x == y {
				return true
			}
		}
	}
	return false
}

// ConflictKeys returns the keys cmd touches: Key for a key-value command,
// Keys for an application command. all is set when an application command
// names no keys and so touches the whole state.
func (c *Command) ConflictKeys() (keys []string, all bool) {
	if c.Op == OpApp {
		return c.Keys, len(c.Keys) == 0
	}
	return []string{c.Key}, false
}

// Sessions applies commands to a StateMachine exactly once per (Client,
// Seq), remembering each command's output and error so a retry gets them
// back (for the client's last RetainOutputs seqs below its newest executed
// one; an older retry is still recognized and answered with an empty
// output). Commands with Client 0 (internal) are never deduplicated. A
// client's session holds one entry per gap among its executed seqs, at
// most MaxSessionGaps, not one per seq executed above a gap. Its snapshot
// holds both the sessions and the state machine's snapshot.
type Sessions struct {
	sm      StateMachine
	kv      KeyValue                      // sm, when it is a key-value store
	clients idtable.Table[*clientSession] // by ID{Client: id}; never iterated but sorted (encode)
}

// RetainOutputs is how many of a client's seqs, below the newest it
// executed, keep their results for retries in Sessions.
const RetainOutputs = 1024

// result is what one command returned.
type result struct {
	Out string `msgpack:"o,omitempty"`
	Err string `msgpack:"e,omitempty"`
}

// NewSessions wraps sm in empty sessions. A sm that implements KeyValue
// takes Get and Put commands; any other takes OpApp commands.
func NewSessions(sm StateMachine) *Sessions {
	kv, _ := sm.(KeyValue)
	return &Sessions{sm: sm, kv: kv}
}

// Executed reports whether the command with this id already executed, and
// the execution that answers a retry of it (Duplicate set).
func (s *Sessions) Executed(cmd *Command) (Execution, bool) {
	if cmd.Client == 0 {
		return Execution{}, false
	}
	return s.session(cmd.Client).executed(cmd)
}

// Done reports whether the command with this id already executed: Executed
// without building the execution that answers a retry, for callers that
// only filter (a leader dropping commands that executed while queued).
func (s *Sessions) Done(cmd *Command) bool {
	if cmd.Client == 0 {
		return false
	}
	cs := s.session(cmd.Client)
	if cs == nil {
		return false
	}
	_, ok := cs.result(cmd.Seq)
	return ok
}

// session returns the session of client id, nil if it has none. The
// sessions are a table of their own rather than a Go map: every replica
// looks a command's session up once to execute it and a Multi-Paxos
// leader twice more to propose it (about 90 instructions each in a map of
// 1024 clients; BenchmarkReplicaBatch64N5).
func (s *Sessions) session(id uint64) *clientSession {
	return s.clients.Get(idtable.ID{Client: id})
}

// executed is Executed for the command's session (nil: none yet).
func (cs *clientSession) executed(cmd *Command) (Execution, bool) {
	if cs == nil {
		return Execution{}, false
	}
	res, ok := cs.result(cmd.Seq)
	if !ok {
		return Execution{}, false
	}
	return Execution{Command: *cmd, Output: res.Out, Err: res.Err, Duplicate: true}, true
}

// Apply executes cmd unless it already executed (then it returns the first
// execution's results with Duplicate set). Nops do nothing.
func (s *Sessions) Apply(cmd *Command) (ex Execution) {
	s.ApplyTo(&ex, cmd)
	return ex
}

// ApplyTo is Apply writing the execution into *ex, all of whose fields it
// sets: a protocol appending executions to a list builds each in place
// instead of copying it there (an Execution is 160 bytes). cmd is not
// changed and must not point into *ex. The client's session is looked up
// once for both the duplicate check and the record.
func (s *Sessions) ApplyTo(ex *Execution, cmd *Command) {
	// Field by field: *ex = Execution{Command: *cmd} builds the whole
	// Execution on the stack and copies it into *ex.
	ex.Command = *cmd
	ex.Output, ex.Err = "", ""
	ex.Duplicate, ex.LocalRead, ex.Missing = false, false, false
	if cmd.IsNop() {
		return
	}
	var cs *clientSession
	if cmd.Client != 0 {
		cs = s.session(cmd.Client)
		if cs != nil {
			if res, ok := cs.result(cmd.Seq); ok {
				ex.Output, ex.Err, ex.Duplicate = res.Out, res.Err, true
				return
			}
			if !cs.admits(cmd.Seq) {
				ex.Err = ErrSessionGaps.Error()
				return
			}
		}
	}
	if s.kv != nil && (cmd.Op == OpGet || cmd.Op == OpPut) {
		ex.Output, ex.Missing = s.kv.ApplyKV(cmd.Op, cmd.Key, cmd.Value) // the common case, without a deferred recover
	} else {
		s.executeInto(ex)
	}
	if cmd.Client == 0 {
		return
	}
	if cs == nil {
		cs = &clientSession{}
		s.clients.Set(idtable.ID{Client: cmd.Client}, cs)
	}
	if cmd.Seq == cs.Low+1 && len(cs.Runs) == 0 && cs.Recent == nil && ex.Output == "" && ex.Err == "" {
		// record's common case (a client's next Put), without the call:
		// advance with no result to keep and none to drop
		cs.Low++
		return
	}
	cs.record(cmd.Seq, result{Out: ex.Output, Err: ex.Err})
}

// Read applies a read-only command without recording it: for reads served
// from local state under a lease. LocalRead is set.
func (s *Sessions) Read(cmd *Command) Execution {
	if s.kv != nil && cmd.Op == OpGet {
		ex := Execution{Command: *cmd, LocalRead: true}
		ex.Output, ex.Missing = s.kv.Lookup(cmd.Key)
		return ex
	}
	ex := s.execute(cmd)
	ex.LocalRead = true
	return ex
}

// execute runs cmd on the state machine: ApplyKV for a key-value store's
// Get or Put, Apply (a panic caught) for an application's command.
func (s *Sessions) execute(cmd *Command) Execution {
	ex := Execution{Command: *cmd}
	s.executeInto(&ex)
	return ex
}

// executeInto is execute for the command already in ex.Command, filling in
// ex's results.
func (s *Sessions) executeInto(ex *Execution) {
	cmd := &ex.Command
	if s.kv != nil {
		if cmd.Op != OpGet && cmd.Op != OpPut {
			ex.Err = fmt.Errorf("%w: %v on the key-value store", ErrBadCommand, cmd.Op).Error()
			return
		}
		ex.Output, ex.Missing = s.kv.ApplyKV(cmd.Op, cmd.Key, cmd.Value)
		return
	}
	if cmd.Op != OpApp {
		ex.Err = fmt.Errorf("%w: %v on an application state machine", ErrBadCommand, cmd.Op).Error()
		return
	}
	defer func() {
		if p := recover(); p != nil {
			ex.Output, ex.Err = "", fmt.Sprintf("state machine panicked: %v", p)
		}
	}()
	out, err := s.sm.Apply(*cmd)
	ex.Output = out
	if err != nil {
		ex.Err = err.Error()
	}
}

// sessionsSnapshot is the encoded form of Sessions: every map as a list
// sorted by key, so the same state always gives the same bytes.
type sessionsSnapshot struct {
	Clients []clientEntry `msgpack:"c"`
	State   []byte        `msgpack:"s"`
}

// clientEntry is one clientSession. Runs came after Above, which then
// listed every executed seq above Low with its result, empty or not; it
// now lists the non-empty results kept (clientSession).
type clientEntry struct {
	ID     uint64      `msgpack:"i"`
	Low    uint64      `msgpack:"l"`
	Above  []seqResult `msgpack:"a,omitempty"`
	Recent []seqResult `msgpack:"r,omitempty"`
	Runs   []seqRun    `msgpack:"u,omitempty"`
}

type seqResult struct {
	Seq uint64 `msgpack:"q"`
	result
}

// Snapshot returns the sessions and the state machine's snapshot as bytes.
func (s *Sessions) Snapshot() []byte { return s.encode(s.sm.Snapshot()) }

// SnapshotSessions returns the sessions alone, without the state machine's
// state: for a state machine whose snapshot its owner keeps another way
// (the key-value store shares its data copy-on-write). RestoreSessions
// takes it back.
func (s *Sessions) SnapshotSessions() []byte { return s.encode(nil) }

// ClientResults is one client's exactly-once state in plain form, for
// building sessions from another format (package kv reads the snapshots of
// earlier builds with it): every seq <= Low executed; Above holds the
// outputs of the executed seqs above Low, Recent the non-empty outputs of
// seqs in (Low-RetainOutputs, Low].
type ClientResults struct {
	Low           uint64
	Above, Recent map[uint64]string
}

// EncodeSessions returns what SnapshotSessions returns for sessions
// holding exactly these clients.
func EncodeSessions(clients map[uint64]ClientResults) []byte {
	s := &Sessions{}
	outputs := func(m map[uint64]string) map[uint64]result {
		if len(m) == 0 {
			return nil
		}
		r := make(map[uint64]result, len(m))
		for q, out := range m {
			r[q] = result{Out: out}
		}
		return r
	}
	for id, c := range clients {
		s.clients.Set(idtable.ID{Client: id}, newClientSession(c.Low, nil, outputs(c.Above), outputs(c.Recent)))
	}
	return s.encode(nil)
}

func (s *Sessions) encode(state []byte) []byte {
	snap := sessionsSnapshot{State: state}
	ids := make([]uint64, 0, s.clients.Len())
	s.clients.All(func(id idtable.ID, _ *clientSession) { ids = append(ids, id.Client) })
	slices.Sort(ids)
	for _, id := range ids {
		cs := s.session(id)
		snap.Clients = append(snap.Clients, clientEntry{ID: id, Low: cs.Low, Above: sortedResults(cs.Above), Recent: sortedResults(cs.Recent), Runs: cs.Runs})
	}
	b, err := msgpack.Marshal(&snap)
	if err != nil {
		// Integers, strings and bytes always encode; this is a bug here.
		panic(fmt.Sprintf("paxos: encode sessions snapshot: %v", err))
	}
	return b
}

// Restore replaces the sessions and the state machine's state with a
// snapshot that Snapshot returned.
func (s *Sessions) Restore(data []byte) error {
	var snap sessionsSnapshot
	if err := msgpack.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("decode sessions snapshot: %w", err)
	}
	if err := s.sm.Restore(snap.State); err != nil {
		return fmt.Errorf("restore state machine: %w", err)
	}
	s.setClients(snap)
	return nil
}

// RestoreSessions replaces the sessions (not the state machine's state)
// with what SnapshotSessions returned; empty data means no sessions.
func (s *Sessions) RestoreSessions(data []byte) error {
	var snap sessionsSnapshot
	if len(data) > 0 {
		if err := msgpack.Unmarshal(data, &snap); err != nil {
			return fmt.Errorf("decode sessions snapshot: %w", err)
		}
	}
	s.setClients(snap)
	return nil
}

func (s *Sessions) setClients(snap sessionsSnapshot) {
	s.clients = idtable.Table[*clientSession]{}
	for _, e := range snap.Clients {
		s.clients.Set(idtable.ID{Client: e.ID}, newClientSession(e.Low, e.Runs, resultMap(e.Above), resultMap(e.Recent)))
	}
}

// Equal reports whether c and d are the same command, field by field
// (Command holds slices, so == does not compile).
func (c *Command) Equal(d *Command) bool {
	return c.Client == d.Client && c.Seq == d.Seq && c.Op == d.Op && c.Key == d.Key && c.Value == d.Value &&
		c.ReadOnly == d.ReadOnly && bytes.Equal(c.Payload, d.Payload) && slices.Equal(c.Keys, d.Keys)
}

// SameCommands reports whether a and b hold equal commands in the same
// order: how protocols compare values (batches of commands). Two slices of
// one array from the same element (a protocol comparing the batch it holds
// with itself, as EPaxos's commit does) are equal without reading it.
func SameCommands(a, b []Command) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if !a[i].Equal(&b[i]) {
			return false
		}
	}
	return true
}

// Valid reports whether o is a known operation (Nop, Get, Put or App).
// Message handlers refuse commands with any other Op.
func (o Op) Valid() bool { return o <= OpApp }
