// Package node is the live runtime: it drives one paxos.Replica with real
// clocks, a transport and durable storage.
//
// A Node runs its replica on a single goroutine, the loop. The loop takes
// inbound peer messages, client proposals and ticks of a real clock, hands
// them to the replica and collects a paxos.Ready. Inputs that arrive
// together are handed to the replica before one Ready is collected, up to
// a bound in number and in time (maxDrain, maxDrainTime), so that a
// backlog does not hold back what the replica decided meanwhile.
// SubmitAsyncBatch hands the loop several client commands at once (the
// client server submits so the requests it read from one connection
// together), so a burst costs one hand-off, not one per command. Once a
// Ready is carried out, a replica that implements ReadyRecycler gets its
// lists back for later Readies; what the replica decides does not depend
// on it.
//
// # Persist before send, without stalling the loop
//
// A Ready's records must be durable before any of its messages leaves,
// and before a client is answered from it. The loop does not wait for the
// disk: it hands each Ready to a persister goroutine through a FIFO queue
// and goes on stepping the replica. The persister takes every Ready
// queued, makes all their records durable with one storage.Storage.Append
// (one fsync covers everything that arrived while the previous one ran:
// group commit), then sends their messages, in queue order, and returns
// the Readies to the loop, which answers the clients waiting for their
// executed commands. As etcd's raft does with asynchronous storage writes,
// the replica's in-memory state may run ahead of its disk; that is safe
// because nothing derived from that state is seen outside the process
// until it is durable:
//
//   - Ready k's messages are sent only after Append returned for a group
//     holding Ready k, and every Ready before k was in that group or an
//     earlier one (the queue is FIFO and Appends happen one at a time, in
//     order), so when a peer sees a message, every record the replica
//     produced up to and including that Ready is durable. A Ready with no
//     records goes through the queue too whenever one is in it, since its
//     messages may reflect records still in flight.
//   - Clients are answered from Ready k only after the same point.
//   - Messages a replica sends itself are stepped at once: they change only
//     its own state, which a crash loses together with the records in
//     flight.
//   - A crash loses a suffix of Readies whose effects nobody saw; on
//     restart the replica rebuilds from the records that were durable, as
//     if those inputs had never arrived (they are retried or lost messages,
//     which every protocol tolerates).
//   - If an Append fails, the persister sends nothing more and the node
//     stops with the error.
//   - A snapshot that implements storage.Background may still be being
//     written when Append returns: what is durable then is the previous
//     snapshot and every record since, those of the snapshot's own Ready
//     included (such a snapshot replaces no record, in its Ready or in a
//     group: see persist), which the replica restores as if the snapshot
//     had never been taken. Only snapshots that nothing later relies on
//     being on disk say so (see storage.Background).
//
// When the queue is empty and a Ready has nothing to persist, the loop
// sends it at once. When the queue is empty and the storage skips fsync (a
// WAL opened with NoSync, whose Append only copies the records into the
// page cache), the loop appends the Ready's records itself, then sends it
// and answers its clients, in that order: the two hand-offs through the
// persister cost more than such an Append, and on a loaded machine they
// delayed each Ready by a different amount (see carryOut). A Ready with a
// snapshot still goes through the persister, and so does every Ready while
// one is queued, so the order is the same.
//
// One exception: a message whose body says it states nothing its sender
// may still have to make durable (Prompt; Multi-Paxos heartbeats) is sent
// at once, even while earlier Readies wait for the disk, once the
// persister has handed nothing back for a full tick, so that a slow disk
// (a snapshot being written, writeback under load) does not silence a
// leader and get it deposed by followers that hear nothing. This only
// reorders such messages before others, which every protocol tolerates
// (the transport's urgent lane does the same when a peer's queue stops
// moving). While the disk keeps up they keep their place.
//
// Serve (serve.go) composes a Node with the TCP transport, the file WAL and
// the client protocol server into a process-sized replica, as `paxos serve`
// runs it.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/idtable"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

// ErrStopped is returned by Submit when the node stopped before the command
// executed here. The command may still execute: retry it with the same
// (client, seq), here after a restart or at another replica.
var ErrStopped = errors.New("node stopped")

// Config configures a Node.
type Config struct {
	// Protocol names a registered protocol (see paxos.Protocols); New, if
	// set, is used instead.
	Protocol string
	New      paxos.Constructor
	// Replica is the replica's configuration. Its Restore is filled from
	// Storage when Storage holds anything.
	Replica paxos.Config
	// Transport carries messages to and from peers. The node closes it on
	// Stop.
	Transport transport.Transport
	// Storage keeps the replica's records. The node closes it on Stop.
	Storage storage.Storage
	// Tick is the length of one logical tick (default 10ms).
	Tick time.Duration
	// Logger receives the node's log (default slog.Default()).
	Logger *slog.Logger
	// Observe, if set, is called on the node goroutine with every Ready
	// after it was carried out (for metrics: commit paths, decisions). It
	// must not block or keep the Ready.
	Observe func(rd *paxos.Ready)
	// OnRebuilt, if set, is called once on the node goroutine when a
	// replica started with Replica.Rebuild reports (see paxos.Rebuilder) that
	// its rebuild finished and it votes again. Serve records it in the
	// data directory's identity file. A replica that does not implement
	// paxos.Rebuilder is taken to be rebuilding for as long as it runs; its
	// own persisted records carry its rebuild state across restarts, so
	// Serve keeps passing Rebuild (with Restore) on every restart until the
	// replica reports the rebuild finished.
	OnRebuilt func()
	// Stamp, if set, rewrites every submitted command on the node
	// goroutine just before the replica proposes it, given the node's wall
	// clock: an application's way to carry the receiving replica's time
	// instead of the client's (lockservice.StampWall). Nil leaves commands
	// unchanged.
	Stamp func(cmd paxos.Command, now time.Time) paxos.Command
	// Metrics, if set, receives the node's Prometheus series (see
	// metrics.go and docs/operations.md, "Metrics"): commits by path, request
	// latency by operation, queue depths, persist time, snapshots, leader
	// changes and the protocol's event counters. Start fails if they are
	// already registered there; give each node its own registry or wrap
	// it with distinct labels (prometheus.WrapRegistererWith).
	Metrics prometheus.Registerer
}

// Stats counts what a node did.
type Stats struct {
	Readies    uint64 // non-empty Readies carried out
	Appends    uint64 // storage appends (one fsync each)
	Records    uint64 // records persisted
	Messages   uint64 // messages sent
	Executed   uint64 // commands executed
	StepErrors uint64 // messages the replica refused
	Ticks      uint64 // ticks the event loop handled (the replica's logical clock)
	// LongestDiskWait is the longest time the event loop waited for the
	// persister to take a Ready because 4*maxInflight were queued (the
	// disk fell behind): meanwhile it steps nothing, ticks nothing and
	// sends no heartbeat.
	LongestDiskWait time.Duration
	// LongestTickGap is the longest wall-clock time between two ticks the
	// event loop handled, beyond one tick period: how long the replica's
	// logical clock stood still (a disk wait, a long step, or a process
	// that did not run).
	LongestTickGap time.Duration
}

type result struct {
	ex  paxos.Execution
	err error
}

// waiter is a submitted command waiting to execute here: Submit waits on
// ch; SubmitAsync gets done called on the loop goroutine.
type waiter struct {
	id       paxos.CommandID
	ch       chan result // buffered 1 (Submit)
	done     func(paxos.CommandID, paxos.Execution, error)
	deadline time.Time  // SubmitAsync: answered with ErrTimeout after it
	start    time.Time  // when it arrived, with metrics on (else zero)
	op       paxos.Op   // the command's operation, for metrics
	answered bool       // loop goroutine
	next     *waiter    // the next waiter for the same command (loop goroutine)
	b        *waitBatch // SubmitAsync(Batch): the waiters submitted with it
}

// answer delivers the waiter's one result.
func (w *waiter) answer(res result) {
	w.answered = true
	if w.done != nil {
		w.done(w.id, res.ex, res.err)
		if b := w.b; b != nil {
			b.left--
			b.release()
		}
		return
	}
	w.ch <- res
}

// waitBatch holds the waiters of one SubmitAsyncBatch (or SubmitAsync)
// call, which share a deadline: one allocation for all of them, reused
// once every one was answered and the loop's expiry list let go of it.
type waitBatch struct {
	ws       []waiter
	deadline time.Time
	left     int  // waiters not yet answered (loop goroutine once handed over)
	expiring bool // in Node.expiry (loop goroutine)
}

// waitBatches holds finished waitBatches for reuse.
var waitBatches sync.Pool

// newWaitBatch returns a waitBatch with k zero waiters.
func newWaitBatch(k int, deadline time.Time) *waitBatch {
	b, ok := waitBatches.Get().(*waitBatch)
	if !ok || cap(b.ws) < k {
		b = &waitBatch{ws: make([]waiter, k, max(k, 16))}
	}
	b.ws = b.ws[:k]
	b.deadline = deadline
	return b
}

// release keeps b for reuse once nothing refers to it: every waiter
// answered and b out of the expiry list.
func (b *waitBatch) release() {
	if b.left > 0 || b.expiring {
		return
	}
	clear(b.ws)
	if cap(b.ws) > 4*maxSubmitBatch {
		return
	}
	*b = waitBatch{ws: b.ws[:0]}
	waitBatches.Put(b)
}

// maxSubmitBatch is the most commands a waitBatch kept for reuse has room
// for, times four (client.Server submits at most 256 at once).
const maxSubmitBatch = 256

type proposal struct {
	cmd paxos.Command
	w   *waiter
}

// Node drives one replica. Create it with Start.
type Node struct {
	// unsynced: the storage skips fsync (unsyncedStorage); the loop
	// persists a Ready itself when nothing is in flight (see carryOut).
	unsynced bool
	// free holds finished batches for reuse (loop goroutine only).
	free []*batch
	cfg  Config
	log  *slog.Logger
	r    paxos.Replica
	id   paxos.NodeID
	in   <-chan paxos.Message
	tick time.Duration

	props   chan proposal
	propsN  chan []proposal // SubmitAsyncBatch's proposals, several at once
	cancels chan *waiter
	covReq  chan chan paxos.Coverage // Coverage's requests to the loop
	stop    chan struct{}
	done    chan struct{}

	stopOnce sync.Once
	errMu    sync.Mutex
	err      error

	waiting idtable.Table[*waiter] // owned by the loop goroutine; chained by next
	expiry  []*waitBatch           // SubmitAsync(Batch) waiters by arrival, checked on each tick (loop)
	rebuilt bool                   // OnRebuilt was called (loop goroutine)
	local   []paxos.Message        // messages to self, owned by the loop

	// The persist pipeline (see the package doc): Readies whose effects
	// wait for their records to be durable go to the persister in order,
	// and come back on durable once their messages are sent.
	toDisk   chan *batch
	durable  chan *batch
	inflight int // batches handed to the persister and not yet back (loop)
	// ticks counts the loop's ticks; moved is the tick at which the
	// persister last handed a batch back, or the pipeline last started
	// from empty (loop goroutine; see Prompt).
	ticks, moved uint64

	readies, appends, records, messages, executed, stepErrors, ticked atomic.Uint64
	longestDiskWait, longestTickGap                                   atomic.Int64 // nanoseconds (Stats)
	lastTick                                                          time.Time    // loop goroutine

	m *nodeMetrics // nil without Config.Metrics
}

// Start loads the replica's persisted state, builds the replica (restoring
// it when storage holds anything) and starts its goroutine.
func Start(cfg Config) (*Node, error) {
	if cfg.Transport == nil || cfg.Storage == nil {
		return nil, fmt.Errorf("node: a Transport and a Storage are required: %w", paxos.ErrConfig)
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 10 * time.Millisecond
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg = lg.With("replica", cfg.Replica.ID)
	p, err := cfg.Storage.Load()
	if err != nil {
		return nil, fmt.Errorf("node: load replica %d's state: %w", cfg.Replica.ID, err)
	}
	rcfg := cfg.Replica
	if !storage.Empty(p) {
		rcfg.Restore = &p
		lg.Info("node: restoring from storage", "snapshot", p.Snapshot != nil, "records", len(p.Records))
	}
	if rcfg.Rebuild {
		lg.Warn("node: starting as a non-voting member to rebuild lost state from the peers", "restored_records", len(p.Records))
	}
	var r paxos.Replica
	if cfg.New != nil {
		r, err = cfg.New(rcfg)
	} else {
		r, err = paxos.New(cfg.Protocol, rcfg)
	}
	if err != nil {
		return nil, fmt.Errorf("node: build replica %d: %w", cfg.Replica.ID, err)
	}
	n := &Node{
		cfg: cfg, log: lg, r: r, id: r.ID(), in: cfg.Transport.Recv(), tick: cfg.Tick,
		props: make(chan proposal, 1024), propsN: make(chan []proposal, 64), cancels: make(chan *waiter, 1024), covReq: make(chan chan paxos.Coverage),
		stop: make(chan struct{}), done: make(chan struct{}),
		toDisk: make(chan *batch, 4*maxInflight), durable: make(chan *batch, 256),
	}
	n.unsynced = unsyncedStorage(cfg.Storage)
	if cfg.Metrics != nil {
		if n.m, err = newNodeMetrics(n, cfg.Metrics); err != nil {
			return nil, err
		}
	}
	// The two goroutines carry profiler labels (paxos=loop, paxos=persist),
	// so a CPU profile splits by them: `go tool pprof -tagfocus paxos=loop`
	// shows what the event loop spends, snapshot work included.
	go pprof.Do(context.Background(), pprof.Labels("paxos", "persist"), func(context.Context) { n.persister() })
	go pprof.Do(context.Background(), pprof.Labels("paxos", "loop"), func(context.Context) { n.loop() })
	return n, nil
}

// unsyncedStorage reports whether st skips fsync (a storage.WAL opened
// with NoSync says so through its Unsynced method).
func unsyncedStorage(st storage.Storage) bool {
	u, ok := st.(interface{ Unsynced() bool })
	return ok && u.Unsynced()
}

// ID returns the replica's id.
func (n *Node) ID() paxos.NodeID { return n.id }

// Submit proposes cmd at this replica and waits until it executes here, then
// returns its execution (Duplicate set if an earlier attempt with the same
// (client, seq) already executed). It returns ctx's error when ctx ends
// first, and an error wrapping ErrStopped when the node stops first; in both
// cases the command may still execute, so retry it with the same
// (client, seq). cmd.Client must not be 0 (reserved for internal no-ops).
func (n *Node) Submit(ctx context.Context, cmd paxos.Command) (paxos.Execution, error) {
	if cmd.Client == 0 {
		return paxos.Execution{}, errReservedClient
	}
	w := &waiter{id: cmd.ID(), ch: make(chan result, 1)}
	if n.m != nil {
		w.start, w.op = time.Now(), cmd.Op
	}
	select {
	case n.props <- proposal{cmd: cmd, w: w}:
	case <-ctx.Done():
		return paxos.Execution{}, ctx.Err()
	case <-n.done:
		return paxos.Execution{}, n.stoppedErr()
	}
	select {
	case res := <-w.ch:
		return res.ex, res.err
	case <-ctx.Done():
		select {
		case n.cancels <- w:
		case <-n.done:
		}
		if n.m != nil {
			n.m.failed.WithLabelValues("canceled").Inc()
		}
		return paxos.Execution{}, ctx.Err()
	case <-n.done:
		select {
		case res := <-w.ch:
			return res.ex, res.err
		default:
		}
		return paxos.Execution{}, n.stoppedErr()
	}
}

// ErrTimeout is the error SubmitAsync reports when a command did not
// execute here before its deadline. It may still execute: retry it with
// the same (client, seq).
var ErrTimeout = errors.New("node: the command did not execute before its deadline")

// SubmitAsync proposes cmd at this replica without waiting. done is called
// exactly once, on the node's goroutine (it must not block): with the
// command's execution, with ErrTimeout once deadline has passed (checked on
// every tick), or with an error wrapping ErrStopped. As with Submit, the
// command may still execute after an error. It blocks only while the
// node's proposal queue is full (it fills while MaxWaiting commands wait
// here, or the disk is behind). Deadlines should come in roughly
// increasing order (a server with one timeout): a waiter is checked once
// those submitted before it have been answered or expired. A command
// submitted while the node is stopping may go unanswered (the node's
// queue is not drained after its goroutine has exited).
func (n *Node) SubmitAsync(cmd paxos.Command, deadline time.Time, done func(paxos.CommandID, paxos.Execution, error)) {
	if cmd.Client == 0 {
		done(cmd.ID(), paxos.Execution{}, errReservedClient)
		return
	}
	select {
	case <-n.done:
		done(cmd.ID(), paxos.Execution{}, n.stoppedErr())
		return
	default:
	}
	b := newWaitBatch(1, deadline)
	w := &b.ws[0]
	*w = waiter{id: cmd.ID(), done: done, deadline: deadline, b: b}
	if n.m != nil {
		w.start, w.op = time.Now(), cmd.Op
	}
	b.left = 1
	select {
	case n.props <- proposal{cmd: cmd, w: w}:
	case <-n.done:
		done(w.id, paxos.Execution{}, n.stoppedErr())
	}
}

// errReservedClient refuses a command of client id 0, which the protocols
// use for their own no-ops.
var errReservedClient = fmt.Errorf("node: %w", paxos.ErrReservedClient)

// SubmitAsyncBatch is SubmitAsync for several commands with one deadline:
// they reach the node's goroutine together, in order, in one hand-off
// instead of one each (a client server submits so the requests it read
// from one connection at once). done is called exactly once per command,
// as for SubmitAsync. cmds may be reused once it returns.
func (n *Node) SubmitAsyncBatch(cmds []paxos.Command, deadline time.Time, done func(paxos.CommandID, paxos.Execution, error)) {
	b := newWaitBatch(len(cmds), deadline) // the batch's waiters, together
	var ps []proposal
	if p, ok := proposalLists.Get().(*[]proposal); ok && cap(*p) >= len(cmds) {
		ps = (*p)[:0]
	} else {
		ps = make([]proposal, 0, max(len(cmds), 64))
	}
	var start time.Time
	if n.m != nil {
		start = time.Now()
	}
	for i, cmd := range cmds {
		w := &b.ws[i]
		*w = waiter{id: cmd.ID(), done: done, deadline: deadline, start: start, op: cmd.Op, b: b}
		if cmd.Client == 0 {
			w.answered = true
			done(w.id, paxos.Execution{}, errReservedClient)
			continue
		}
		ps = append(ps, proposal{cmd: cmd, w: w})
	}
	b.left = len(ps)
	if len(ps) == 0 {
		b.release()
		return
	}
	select {
	case <-n.done:
	default:
		select {
		case n.propsN <- ps:
			return
		case <-n.done:
		}
	}
	err := n.stoppedErr()
	for _, p := range ps {
		done(p.w.id, paxos.Execution{}, err)
	}
}

func (n *Node) stoppedErr() error {
	if err := n.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStopped, err)
	}
	return ErrStopped
}

// Err returns the error that stopped the node (a storage failure), or nil.
func (n *Node) Err() error {
	n.errMu.Lock()
	defer n.errMu.Unlock()
	return n.err
}

// Done is closed when the node's goroutine has exited (after Stop, or after
// a fatal storage error).
func (n *Node) Done() <-chan struct{} { return n.done }

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{Readies: n.readies.Load(), Appends: n.appends.Load(), Records: n.records.Load(),
		Messages: n.messages.Load(), Executed: n.executed.Load(), StepErrors: n.stepErrors.Load(), Ticks: n.ticked.Load(),
		LongestDiskWait: time.Duration(n.longestDiskWait.Load()), LongestTickGap: time.Duration(n.longestTickGap.Load())}
}

// Coverage returns the replica's event counters (see
// paxos.CoverageReporter), for example Multi-Paxos's elections started, or
// nil when its protocol keeps none or the node has stopped. The node's
// goroutine reads them between two steps.
func (n *Node) Coverage() paxos.Coverage {
	if _, ok := n.r.(paxos.CoverageReporter); !ok {
		return nil
	}
	ch := make(chan paxos.Coverage, 1)
	select {
	case n.covReq <- ch:
	case <-n.done:
		return nil
	}
	return <-ch
}

// Stop stops the replica's goroutine, fails pending Submits with ErrStopped,
// and closes the transport and the storage. It waits for all of that or
// until ctx ends. It is safe to call more than once.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() { close(n.stop) })
	select {
	case <-n.done:
	case <-ctx.Done():
		return fmt.Errorf("node: stop replica %d: %w", n.id, ctx.Err())
	}
	var errs []error
	if err := n.cfg.Transport.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := n.cfg.Storage.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// abort stops the node's goroutine with err as its error (Err); Stop
// still closes the transport and storage.
func (n *Node) abort(err error) {
	n.fail(err)
	n.stopOnce.Do(func() { close(n.stop) })
}

func (n *Node) fail(err error) {
	n.errMu.Lock()
	if n.err == nil {
		n.err = err
	}
	n.errMu.Unlock()
}

// maxDrain bounds how many inputs are handed to the replica before one
// Ready is carried out.
const maxDrain = 512

// maxDrainTime bounds how long the loop hands inputs to the replica before
// it carries out a Ready, whatever maxDrain allows. Nothing the replica
// decides while it steps (replies to peers, commits, answers to clients)
// leaves before that Ready, so a drain that went on while inputs kept
// arriving held back everything this replica had to say: with the
// replica's process short of CPU (three replicas and the load generator on
// two cores), a step took up to a millisecond of wall time and 512 of them
// over half a second, in which no command led here committed. Those drains
// were the slowest 1% of requests at 1024 clients. A drain usually ends
// well before either bound, when the queues are empty. The clock is read
// before each input: a step costs microseconds, a reading tens of
// nanoseconds, and a starved process may take far longer than a step
// between two inputs.
const maxDrainTime = 5 * time.Millisecond

// maxInflight is how many Readies may wait for the disk before the loop
// stops taking client proposals (they wait in their channel, and their
// senders with them). It keeps stepping peer messages and ticking the
// replica meanwhile, so that a leader whose disk is slow still sends its
// heartbeats (see Prompt) and a follower still hears its leader; their
// Readies queue behind (the queue holds 4*maxInflight before the loop
// waits for the disk).
const maxInflight = 256

// MaxWaiting is how many submitted commands may wait here for their
// execution before the loop stops taking more (they wait in their
// channel, and their senders with them: a client server stops reading its
// connections, and TCP holds the clients back). It bounds the memory and
// the per-command work an open-loop overload can make a replica take on
// (the loop keeps stepping peer messages and ticking meanwhile), and is
// far above what keeps a replica busy: about 64 batches of 1,024.
const MaxWaiting = 1 << 16

func (n *Node) storageFailed(err error) {
	n.fail(err)
	n.log.Error("node: stopping: cannot persist the replica's state", "err", err)
}

func (n *Node) loop() {
	defer close(n.done)
	defer n.failWaiters()
	defer n.drainPipeline()
	ticker := time.NewTicker(n.tick)
	defer ticker.Stop()
	in := n.in
	for {
		props, propsN := n.props, n.propsN
		if n.inflight >= maxInflight || n.waiting.Len() >= MaxWaiting {
			// The disk is behind, or enough commands wait: no new work
			// until they drain.
			props, propsN = nil, nil
		}
		select {
		case <-n.stop:
			return
		case m, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			n.step(m)
		case p := <-props:
			n.propose(p)
		case ps := <-propsN:
			n.proposeAll(ps)
		case w := <-n.cancels:
			n.cancel(w)
		case ch := <-n.covReq:
			ch <- n.r.(paxos.CoverageReporter).Coverage()
		case now := <-ticker.C:
			n.onTick(now)
		case b := <-n.durable:
			if err := n.finish(b); err != nil {
				n.storageFailed(err)
				return
			}
		}
		started := time.Now()
	drain:
		for i := 0; i < maxDrain && time.Since(started) < maxDrainTime; i++ {
			select {
			case m, ok := <-in:
				if !ok {
					in = nil
					break drain
				}
				n.step(m)
			case p := <-props:
				n.propose(p)
			case ps := <-propsN:
				n.proposeAll(ps)
			case w := <-n.cancels:
				n.cancel(w)
			case b := <-n.durable:
				if err := n.finish(b); err != nil {
					n.storageFailed(err)
					return
				}
			default:
				break drain
			}
		}
		if err := n.process(); err != nil {
			n.storageFailed(err)
			return
		}
	}
}

// onTick is one tick of the loop's clock: the replica's logical time
// advances and waiters past their deadline are answered.
func (n *Node) onTick(now time.Time) {
	if !n.lastTick.IsZero() {
		storeMax(&n.longestTickGap, now.Sub(n.lastTick)-n.tick)
	}
	n.lastTick = now
	n.ticks++
	n.ticked.Add(1)
	n.r.Tick()
	n.expire(now)
	if n.m != nil {
		n.m.tick()
	}
}

func (n *Node) step(m paxos.Message) {
	if err := n.r.Step(m); err != nil {
		c := n.stepErrors.Add(1)
		if c <= 10 || c%1000 == 0 {
			n.log.Warn("node: replica refused a message", "from", m.From, "type", fmt.Sprintf("%T", m.Body), "err", err, "refused_total", c)
		}
	}
}

func (n *Node) propose(p proposal) {
	if i := n.waiting.Find(idtable.ID(p.w.id)); n.waiting.At(i) == nil {
		n.waiting.SetAt(i, idtable.ID(p.w.id), p.w)
	} else {
		head := n.waiting.At(i)
		last := head
		for last.next != nil {
			last = last.next
		}
		last.next = p.w
	}
	if b := p.w.b; b != nil && !b.expiring {
		b.expiring = true
		n.expiry = append(n.expiry, b)
	}
	if n.cfg.Stamp != nil {
		p.cmd = n.cfg.Stamp(p.cmd, time.Now())
	}
	n.r.Propose(p.cmd)
}

// proposeAll proposes SubmitAsyncBatch's commands in order, then keeps
// the list for another batch.
func (n *Node) proposeAll(ps []proposal) {
	for _, p := range ps {
		n.propose(p)
	}
	clear(ps)
	ps = ps[:0]
	proposalLists.Put(&ps)
}

// proposalLists holds SubmitAsyncBatch's lists of proposals for reuse.
var proposalLists sync.Pool

// expire answers the SubmitAsync waiters whose deadline passed with
// ErrTimeout.
func (n *Node) expire(now time.Time) {
	i := 0
	for ; i < len(n.expiry); i++ {
		b := n.expiry[i]
		if b.left > 0 {
			if b.deadline.After(now) {
				break
			}
			for j := range b.ws {
				w := &b.ws[j]
				if w.answered {
					continue
				}
				n.cancel(w)
				w.answer(result{err: ErrTimeout})
				if n.m != nil {
					n.m.timeouts.Inc()
				}
			}
		}
		b.expiring = false
		b.release()
	}
	clear(n.expiry[:i])
	n.expiry = n.expiry[i:]
}

func (n *Node) cancel(w *waiter) {
	i := n.waiting.Find(idtable.ID(w.id))
	head := n.waiting.At(i)
	if head == w {
		if w.next == nil {
			n.waiting.Delete(i)
		} else {
			n.waiting.SetAt(i, idtable.ID(w.id), w.next)
		}
	} else {
		for x := head; x != nil; x = x.next {
			if x.next == w {
				x.next = w.next
				break
			}
		}
	}
	w.next = nil
}

// answerAll answers every waiter of the chain that starts at w.
func answerAll(w *waiter, res result) {
	for w != nil {
		next := w.next
		w.next = nil
		w.answer(res)
		w = next
	}
}

// process carries out Readies until the replica has nothing more to do
// (messages to itself are stepped at once).
func (n *Node) process() error {
	for {
		rd := n.r.Ready()
		if rd.Empty() && len(n.local) == 0 {
			return nil
		}
		if !rd.Empty() {
			if err := n.carryOut(&rd); err != nil {
				return err
			}
		}
		local := n.local
		n.local = nil
		for _, m := range local {
			n.step(m)
		}
	}
}

// Prompt is implemented by message bodies that state nothing their sender
// may not yet have made durable, so that the node may send them before
// the records of earlier Readies are durable (see the package doc): a
// Multi-Paxos heartbeat carries the leader's ballot, whose promise was
// durable before its Prepare left, and a commit point the follower only
// echoes back (it applies and votes on nothing in a heartbeat; see
// multi.Heartbeat.Prompt). Such a body may also overtake messages of
// earlier Readies. Protocols implement it without importing this
// package (a method Prompt() bool on the body type). A body whose message
// may reflect records still in flight must not implement it.
type Prompt interface {
	Prompt() bool
}

// promptAfterTicks is how long the persister must have handed nothing
// back before a Prompt message overtakes the Readies in flight: at least
// one full tick. While the disk keeps up, such a message keeps its place
// (a Multi-Paxos heartbeat that overtook the Commits of the slots it
// announced made followers look behind, and the leader sent them those
// slots again in CatchUps); a disk that stalls for a tick (a snapshot,
// writeback) lets the next one out at once.
const promptAfterTicks = 2

func isPrompt(body any) bool {
	p, ok := body.(Prompt)
	return ok && p.Prompt()
}

// ReadyRecycler is implemented by replicas that reuse the lists of their
// Readies (Multi-Paxos and EPaxos): the node calls RecycleReady once it has
// carried a Ready out (its records durable, its messages sent, its clients
// answered, Config.Observe called) and holds nothing of its lists but
// Persist. Protocols implement it without importing this package.
type ReadyRecycler interface {
	RecycleReady(rd *paxos.Ready)
}

// batch is one Ready on its way through the persist pipeline.
type batch struct {
	rd    paxos.Ready
	msgs  []paxos.Message // to peers, sent once rd's records are durable
	piped bool            // went through the persister
	err   error           // set by the persister when persisting failed
}

// carryOut starts carrying out rd: messages to this replica are stepped at
// once (by process); everything else happens once rd's records, and those
// of every Ready before it, are durable. When nothing is waiting for the
// disk and rd has nothing to persist, that is now.
func (n *Node) carryOut(rd *paxos.Ready) error {
	n.readies.Add(1)
	var b *batch
	if k := len(n.free); k > 0 {
		b, n.free = n.free[k-1], n.free[:k-1]
		b.rd = *rd
	} else {
		b = &batch{rd: *rd}
	}
	for _, m := range rd.Messages {
		if m.To == n.id {
			n.local = append(n.local, m)
			continue
		}
		if n.inflight > 0 && n.ticks-n.moved >= promptAfterTicks && isPrompt(m.Body) {
			n.cfg.Transport.Send(m) // see Prompt
			continue
		}
		b.msgs = append(b.msgs, m)
	}
	if n.inflight == 0 && rd.Snapshot == nil && (len(rd.Persist) == 0 || n.unsynced) {
		// Nothing to persist, or a storage without fsync, whose Append
		// only copies the records into the page cache: persisted here,
		// sent and answered at once, without the persister's two
		// hand-offs, which a loaded machine delayed by milliseconds,
		// differently for each Ready.
		if len(rd.Persist) > 0 {
			if err := n.persist([]*batch{b}); err != nil {
				return err
			}
		}
		n.send(b)
		return n.finish(b)
	}
	if n.inflight == 0 {
		n.moved = n.ticks
	}
	n.inflight++
	b.piped = true
	select {
	case n.toDisk <- b:
		return nil
	default:
	}
	waited := time.Now()
	defer func() { storeMax(&n.longestDiskWait, time.Since(waited)) }()
	for {
		select {
		case n.toDisk <- b:
			return nil
		case d := <-n.durable:
			if err := n.finish(d); err != nil {
				return err
			}
		}
	}
}

// storeMax raises v to d if d is larger; only the loop goroutine stores.
func storeMax(v *atomic.Int64, d time.Duration) {
	if int64(d) > v.Load() {
		v.Store(int64(d))
	}
}

// persister makes batches durable in order: it takes every batch queued,
// persists all their records with one Append (one fsync), sends their
// messages in order, and hands them back to the loop. After a failure it
// persists and sends nothing more.
func (n *Node) persister() {
	defer close(n.durable)
	var failed error
	var group []*batch
	for b := range n.toDisk {
		group = append(group[:0], b)
	more:
		for {
			select {
			case b, ok := <-n.toDisk:
				if !ok {
					break more
				}
				group = append(group, b)
			default:
				break more
			}
		}
		if failed == nil {
			failed = n.persist(group)
		}
		for _, b := range group {
			if failed != nil {
				b.err = failed
			} else {
				n.send(b)
			}
			n.durable <- b
		}
		clear(group)
	}
}

// persist appends the records of a group of batches in one Append: the
// last snapshot among them, then every record after it (a snapshot
// replaces what was persisted before it). A background snapshot
// (storage.Background) replaces nothing: the records before it stay, and
// it does not displace an earlier snapshot of the group that is not one.
func (n *Node) persist(group []*batch) error {
	snap, recs := group[0].rd.Snapshot, group[0].rd.Persist
	if len(group) > 1 {
		snap, recs = nil, nil
		syncSnap := false // snap must be written before the records after it
		for _, b := range group {
			if s := b.rd.Snapshot; s != nil {
				bg, _ := s.(storage.Background)
				switch {
				case bg == nil || !bg.BackgroundSnapshot():
					snap, recs, syncSnap = s, recs[:0], true
				case !syncSnap:
					snap = s
				}
			}
			recs = append(recs, b.rd.Persist...)
		}
	}
	if snap == nil && len(recs) == 0 {
		return nil
	}
	var t0 time.Time
	if n.m != nil {
		t0 = time.Now()
	}
	if err := n.cfg.Storage.Append(snap, recs); err != nil {
		return err
	}
	if n.m != nil {
		n.m.persist.Observe(time.Since(t0).Seconds())
	}
	n.appends.Add(1)
	n.records.Add(uint64(len(recs)))
	return nil
}

func (n *Node) send(b *batch) {
	for _, m := range b.msgs {
		n.cfg.Transport.Send(m)
	}
}

// finish completes a batch on the loop goroutine once its messages are
// sent: it answers the clients waiting for its executed commands.
func (n *Node) finish(b *batch) error {
	defer n.recycle(b)
	if b.piped {
		n.inflight--
		n.moved = n.ticks
	}
	if b.err != nil {
		return b.err
	}
	rd := &b.rd
	n.messages.Add(uint64(len(rd.Messages)))
	n.executed.Add(uint64(len(rd.Executed)))
	var now time.Time
	for i := range rd.Executed {
		ex := &rd.Executed[i] // not copied unless a client waits for it
		id := ex.Command.ID()
		if n.waiting.Len() == 0 {
			break // a follower's executions: no client waits here
		}
		j := n.waiting.Find(idtable.ID(id))
		w := n.waiting.At(j)
		if w == nil {
			continue
		}
		n.waiting.Delete(j)
		if n.m != nil {
			if now.IsZero() {
				now = time.Now()
			}
			n.m.answered(w, now)
		}
		answerAll(w, result{ex: *ex})
	}
	if n.m != nil {
		n.m.observe(rd)
	}
	if n.cfg.Observe != nil {
		n.cfg.Observe(rd)
	}
	if n.cfg.Replica.Rebuild && !n.rebuilt {
		if rb, ok := n.r.(paxos.Rebuilder); ok && !rb.Rebuilding() {
			n.rebuilt = true
			n.log.Info("node: rebuild finished; the replica votes again")
			if n.cfg.OnRebuilt != nil {
				n.cfg.OnRebuilt()
			}
		}
	}
	return nil
}

// recycle keeps a finished batch for reuse, with its message slice.
func (n *Node) recycle(b *batch) {
	if rr, ok := n.r.(ReadyRecycler); ok {
		rr.RecycleReady(&b.rd)
	}
	if len(n.free) >= 64 || cap(b.msgs) > 4096 {
		return
	}
	clear(b.msgs)
	*b = batch{msgs: b.msgs[:0]}
	n.free = append(n.free, b)
}

// drainPipeline stops the persister once the loop exits: batches already
// queued are persisted and sent (or dropped after a failure) and the
// loop's counters and waiters see them.
func (n *Node) drainPipeline() {
	close(n.toDisk)
	for b := range n.durable {
		if b.err == nil {
			_ = n.finish(b)
		}
	}
	n.inflight = 0
}

func (n *Node) failWaiters() {
	err := n.stoppedErr()
	n.waiting.All(func(_ idtable.ID, w *waiter) {
		if n.m != nil {
			for x := w; x != nil; x = x.next {
				n.m.failed.WithLabelValues("stopped").Inc()
			}
		}
		answerAll(w, result{err: err})
	})
	n.waiting.Clear()
	n.expiry = nil
	// Proposals still queued were never handed to the replica.
	for {
		select {
		case p := <-n.props:
			p.w.answer(result{err: err})
		case ps := <-n.propsN:
			for _, p := range ps {
				p.w.answer(result{err: err})
			}
		default:
			return
		}
	}
}
