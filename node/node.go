// Package node is the live runtime: it drives one paxos.Replica with real
// clocks, a transport and durable storage.
//
// A Node runs its replica on a single goroutine. That goroutine takes
// inbound peer messages, client proposals and ticks of a real clock, hands
// them to the replica, and for each paxos.Ready, in order:
//
//  1. persists the snapshot and records (storage.Storage.Append: one fsync);
//  2. sends the messages;
//  3. answers the clients waiting for the executed commands.
//
// Inputs that arrive together are handed to the replica before one Ready is
// collected, so under load one fsync covers the records of many messages
// (group commit) and the transport batches their messages.
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/paxos-lab/paxos"
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
}

// Stats counts what a node did.
type Stats struct {
	Readies    uint64 // non-empty Readies carried out
	Appends    uint64 // storage appends (one fsync each)
	Records    uint64 // records persisted
	Messages   uint64 // messages sent
	Executed   uint64 // commands executed
	StepErrors uint64 // messages the replica refused
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
	deadline time.Time // SubmitAsync: answered with ErrTimeout after it
	answered bool      // loop goroutine
}

// answer delivers the waiter's one result.
func (w *waiter) answer(res result) {
	w.answered = true
	if w.done != nil {
		w.done(w.id, res.ex, res.err)
		return
	}
	w.ch <- res
}

type proposal struct {
	cmd paxos.Command
	w   *waiter
}

// Node drives one replica. Create it with Start.
type Node struct {
	cfg  Config
	log  *slog.Logger
	r    paxos.Replica
	id   paxos.NodeID
	in   <-chan paxos.Message
	tick time.Duration

	props   chan proposal
	cancels chan *waiter
	stop    chan struct{}
	done    chan struct{}

	stopOnce sync.Once
	errMu    sync.Mutex
	err      error

	waiting map[paxos.CommandID][]*waiter // owned by the loop goroutine
	expiry  []*waiter                     // SubmitAsync waiters by arrival, checked on each tick (loop)
	rebuilt bool                          // OnRebuilt was called (loop goroutine)
	local   []paxos.Message               // messages to self, owned by the loop

	readies, appends, records, messages, executed, stepErrors atomic.Uint64
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
		props: make(chan proposal, 1024), cancels: make(chan *waiter, 1024),
		stop: make(chan struct{}), done: make(chan struct{}),
		waiting: map[paxos.CommandID][]*waiter{},
	}
	go n.loop()
	return n, nil
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
		return paxos.Execution{}, fmt.Errorf("node: client id 0 is reserved for internal no-ops; use a random client id")
	}
	w := &waiter{id: cmd.ID(), ch: make(chan result, 1)}
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
// node's proposal queue is full. Deadlines should come in roughly
// increasing order (a server with one timeout): a waiter is checked once
// those submitted before it have been answered or expired. A command
// submitted while the node is stopping may go unanswered (the node's
// queue is not drained after its goroutine has exited).
func (n *Node) SubmitAsync(cmd paxos.Command, deadline time.Time, done func(paxos.CommandID, paxos.Execution, error)) {
	w := &waiter{id: cmd.ID(), done: done, deadline: deadline}
	if cmd.Client == 0 {
		done(w.id, paxos.Execution{}, fmt.Errorf("node: client id 0 is reserved for internal no-ops; use a random client id"))
		return
	}
	select {
	case <-n.done:
		done(w.id, paxos.Execution{}, n.stoppedErr())
		return
	default:
	}
	select {
	case n.props <- proposal{cmd: cmd, w: w}:
	case <-n.done:
		done(w.id, paxos.Execution{}, n.stoppedErr())
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
		Messages: n.messages.Load(), Executed: n.executed.Load(), StepErrors: n.stepErrors.Load()}
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

func (n *Node) loop() {
	defer close(n.done)
	defer n.failWaiters()
	ticker := time.NewTicker(n.tick)
	defer ticker.Stop()
	in := n.in
	for {
		select {
		case <-n.stop:
			return
		case m, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			n.step(m)
		case p := <-n.props:
			n.propose(p)
		case w := <-n.cancels:
			n.cancel(w)
		case now := <-ticker.C:
			n.r.Tick()
			n.expire(now)
		}
	drain:
		for i := 0; i < maxDrain; i++ {
			select {
			case m, ok := <-in:
				if !ok {
					in = nil
					break drain
				}
				n.step(m)
			case p := <-n.props:
				n.propose(p)
			case w := <-n.cancels:
				n.cancel(w)
			default:
				break drain
			}
		}
		if err := n.process(); err != nil {
			n.fail(err)
			n.log.Error("node: stopping: cannot persist the replica's state", "err", err)
			return
		}
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
	n.waiting[p.w.id] = append(n.waiting[p.w.id], p.w)
	if p.w.done != nil {
		n.expiry = append(n.expiry, p.w)
	}
	n.r.Propose(p.cmd)
}

// expire answers the SubmitAsync waiters whose deadline passed with
// ErrTimeout.
func (n *Node) expire(now time.Time) {
	i := 0
	for ; i < len(n.expiry); i++ {
		w := n.expiry[i]
		if w.answered {
			continue
		}
		if w.deadline.After(now) {
			break
		}
		n.cancel(w)
		w.answer(result{err: ErrTimeout})
	}
	clear(n.expiry[:i])
	n.expiry = n.expiry[i:]
}

func (n *Node) cancel(w *waiter) {
	ws := n.waiting[w.id]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(n.waiting, w.id)
	} else {
		n.waiting[w.id] = ws
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

func (n *Node) carryOut(rd *paxos.Ready) error {
	n.readies.Add(1)
	if rd.Snapshot != nil || len(rd.Persist) > 0 {
		if err := n.cfg.Storage.Append(rd.Snapshot, rd.Persist); err != nil {
			return err
		}
		n.appends.Add(1)
		n.records.Add(uint64(len(rd.Persist)))
	}
	for _, m := range rd.Messages {
		if m.To == n.id {
			n.local = append(n.local, m)
			continue
		}
		n.cfg.Transport.Send(m)
	}
	n.messages.Add(uint64(len(rd.Messages)))
	n.executed.Add(uint64(len(rd.Executed)))
	for _, ex := range rd.Executed {
		id := ex.Command.ID()
		ws, ok := n.waiting[id]
		if !ok {
			continue
		}
		delete(n.waiting, id)
		for _, w := range ws {
			w.answer(result{ex: ex})
		}
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

func (n *Node) failWaiters() {
	err := n.stoppedErr()
	for id, ws := range n.waiting {
		for _, w := range ws {
			w.answer(result{err: err})
		}
		delete(n.waiting, id)
	}
	n.expiry = nil
	// Proposals still queued were never handed to the replica.
	for {
		select {
		case p := <-n.props:
			p.w.answer(result{err: err})
		default:
			return
		}
	}
}
