// Package sim is a deterministic discrete-event simulator for replicas that
// implement paxos.Replica.
//
// Events are ordered by (virtual time, sequence number) and one seed decides
// everything: link jitter, message faults, tick phases, replica seeds and
// client workloads. Running the same Config twice gives the same trace, byte
// for byte, and the same history.
//
// The model:
//
//   - Links: a message from replica i to replica j takes RTT[i][j]/2 plus a
//     uniform jitter in [0, Jitter). Drop, duplicate and reorder
//     probabilities apply globally (SetFaults) and per link (SetLinkFaults);
//     Partition, Cut and Heal cut and restore links. A message from a
//     replica to itself takes no time and is never faulted.
//   - CPU: every delivered message and every proposal costs Config.CPU at
//     its replica, served first come first served by one server per
//     replica. The replica steps when service ends and its outputs leave
//     then.
//   - Durability: after every input the simulator drains the replica's
//     Ready; Snapshot and Persist go to that replica's durable storage,
//     which survives Crash. Restart builds a new incarnation from it.
//   - Ticks: every replica ticks every Config.Tick, each with its own
//     seed-derived phase, unless SetClockRate made its clock drift.
//   - Clients: co-located with a replica (their site), closed loop or open
//     loop (Poisson arrivals), retrying at the next replica on timeout. Every
//     operation is recorded in History.
//
// Virtual time is a time.Duration since the start of the simulation.
package sim

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

// Defaults.
const (
	// DefaultTick is the tick interval when Config.Tick is zero.
	DefaultTick = 10 * time.Millisecond
	// DefaultRTT is the round-trip time in milliseconds between every pair
	// of replicas when Config.RTT is nil: a local-area network.
	DefaultRTT = 0.2
)

// Config describes one simulation.
type Config struct {
	// Protocol names a registered protocol (see paxos.RegisterProtocol).
	Protocol string
	// New, if set, builds the replicas instead of the registered Protocol.
	New paxos.Constructor
	// N is the number of replicas.
	N int
	// Replica is the template configuration of every replica. The
	// simulator fills in ID, N and Seed (derived from Seed, the replica id
	// and its incarnation), Restore on restart, and Distances from the RTT
	// matrix row when the template leaves Distances nil.
	Replica paxos.Config
	// RTT[i][j] is the round-trip time in milliseconds between replicas i
	// and j; one-way delay is half of it. Nil means DefaultRTT everywhere.
	// The diagonal is ignored: a replica reaches itself, and a client its
	// site, in no time.
	RTT [][]float64
	// Jitter adds a uniform random delay in [0, Jitter) to every message
	// between different sites (replica to replica, client to a remote
	// replica and back).
	Jitter time.Duration
	// CPU is the processing time of each delivered message and each
	// proposal at its replica (single-server FIFO queue). Zero is instant.
	// Ticks cost nothing and are not queued.
	CPU time.Duration
	// Tick is the interval of every replica's Tick (default DefaultTick).
	Tick time.Duration
	// Seed decides every random choice of the run.
	Seed uint64
	// Record keeps every execution and decision for Executions and
	// Decisions (checkers need them; benchmarks usually do not).
	Record bool
	// Codec passes every message a replica sends, every record it persists
	// and its snapshots through the codec (paxos.EncodeMessage and
	// paxos.Encode, then back) as the live runtime's transport and storage
	// do, so nothing a replica keeps is shared with what it sent or
	// persisted, and a value the codec cannot carry is caught. What fails
	// to round-trip is dropped and reported by CodecErrors. Off by
	// default: it costs time.
	Codec bool
	// Trace, if set, receives one line per event, for debugging and for
	// byte-for-byte determinism tests. Each line starts with the virtual
	// time in nanoseconds and a kind: deliver, serve, propose, tick,
	// timer, request, retry, return, late-reply, drop, dup, lost,
	// step-error, crash, restart, pause, partition, cut, heal, heal-link, faults,
	// link-faults or client; then the nodes involved and, for messages,
	// the body's Go type (%T), never its contents.
	Trace io.Writer
	// Stamp, if set, rewrites every command at the replica that receives
	// it, just before that replica proposes it, given the virtual time: an
	// application's way to carry the receiving replica's clock instead of
	// the client's (lockservice.StampSim). Nil leaves commands unchanged.
	Stamp func(cmd paxos.Command, now time.Duration) paxos.Command
}

// node is the simulator's view of one replica.
type node struct {
	id    int32
	rep   paxos.Replica // nil while crashed
	alive bool
	inc   int32         // incarnation: 0, then +1 per Restart
	busy  time.Duration // CPU busy until
	// paused until this time (Pause): no ticks, inputs wait in the queue
	paused time.Duration
	// tick is the interval between this replica's ticks (SetClockRate);
	// zero means Config.Tick.
	tick time.Duration
	// nextTick is when this incarnation ticks next (NextTick).
	nextTick time.Duration
	// durable storage, kept across crashes
	snap    any
	records []any
	// waiting maps commands sent here by clients to their history index;
	// volatile (a crash breaks the client connections).
	waiting map[paxos.CommandID]int32
}

// Sim is one simulation. It is not safe for concurrent use.
type Sim struct {
	cfg    Config
	n      int
	now    time.Duration
	q      queue
	rng    *rand.Rand
	nodes  []node
	oneWay []time.Duration // n*n, from*n+to
	maxRTT time.Duration

	cut    []bool                  // n*n: link from*n+to is cut
	holds  []bool                  // n*n: link from*n+to is held (hold.go); nil until Hold
	held   map[int][]paxos.Message // the backlog of each held link
	global Faults                  // SetFaults
	links  []Faults                // SetLinkFaults, n*n
	eff    []Faults                // combined global and per-link faults, n*n
	faulty bool                    // some probability in eff is non-zero

	clients   []client
	ops       []Operation
	completed int
	opst      []opState
	byID      map[paxos.CommandID]int32 // client ops not yet committed

	execs []Execution
	decs  []Decision

	events   uint64
	stepErrs uint64
	codecErr []string // the first few codec failures (Config.Codec)
	dropped  uint64
	traceErr error
	sent     []map[reflect.Type]uint64 // per replica: messages sent, by body type

	observe  func(Output)   // Observe
	proposed *paxos.Command // the proposal being drained, for Output
	input    *paxos.Message // the message being drained, for Output
	cov      paxos.Coverage // coverage of incarnations that crashed
}

// New validates cfg and builds the simulation with every replica running,
// at virtual time 0. Errors wrap paxos.ErrConfig (or the constructor's
// error).
func New(cfg Config) (*Sim, error) {
	if cfg.N < 1 || cfg.N > quorum.MaxReplicas {
		return nil, fmt.Errorf("sim: %w: N=%d, want 1..%d replicas", paxos.ErrConfig, cfg.N, quorum.MaxReplicas)
	}
	if cfg.New == nil && cfg.Protocol == "" {
		return nil, fmt.Errorf("sim: %w: set Config.Protocol (one of %v) or Config.New", paxos.ErrConfig, paxos.Protocols())
	}
	if cfg.New == nil && !slices.Contains(paxos.Protocols(), cfg.Protocol) {
		return nil, fmt.Errorf("sim: %w: unknown protocol %q (registered: %v); import github.com/paxos-lab/paxos/protocols to register all, or set Config.New", paxos.ErrConfig, cfg.Protocol, paxos.Protocols())
	}
	if cfg.Jitter < 0 {
		return nil, fmt.Errorf("sim: %w: Jitter=%v, must not be negative", paxos.ErrConfig, cfg.Jitter)
	}
	if cfg.CPU < 0 {
		return nil, fmt.Errorf("sim: %w: CPU=%v, must not be negative", paxos.ErrConfig, cfg.CPU)
	}
	if cfg.Tick < 0 {
		return nil, fmt.Errorf("sim: %w: Tick=%v, must be positive (0 means %v)", paxos.ErrConfig, cfg.Tick, DefaultTick)
	}
	if cfg.Tick == 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.RTT == nil {
		cfg.RTT = Uniform(cfg.N, DefaultRTT)
	}
	if err := validateRTT(cfg.RTT, cfg.N); err != nil {
		return nil, err
	}
	n := cfg.N
	s := &Sim{
		cfg:    cfg,
		n:      n,
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x73696d2d6e6574)),
		sent:   make([]map[reflect.Type]uint64, n),
		nodes:  make([]node, n),
		oneWay: make([]time.Duration, n*n),
		cut:    make([]bool, n*n),
		links:  make([]Faults, n*n),
		eff:    make([]Faults, n*n),
		byID:   map[paxos.CommandID]int32{},
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i == j {
				continue
			}
			s.oneWay[i*n+j] = msDuration(cfg.RTT[i][j] / 2)
			if r := msDuration(cfg.RTT[i][j]); r > s.maxRTT {
				s.maxRTT = r
			}
		}
	}
	for i := range s.nodes {
		nd := &s.nodes[i]
		nd.id = int32(i)
		rep, err := s.build(i, 0, nil)
		if err != nil {
			return nil, err
		}
		nd.rep, nd.alive = rep, true
		nd.waiting = map[paxos.CommandID]int32{}
	}
	for i := range s.nodes {
		s.scheduleTick(i, s.now+s.tickPhase())
	}
	return s, nil
}

func validateRTT(rtt [][]float64, n int) error {
	if len(rtt) != n {
		return fmt.Errorf("sim: %w: RTT matrix has %d rows for %d replicas; give an N×N matrix", paxos.ErrConfig, len(rtt), n)
	}
	for i, row := range rtt {
		if len(row) != n {
			return fmt.Errorf("sim: %w: RTT row %d has %d entries for %d replicas; give an N×N matrix", paxos.ErrConfig, i, len(row), n)
		}
		for j, v := range row {
			if i != j && (v < 0 || math.IsNaN(v) || math.IsInf(v, 0)) {
				return fmt.Errorf("sim: %w: RTT[%d][%d]=%v, want a finite non-negative number of milliseconds", paxos.ErrConfig, i, j, v)
			}
		}
	}
	return nil
}

func msDuration(ms float64) time.Duration {
	return time.Duration(math.Round(ms * float64(time.Millisecond)))
}

// Uniform returns an n×n RTT matrix with rttMs between every two distinct
// replicas and 0 on the diagonal.
func Uniform(n int, rttMs float64) [][]float64 {
	if n < 0 {
		n = 0
	}
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, n)
		for j := range m[i] {
			if i != j {
				m[i][j] = rttMs
			}
		}
	}
	return m
}

// splitmix64 is a bijective mixer for deriving independent seeds.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// ReplicaSeed is the Config.Seed the simulator gives replica id in its
// incarnation inc (0 for the first) when the simulation seed is seed.
func ReplicaSeed(seed uint64, id paxos.NodeID, inc int) uint64 {
	return splitmix64(seed ^ splitmix64(uint64(id)+1) ^ splitmix64(uint64(inc)<<32|0x5eed))
}

func (s *Sim) build(id, inc int, restore *paxos.Persisted) (paxos.Replica, error) {
	rc := s.cfg.Replica
	rc.ID = paxos.NodeID(id)
	rc.N = s.n
	rc.Seed = ReplicaSeed(s.cfg.Seed, rc.ID, inc)
	rc.Restore = restore
	if rc.Distances == nil {
		rc.Distances = append([]float64(nil), s.cfg.RTT[id]...)
		rc.Distances[id] = 0
	}
	rep, err := paxos.Build(s.cfg.Protocol, s.cfg.New, rc)
	if err != nil {
		return nil, fmt.Errorf("sim: build replica %d: %w", id, err)
	}
	return rep, nil
}

func (s *Sim) tickPhase() time.Duration {
	return time.Duration(s.rng.Int64N(int64(s.cfg.Tick)))
}

func (s *Sim) scheduleTick(id int, at time.Duration) {
	i, p := s.q.alloc()
	p.kind, p.node, p.inc = evTick, int32(id), s.nodes[id].inc
	s.q.push(at, i)
	s.nodes[id].nextTick = at
}

// N returns the number of replicas.
func (s *Sim) N() int { return s.n }

// Now returns the current virtual time.
func (s *Sim) Now() time.Duration { return s.now }

// Events returns the number of events processed so far.
func (s *Sim) Events() uint64 { return s.events }

// StepErrors returns how many messages replicas refused with an error.
func (s *Sim) StepErrors() uint64 { return s.stepErrs }

// CodecErrors returns the first failures to round-trip a message, record
// or snapshot through the codec (Config.Codec), at most maxCodecErrors.
func (s *Sim) CodecErrors() []string { return append([]string(nil), s.codecErr...) }

const maxCodecErrors = 10

func (s *Sim) codecFail(what string, err error) {
	if len(s.codecErr) < maxCodecErrors {
		s.codecErr = append(s.codecErr, fmt.Sprintf("%s: %v", what, err))
	}
}

// roundTrip passes rd's messages, records and snapshot through the codec.
// What fails is dropped and reported by CodecErrors.
func (s *Sim) roundTrip(id int32, rd *paxos.Ready) {
	if rd.Snapshot != nil {
		b, err := paxos.Encode(rd.Snapshot)
		if err == nil {
			rd.Snapshot, err = paxos.Decode(b)
		}
		if err != nil {
			s.codecFail(fmt.Sprintf("replica %d snapshot %T", id, rd.Snapshot), err)
		}
	}
	recs := rd.Persist[:0:0]
	for _, r := range rd.Persist {
		b, err := paxos.Encode(r)
		var back any
		if err == nil {
			back, err = paxos.Decode(b)
		}
		if err != nil {
			s.codecFail(fmt.Sprintf("replica %d record %T", id, r), err)
			continue
		}
		recs = append(recs, back)
	}
	rd.Persist = recs
	msgs := rd.Messages[:0:0]
	for _, m := range rd.Messages {
		b, err := paxos.EncodeMessage(m)
		var back paxos.Message
		if err == nil {
			back, err = paxos.DecodeMessage(b)
		}
		if err != nil {
			s.codecFail(fmt.Sprintf("replica %d message %T to %d", id, m.Body, m.To), err)
			continue
		}
		msgs = append(msgs, back)
	}
	rd.Messages = msgs
}

// Dropped returns how many messages, requests and replies were lost: to
// faults, cut links, crashed replicas or invalid destinations.
func (s *Sim) Dropped() uint64 { return s.dropped }

// Sent returns how many messages replica id has sent so far, over all its
// incarnations, by message type as fmt's %T prints it (e.g. "multi.Accept").
func (s *Sim) Sent(id paxos.NodeID) map[string]uint64 {
	out := map[string]uint64{}
	if int(id) < 0 || int(id) >= len(s.sent) {
		return out
	}
	for t, c := range s.sent[id] {
		out[t.String()] += c
	}
	return out
}

// Throughput returns the client operations that returned in the virtual
// time window [from, to), per second of that window.
func (s *Sim) Throughput(from, to time.Duration) float64 {
	if to <= from {
		return 0
	}
	done := 0
	for i := range s.ops {
		if op := &s.ops[i]; op.Done && op.Return >= from && op.Return < to {
			done++
		}
	}
	return float64(done) / (to - from).Seconds()
}

// TraceErr returns the first error writing the trace, after which tracing
// stopped.
func (s *Sim) TraceErr() error { return s.traceErr }

// Replica returns replica id's current incarnation, or nil while it is
// crashed or when id is out of range.
func (s *Sim) Replica(id paxos.NodeID) paxos.Replica {
	if id < 0 || int(id) >= s.n {
		return nil
	}
	return s.nodes[id].rep
}

// Alive reports whether replica id is running.
func (s *Sim) Alive(id paxos.NodeID) bool {
	return id >= 0 && int(id) < s.n && s.nodes[id].alive
}

// Incarnation returns replica id's incarnation: 0 at start, one more after
// every Restart.
func (s *Sim) Incarnation(id paxos.NodeID) int {
	if id < 0 || int(id) >= s.n {
		return -1
	}
	return int(s.nodes[id].inc)
}

// Persisted returns a copy of what replica id holds in durable storage: its
// latest snapshot and the records persisted after it.
func (s *Sim) Persisted(id paxos.NodeID) paxos.Persisted {
	if id < 0 || int(id) >= s.n {
		return paxos.Persisted{}
	}
	nd := &s.nodes[id]
	return paxos.Persisted{Snapshot: nd.snap, Records: append([]any(nil), nd.records...)}
}

// ErrReplica is wrapped by errors about a replica id that is out of range or
// in the wrong state for the request.
var ErrReplica = errors.New("sim: bad replica")

func (s *Sim) checkID(id paxos.NodeID) error {
	if id < 0 || int(id) >= s.n {
		return fmt.Errorf("%w: id %d outside 0..%d", ErrReplica, id, s.n-1)
	}
	return nil
}

// Crash stops replica id: its volatile state is gone, its durable storage
// is kept, messages in flight to it and its queued work are dropped, its
// ticks stop, and clients waiting on it hear nothing.
func (s *Sim) Crash(id paxos.NodeID) error {
	if err := s.checkID(id); err != nil {
		return err
	}
	nd := &s.nodes[id]
	if !nd.alive {
		return fmt.Errorf("%w: replica %d is already crashed; Restart it first", ErrReplica, id)
	}
	if cr, ok := nd.rep.(paxos.CoverageReporter); ok {
		if s.cov == nil {
			s.cov = paxos.Coverage{}
		}
		s.cov.Add(cr.Coverage())
	}
	nd.alive = false
	nd.rep = nil
	nd.busy, nd.paused = 0, 0
	clear(nd.waiting)
	if s.cfg.Trace != nil {
		s.tracef("%d crash %d inc=%d\n", s.now, id, nd.inc)
	}
	return nil
}

// Restart builds a new incarnation of crashed replica id from a copy of its
// durable storage (Config.Restore) and starts its ticks again.
func (s *Sim) Restart(id paxos.NodeID) error {
	if err := s.checkID(id); err != nil {
		return err
	}
	nd := &s.nodes[id]
	if nd.alive {
		return fmt.Errorf("%w: replica %d is running; Crash it first", ErrReplica, id)
	}
	restore := &paxos.Persisted{Snapshot: nd.snap, Records: append([]any(nil), nd.records...)}
	rep, err := s.build(int(id), int(nd.inc)+1, restore)
	if err != nil {
		return fmt.Errorf("sim: restart replica %d from %d records: %w", id, len(restore.Records), err)
	}
	nd.inc++
	nd.rep, nd.alive, nd.busy = rep, true, s.now
	if s.cfg.Trace != nil {
		s.tracef("%d restart %d inc=%d records=%d\n", s.now, id, nd.inc, len(restore.Records))
	}
	s.scheduleTick(int(id), s.now+s.tickPhase())
	return nil
}

// Pause freezes running replica id for d, as a long garbage-collection pause
// or a stopped virtual machine would: it handles nothing and its ticks are
// lost, while messages and proposals that reach it wait in its queue and
// are handled, in order of arrival, once the pause ends. Nothing is lost,
// unlike Crash.
func (s *Sim) Pause(id paxos.NodeID, d time.Duration) error {
	if err := s.checkID(id); err != nil {
		return err
	}
	nd := &s.nodes[id]
	if !nd.alive {
		return fmt.Errorf("%w: replica %d is crashed; Restart it first", ErrReplica, id)
	}
	if d <= 0 {
		return nil
	}
	nd.paused = max(nd.paused, s.now+d)
	nd.busy = max(nd.busy, nd.paused)
	if s.cfg.Trace != nil {
		s.tracef("%d pause %d until %d\n", s.now, id, nd.paused)
	}
	return nil
}

// Propose submits cmd at replica id now, as if a client there had sent it;
// it costs CPU like any proposal. The simulator does not track it as a
// client operation; see Executions for its effect.
func (s *Sim) Propose(id paxos.NodeID, cmd paxos.Command) error {
	if err := s.checkID(id); err != nil {
		return err
	}
	nd := &s.nodes[id]
	if !nd.alive {
		return fmt.Errorf("%w: replica %d is crashed; the proposal is dropped", ErrReplica, id)
	}
	s.arrive(nd, &payload{kind: evPropose, node: int32(id), inc: nd.inc, op: -1, cmd: cmd})
	return nil
}

// At schedules fn to run at virtual time t (now, if t is in the past). fn
// runs between events and may call any method of s. A nil fn is ignored.
func (s *Sim) At(t time.Duration, fn func()) {
	if fn == nil {
		return
	}
	if t < s.now {
		t = s.now
	}
	i, p := s.q.alloc()
	p.kind, p.fn = evTimer, fn
	s.q.push(t, i)
}

// After schedules fn to run d after now.
func (s *Sim) After(d time.Duration, fn func()) { s.At(s.now+d, fn) }

// Run processes every event scheduled at or before virtual time until, then
// sets the clock to until (if it is later than now).
func (s *Sim) Run(until time.Duration) {
	for {
		at, ok := s.q.peek()
		if !ok || at > until {
			break
		}
		s.next()
	}
	if until > s.now {
		s.now = until
	}
}

// RunUntil processes events until cond returns true (checked before the
// first event and after each one) or the next event lies after virtual time
// limit. It reports whether cond became true; when it did not, the clock is
// left at limit.
func (s *Sim) RunUntil(cond func() bool, limit time.Duration) bool {
	for !cond() {
		at, ok := s.q.peek()
		if !ok || at > limit {
			if limit > s.now {
				s.now = limit
			}
			return cond()
		}
		s.next()
	}
	return true
}

// Next processes the single next event and reports whether there was one.
func (s *Sim) Next() bool {
	if s.q.len() == 0 {
		return false
	}
	s.next()
	return true
}

func (s *Sim) next() {
	it := s.q.pop()
	ev := s.q.pl[it.p]
	s.q.release(it.p)
	s.now = it.at
	s.events++
	s.handle(&ev)
}

func (s *Sim) handle(ev *payload) {
	switch ev.kind {
	case evDeliver, evPropose:
		nd := &s.nodes[ev.node]
		if !nd.alive || nd.inc != ev.inc {
			s.dropped++
			if s.cfg.Trace != nil {
				if ev.kind == evDeliver {
					s.tracef("%d lost %d->%d %T (receiver down)\n", s.now, ev.msg.From, ev.msg.To, ev.msg.Body)
				} else {
					s.tracef("%d lost propose %d.%d at %d (receiver down)\n", s.now, ev.cmd.Client, ev.cmd.Seq, ev.node)
				}
			}
			return
		}
		if s.cfg.Trace != nil {
			if ev.kind == evDeliver {
				s.tracef("%d deliver %d->%d %T\n", s.now, ev.msg.From, ev.msg.To, ev.msg.Body)
			} else {
				s.tracef("%d propose %d.%d at %d\n", s.now, ev.cmd.Client, ev.cmd.Seq, ev.node)
			}
		}
		s.arrive(nd, ev)
	case evService:
		nd := &s.nodes[ev.node]
		if !nd.alive || nd.inc != ev.inc {
			return // dropped by Crash already
		}
		if s.cfg.Trace != nil {
			if ev.isProp {
				s.tracef("%d serve propose %d.%d at %d\n", s.now, ev.cmd.Client, ev.cmd.Seq, ev.node)
			} else {
				s.tracef("%d serve %d->%d %T\n", s.now, ev.msg.From, ev.msg.To, ev.msg.Body)
			}
		}
		if ev.isProp {
			s.propose(nd, ev.cmd, ev.op)
		} else {
			s.step(nd, ev.msg)
		}
	case evTick:
		nd := &s.nodes[ev.node]
		if !nd.alive || nd.inc != ev.inc {
			return // this incarnation's ticks stopped
		}
		if s.now < nd.paused {
			s.scheduleTick(int(ev.node), s.now+s.tickOf(int(ev.node))) // frozen: this tick is lost
			return
		}
		if s.cfg.Trace != nil {
			s.tracef("%d tick %d\n", s.now, ev.node)
		}
		nd.rep.Tick()
		s.drain(nd)
		s.scheduleTick(int(ev.node), s.now+s.tickOf(int(ev.node)))
	case evTimer:
		if s.cfg.Trace != nil {
			s.tracef("%d timer\n", s.now)
		}
		ev.fn()
	case evArrival:
		s.clientArrival(int(ev.client))
	case evReply:
		s.clientReply(ev)
	case evRetry:
		s.clientRetry(int(ev.op), int(ev.attempt))
	}
}

// arrive puts a message or proposal that reached a live replica into its
// CPU queue, or serves it at once when CPU is zero.
func (s *Sim) arrive(nd *node, ev *payload) {
	if s.cfg.CPU == 0 && nd.busy <= s.now {
		if ev.kind == evPropose {
			s.propose(nd, ev.cmd, ev.op)
		} else {
			s.step(nd, ev.msg)
		}
		return
	}
	start := max(s.now, nd.busy)
	nd.busy = start + s.cfg.CPU
	i, p := s.q.alloc()
	p.kind, p.node, p.inc = evService, nd.id, nd.inc
	if ev.kind == evPropose {
		p.isProp, p.cmd, p.op = true, ev.cmd, ev.op
	} else {
		p.msg = ev.msg
	}
	s.q.push(nd.busy, i)
}

func (s *Sim) step(nd *node, msg paxos.Message) {
	if err := nd.rep.Step(msg); err != nil {
		s.stepErrs++
		if s.cfg.Trace != nil {
			s.tracef("%d step-error %d->%d %T: %v\n", s.now, msg.From, msg.To, msg.Body, err)
		}
	}
	if s.observe != nil {
		in := msg // only observed runs pay for the copy
		s.input = &in
		s.drain(nd)
		s.input = nil
		return
	}
	s.drain(nd)
}

func (s *Sim) propose(nd *node, cmd paxos.Command, op int32) {
	if op >= 0 {
		nd.waiting[cmd.ID()] = op
	}
	if s.cfg.Stamp != nil {
		cmd = s.cfg.Stamp(cmd, s.now)
	}
	nd.rep.Propose(cmd)
	s.proposed = &cmd
	s.drain(nd)
	s.proposed = nil
}

// drain carries out a replica's Ready: persist, send, record, answer.
func (s *Sim) drain(nd *node) {
	rd := nd.rep.Ready()
	if s.cfg.Codec {
		s.roundTrip(nd.id, &rd)
	}
	if rd.Snapshot != nil {
		nd.snap = rd.Snapshot
		clear(nd.records)
		nd.records = nd.records[:0]
	}
	if len(rd.Persist) > 0 {
		nd.records = append(nd.records, rd.Persist...)
	}
	if s.observe != nil && (s.proposed != nil || !rd.Empty()) {
		s.observe(Output{Replica: paxos.NodeID(nd.id), Incarnation: int(nd.inc), Proposed: s.proposed, Input: s.input, Ready: &rd})
	}
	if len(rd.Messages) > 0 {
		sent := s.sent[nd.id]
		if sent == nil {
			sent = map[reflect.Type]uint64{}
			s.sent[nd.id] = sent
		}
		for i := range rd.Messages {
			sent[reflect.TypeOf(rd.Messages[i].Body)]++
			s.send(int(nd.id), &rd.Messages[i])
		}
	}
	for _, c := range rd.Committed {
		if idx, ok := s.byID[c.ID]; ok {
			op := &s.ops[idx]
			op.Committed, op.Commit, op.Path = true, s.now, c.Path
			delete(s.byID, c.ID)
		}
	}
	if s.cfg.Record {
		for i := range rd.Decided {
			s.decs = append(s.decs, Decision{Replica: paxos.NodeID(nd.id), Incarnation: int(nd.inc), At: s.now, Decision: rd.Decided[i]})
		}
	}
	for i := range rd.Executed {
		e := &rd.Executed[i]
		if s.cfg.Record {
			s.execs = append(s.execs, Execution{Replica: paxos.NodeID(nd.id), Incarnation: int(nd.inc), At: s.now, Execution: *e})
		}
		if e.Command.Client == 0 || len(nd.waiting) == 0 {
			continue
		}
		id := e.Command.ID()
		if idx, ok := nd.waiting[id]; ok {
			delete(nd.waiting, id)
			s.reply(nd, idx, e)
		}
	}
}

// send routes a replica's message over the network.
func (s *Sim) send(from int, m *paxos.Message) {
	m.From = paxos.NodeID(from)
	to := int(m.To)
	if to < 0 || to >= s.n {
		s.dropped++
		if s.cfg.Trace != nil {
			s.tracef("%d drop %d->%d %T (no such replica)\n", s.now, m.From, m.To, m.Body)
		}
		return
	}
	if s.holding(from*s.n+to, m) {
		return
	}
	copies, d1, d2 := s.route(from, to)
	if copies == 0 {
		if s.cfg.Trace != nil {
			s.tracef("%d drop %d->%d %T\n", s.now, m.From, m.To, m.Body)
		}
		return
	}
	inc := s.nodes[to].inc
	i, p := s.q.alloc()
	p.kind, p.node, p.inc, p.msg = evDeliver, int32(to), inc, *m
	s.q.push(s.now+d1, i)
	if copies == 2 {
		if s.cfg.Trace != nil {
			s.tracef("%d dup %d->%d %T\n", s.now, m.From, m.To, m.Body)
		}
		i, p := s.q.alloc()
		p.kind, p.node, p.inc, p.msg = evDeliver, int32(to), inc, *m
		s.q.push(s.now+d2, i)
	}
}

func (s *Sim) tracef(format string, args ...any) {
	if s.traceErr != nil {
		return
	}
	if _, err := fmt.Fprintf(s.cfg.Trace, format, args...); err != nil {
		s.traceErr = err
		s.cfg.Trace = nil
	}
}

// Output is one Ready a replica returned, as an observer set with Observe
// sees it.
type Output struct {
	Replica     paxos.NodeID
	Incarnation int
	// Proposed is the command whose proposal the replica was handling,
	// nil when it was handling a message or a tick.
	Proposed *paxos.Command
	// Input is the message the replica was handling, nil when it was
	// handling a proposal or a tick.
	Input *paxos.Message
	// Ready is what the replica returned. Read it; never modify it.
	Ready *paxos.Ready
}

// Observe makes fn see every Ready a replica returns (the non-empty ones,
// and every one that follows a proposal), after its records reached
// durable storage and before its messages leave: links fn cuts with Cut or
// Partition already apply to those messages. Fault injectors use it to act
// on protocol events without knowing the protocol (isolate a replica right
// after it was proposed a command, restart it right after it learned a
// Nop). fn may change links and faults and schedule work with At (at the
// current time it runs right after this event); it must not crash,
// restart or propose to a replica itself. A nil fn stops observing.
func (s *Sim) Observe(fn func(Output)) { s.observe = fn }

// Coverage returns the coverage counts of every replica summed over all
// its incarnations so far, crashed ones included (see
// paxos.CoverageReporter); empty when the protocol does not count.
func (s *Sim) Coverage() paxos.Coverage {
	out := paxos.Coverage{}
	out.Add(s.cov)
	for i := range s.nodes {
		if cr, ok := s.nodes[i].rep.(paxos.CoverageReporter); ok && s.nodes[i].alive {
			out.Add(cr.Coverage())
		}
	}
	return out
}

// Execution is one command applied by one replica incarnation, recorded
// when Config.Record is set.
type Execution struct {
	Replica     paxos.NodeID
	Incarnation int
	// At is the virtual time the replica reported the execution.
	At time.Duration
	paxos.Execution
}

// Decision is one instance decision learned by one replica incarnation,
// recorded when Config.Record is set.
type Decision struct {
	Replica     paxos.NodeID
	Incarnation int
	// At is the virtual time the replica reported the decision.
	At time.Duration
	paxos.Decision
}

// Executions returns every execution reported so far, in the order reported
// (empty unless Config.Record).
func (s *Sim) Executions() []Execution { return append([]Execution(nil), s.execs...) }

// Decisions returns every decision reported so far, in the order reported
// (empty unless Config.Record). The Commands and Deps slices are shared with
// the replicas that reported them; do not modify them.
func (s *Sim) Decisions() []Decision { return append([]Decision(nil), s.decs...) }

// DecisionsSince returns the decisions reported after the first k, in the
// order reported (empty unless Config.Record); Decisions()[k:] without
// copying the k before. A checker calls it between events to examine each
// new decision once. The Commands and Deps slices are shared with the
// replicas that reported them; do not modify them.
func (s *Sim) DecisionsSince(k int) []Decision {
	if k < 0 {
		k = 0
	}
	if k >= len(s.decs) {
		return nil
	}
	return append([]Decision(nil), s.decs[k:]...)
}
