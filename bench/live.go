package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/lockservice"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/quorum"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

// runLive runs one (protocol, conflict, seed) with real replicas in this
// process: one node per replica on its own goroutine, TCP over loopback
// with each link delayed by half its RTT (transport WAN emulation), a file
// WAL per replica in a temporary directory (fsync unless Spec.LiveNoSync),
// and client goroutines submitting at their site's node. Times are wall
// clock, so results vary from run to run and with the machine's load.
//
// With Spec.Cluster, it loads a running cluster instead (runLiveCluster);
// with Spec.Serve, it starts the replicas as separate processes and also
// measures their CPU time and memory (startProcCluster).
func runLive(ctx context.Context, s *Spec, proto string, conflict float64, seed uint64) (runRec, uint64, error) {
	if s.Cluster != "" {
		return runLiveCluster(ctx, s, proto, conflict, seed)
	}
	if len(s.Serve) > 0 {
		if len(s.Faults) > 0 {
			return runRec{}, 0, fmt.Errorf("%w: faults need the in-process live mode (paxos bench --in-process)", ErrSpec)
		}
		pc, err := startProcCluster(ctx, s, proto, seed)
		if err != nil {
			return runRec{}, 0, err
		}
		defer pc.stop()
		return driveCluster(ctx, s, conflict, seed, &pc.cluster, pc)
	}
	if s.Commands != 0 || s.MemoryEvery != 0 {
		return runRec{}, 0, fmt.Errorf("%w: --commands and --memory-every need replicas started as processes (drop --in-process)", ErrSpec)
	}
	if s.CPU != 0 || s.Jitter != 0 {
		return runRec{}, 0, fmt.Errorf("%w: --cpu-us and --jitter-ms model the simulator's network; live mode measures the real machine (drop them)", ErrSpec)
	}
	for _, f := range s.Faults {
		if f.Kind != "crash" {
			return runRec{}, 0, fmt.Errorf("%w: fault %q: live mode supports crash only", ErrSpec, f.Kind)
		}
	}
	n := s.Replicas
	hb, el, rt := s.LiveTimeouts()
	rc := paxos.Config{N: n, HeartbeatTicks: hb, ElectionTicks: el, RetryTicks: rt, Batch: s.Batch,
		Thrifty: s.Thrifty, InitialLeader: paxos.NodeID(s.Leader)}
	var stamp func(paxos.Command, time.Time) paxos.Command
	if s.App == AppLockService {
		rc.StateMachine, stamp = lockservice.New, lockservice.StampWall
	}
	if takesQuorums(proto) && (s.Q1 > 0 || s.Q2 > 0) {
		q, err := quorum.NewCounting(n, s.quorumQ1(), s.quorumQ2())
		if err != nil {
			return runRec{}, 0, fmt.Errorf("--q1/--q2: %w", err)
		}
		rc.Quorums = q
	}
	dir, err := os.MkdirTemp("", "paxos-live-*")
	if err != nil {
		return runRec{}, 0, fmt.Errorf("bench: live mode needs a temporary directory for the WALs: %w", err)
	}
	defer os.RemoveAll(dir)
	lns := make([]net.Listener, n)
	peers := make([]string, n)
	for i := range lns {
		if lns[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return runRec{}, 0, fmt.Errorf("bench: live mode: listen on loopback: %w", err)
		}
		peers[i] = lns[i].Addr().String()
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rttm := s.replicaRTT()
	var mu sync.Mutex
	commits := map[paxos.CommandID]struct {
		at   time.Duration
		path paxos.Path
	}{}
	var start time.Time
	nodes := make([]*node.Node, n)
	stopAll := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, nd := range nodes {
			if nd != nil {
				_ = nd.Stop(sctx)
			}
		}
	}
	defer stopAll()
	secret, err := transport.NewSecret() // the replicas authenticate one another
	if err != nil {
		return runRec{}, 0, err
	}
	for i := 0; i < n; i++ {
		tr, err := transport.NewTCP(transport.TCPConfig{Cluster: "bench", ID: paxos.NodeID(i), Peers: peers, Listener: lns[i], RTT: rttm, Logger: quiet, Secret: secret})
		if err != nil {
			return runRec{}, 0, fmt.Errorf("bench: live transport %d: %w", i, err)
		}
		st, err := storage.OpenWAL(filepath.Join(dir, fmt.Sprint(i)), storage.WALOptions{Logger: quiet, NoSync: s.LiveNoSync})
		if err != nil {
			tr.Close()
			return runRec{}, 0, fmt.Errorf("bench: live WAL %d: %w", i, err)
		}
		cfg := rc
		cfg.ID = paxos.NodeID(i)
		cfg.Seed = seed*1000 + uint64(i)
		if rttm != nil {
			cfg.Distances = append([]float64(nil), rttm[i]...)
		}
		nodes[i], err = node.Start(node.Config{Protocol: proto, Replica: cfg, Transport: tr, Storage: st, Tick: s.Tick, Logger: quiet, Stamp: stamp,
			Observe: func(rd *paxos.Ready) {
				if len(rd.Committed) == 0 {
					return
				}
				mu.Lock() // start is set once the nodes are ready, under mu
				now := time.Since(start)
				for _, c := range rd.Committed {
					if _, ok := commits[c.ID]; !ok {
						commits[c.ID] = struct {
							at   time.Duration
							path paxos.Path
						}{now, c.Path}
					}
				}
				mu.Unlock()
			}})
		if err != nil {
			tr.Close()
			st.Close()
			return runRec{}, 0, fmt.Errorf("bench: live node %d: %w", i, err)
		}
	}
	// Start the clock only once the transports are connected: a read
	// proposed at every replica has executed.
	if err := liveReady(ctx, nodes, s.App); err != nil {
		return runRec{}, 0, err
	}
	mu.Lock()
	start = time.Now()
	mu.Unlock()
	end := s.Warmup + s.Duration
	runCtx, cancel := context.WithTimeout(ctx, end)
	defer cancel()
	alive := make([]bool, n)
	for i := range alive {
		alive[i] = true
	}
	for _, f := range s.Faults {
		id := f.Replica
		if id == LeaderReplica {
			id = max(0, s.Leader)
		}
		tm := time.AfterFunc(f.At, func() {
			mu.Lock()
			alive[id] = false
			mu.Unlock()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			_ = nodes[id].Stop(sctx)
		})
		defer tm.Stop()
	}
	retry := time.Second + 4*time.Duration(s.MaxRTT()*float64(time.Millisecond))
	exec := func(ctx context.Context, site int, cmd paxos.Command) error {
		target := site
		for ctx.Err() == nil {
			mu.Lock()
			ok := alive[target]
			mu.Unlock()
			if ok {
				actx, c := context.WithTimeout(ctx, retry)
				_, err := nodes[target].Submit(actx, cmd)
				c()
				if err == nil {
					return nil
				}
			}
			target = (target + 1) % n
		}
		return ctx.Err()
	}
	commitOf := func(id paxos.CommandID) (time.Duration, paxos.Path, bool) {
		mu.Lock()
		defer mu.Unlock()
		cm, ok := commits[id]
		return cm.at, cm.path, ok
	}
	newID := func(site, c int) (uint64, error) { return 0, nil }
	ops, err := liveClients(runCtx, s, conflict, seed, start, end, newID, exec, nil, commitOf)
	if err != nil {
		return runRec{}, 0, err
	}
	if err := ctx.Err(); err != nil {
		return runRec{}, 0, err
	}
	var msgs uint64
	for _, nd := range nodes {
		msgs += nd.Stats().Messages
	}
	return runRec{ops: ops, end: end, start: start}, msgs, nil
}

// liveClients runs the spec's clients against exec until ctx ends (at
// start+end) and returns their operations: Spec.Clients in all, spread
// over the client sites, each with one request outstanding (closed loop),
// or at Spec.Rate per site (open loop). newID gives client c of a site its
// id (0 means number clients 1, 2, ...); exec runs one command at a site's replica
// (retrying elsewhere as it sees fit); commitOf reports a command's commit
// time and path if known.
//
// With bindAsync, no goroutine waits per command. In a closed loop each
// client's next command is sent from the callback that completes its
// previous one (see asyncLoop), and bindAsync is called once per client:
// it returns the function that sends the client's commands, each
// completed by one call of done. In an open loop each client's goroutine
// sends its commands on schedule, in seq order, binding each with a done
// of its own (a goroutine per command waiting in exec cost the generator
// gigabytes and a core once the replicas fell behind the rate, and sent
// a client's commands out of order).
func liveClients(ctx context.Context, s *Spec, conflict float64, seed uint64, start time.Time, end time.Duration,
	newID func(site, c int) (uint64, error),
	exec func(ctx context.Context, site int, cmd paxos.Command) error,
	bindAsync func(site int, id uint64, done func(error)) func(paxos.Command),
	commitOf func(paxos.CommandID) (time.Duration, paxos.Path, bool)) ([]opRec, error) {
	var mu sync.Mutex
	var ops []opRec
	var wg sync.WaitGroup
	var loop *asyncLoop
	if bindAsync != nil && s.Rate <= 0 {
		loop = &asyncLoop{ctx: ctx, start: start, end: end, bind: bindAsync, commitOf: commitOf, wg: &wg}
	}
	next := uint64(0)
	for si, site := range s.clientSites() {
		for c := 0; c < s.clientsAt(si); c++ {
			next++
			id, err := newID(site, c)
			if err != nil {
				return nil, err
			}
			if id == 0 {
				id = next
			}
			w, err := s.workload(conflict, site, c)
			if err != nil {
				return nil, err
			}
			site := site
			rng := rand.New(rand.NewPCG(seed, next))
			finish := func(cmd paxos.CommandID, call time.Duration, err error) {
				rec := opRec{Site: site, Call: call}
				if err == nil {
					rec.Return, rec.Done = time.Since(start), true
				}
				rec.Commit, rec.Path, rec.Committed = commitOf(cmd)
				mu.Lock()
				ops = append(ops, rec)
				mu.Unlock()
			}
			run := func(cmd paxos.Command, call time.Duration) { finish(cmd.ID(), call, exec(ctx, site, cmd)) }
			wg.Add(1)
			if loop != nil {
				loop.add(&asyncClient{site: site, id: id, w: w, rng: rng})
				continue
			}
			if s.Rate <= 0 {
				go func() {
					defer wg.Done()
					for seq := uint64(1); ctx.Err() == nil; seq++ {
						cmd := w.Next(rng)
						cmd.Client, cmd.Seq = id, seq
						run(cmd, time.Since(start))
					}
				}()
				continue
			}
			rate := s.Rate / float64(s.clientsAt(si))
			go func() {
				defer wg.Done()
				var inner sync.WaitGroup
				at := time.Duration(0)
				for seq := uint64(1); ; seq++ {
					at += time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
					if at >= end {
						break
					}
					select {
					case <-ctx.Done():
					case <-time.After(time.Until(start.Add(at))):
					}
					if ctx.Err() != nil {
						break
					}
					// The command is drawn here, on the client's goroutine;
					// only its execution runs concurrently.
					cmd := w.Next(rng)
					cmd.Client, cmd.Seq = id, seq
					inner.Add(1)
					if bindAsync != nil {
						// Sent from here, in seq order, with no goroutine
						// waiting for it.
						cid, call := cmd.ID(), at
						bindAsync(site, id, func(err error) { finish(cid, call, err); inner.Done() })(cmd)
						continue
					}
					go func(call time.Duration) { defer inner.Done(); run(cmd, call) }(at)
				}
				inner.Wait()
			}()
		}
	}
	if loop != nil {
		return loop.wait(), nil
	}
	wg.Wait()
	return ops, nil
}

// asyncClient is one closed-loop client of an asyncLoop: its one command
// outstanding is sent by whichever goroutine completed the one before.
type asyncClient struct {
	site int
	id   uint64
	seq  uint64
	w    Workload
	rng  *rand.Rand
	// send sends a command, done completes it (both set by add, once).
	send func(paxos.Command)
	done func(error)
	// The command outstanding: its id and call time.
	cmd  paxos.CommandID
	call time.Duration
	// ops are the client's completed operations, in chunks that grow
	// (see record). Its callbacks run one at a time, so mu is uncontended
	// but for wait taking ops at the end.
	mu  sync.Mutex
	ops [][]opRec
}

// record appends rec to c.ops (under c.mu). A full chunk is followed by
// a new one twice its size (up to maxOpChunk), so nothing recorded is
// copied again: a doubling slice of every operation copied them all and
// allocated (and cleared) about twice their bytes, a large share of the
// load generator's CPU per command.
func (c *asyncClient) record(rec opRec) {
	n := len(c.ops)
	if n == 0 || len(c.ops[n-1]) == cap(c.ops[n-1]) {
		size := minOpChunk
		if n > 0 {
			size = min(2*cap(c.ops[n-1]), maxOpChunk)
		}
		c.ops = append(c.ops, make([]opRec, 0, size))
		n++
	}
	c.ops[n-1] = append(c.ops[n-1], rec)
}

// The sizes of asyncClient's chunks of operations.
const (
	minOpChunk = 16
	maxOpChunk = 4096
)

// asyncLoop drives closed-loop clients through callbacks: a command's
// completion records it and sends the client's next one at once, on the
// goroutine that delivered the reply (the client connection's reader), as
// a load generator written around an event loop does. Call and return
// times are taken when the command is handed to the connection and when
// its reply is decoded, without a goroutine switch in between.
//
// Each client keeps its own operations: with one list for all of them,
// every reply took a lock that all the connections' readers share, and
// growing that list (a million operations, tens of MB, copied under the
// lock) held every reader up for tens of milliseconds at a time. Those
// stalls, and the collections they set off in the load generator, were a
// large part of the p99 it reported.
type asyncLoop struct {
	ctx      context.Context
	start    time.Time
	end      time.Duration
	bind     func(site int, id uint64, done func(error)) func(paxos.Command)
	commitOf func(paxos.CommandID) (time.Duration, paxos.Path, bool)
	clients  []*asyncClient  // added before wait, on liveClients's goroutine
	wg       *sync.WaitGroup // one per client until it stops
	closed   atomic.Bool     // wait returned: late completions are dropped
}

// add registers c and sends its first command.
func (l *asyncLoop) add(c *asyncClient) {
	l.clients = append(l.clients, c)
	c.done = func(err error) { l.complete(c, err) }
	c.send = l.bind(c.site, c.id, c.done)
	l.issue(c)
}

// issue sends c's next command, or ends c once the run is over. Nothing
// is allocated per command here: c holds the command's state (it has one
// outstanding) and the callbacks, made once.
func (l *asyncLoop) issue(c *asyncClient) {
	if l.ctx.Err() != nil {
		l.wg.Done()
		return
	}
	cmd := c.w.Next(c.rng)
	c.seq++
	cmd.Client, cmd.Seq = c.id, c.seq
	c.cmd, c.call = cmd.ID(), time.Since(l.start)
	c.send(cmd)
}

// complete records c's command outstanding, answered with err, and sends
// its next one.
func (l *asyncLoop) complete(c *asyncClient, err error) {
	rec := opRec{Site: c.site, Call: c.call}
	// As when a synchronous call is cut short by the run's end, a
	// command answered after it counts as not done.
	if ret := time.Since(l.start); err == nil && ret <= l.end {
		rec.Return, rec.Done = ret, true
	}
	rec.Commit, rec.Path, rec.Committed = l.commitOf(c.cmd)
	c.mu.Lock()
	if !l.closed.Load() {
		c.record(rec)
	}
	c.mu.Unlock()
	l.issue(c)
}

// wait returns the operations once every client stopped, or a grace
// period after the run's end for clients whose last command is still
// unanswered (a replica that stopped answering), in the order they
// completed.
func (l *asyncLoop) wait() []opRec {
	all := make(chan struct{})
	go func() { l.wg.Wait(); close(all) }()
	<-l.ctx.Done()
	select {
	case <-all:
	case <-time.After(asyncGrace):
	}
	l.closed.Store(true)
	n := 0
	for _, c := range l.clients {
		c.mu.Lock()
		for _, chunk := range c.ops {
			n += len(chunk)
		}
		c.mu.Unlock()
	}
	ops := make([]opRec, 0, n)
	for _, c := range l.clients {
		c.mu.Lock() // a callback that saw closed unset has appended
		for _, chunk := range c.ops {
			ops = append(ops, chunk...)
		}
		c.ops = nil
		c.mu.Unlock()
	}
	slices.SortStableFunc(ops, func(a, b opRec) int { return cmp.Compare(a.Return, b.Return) })
	return ops
}

// asyncGrace is how long an asyncLoop waits after the run for commands
// still outstanding.
var asyncGrace = 5 * time.Second

// runLiveCluster runs the clients against an existing cluster described by
// a cluster file (node.LoadCluster), e.g. replicas started with `paxos
// serve` on several machines. Each client prefers its site's replica and
// retries at the others. Commit latency is not observable from outside, so
// only client latency is reported.
func runLiveCluster(ctx context.Context, s *Spec, proto string, conflict float64, seed uint64) (runRec, uint64, error) {
	cl, err := node.LoadCluster(s.Cluster)
	if err != nil {
		return runRec{}, 0, fmt.Errorf("%w: --cluster: %w", ErrSpec, err)
	}
	if cl.Protocol != proto {
		return runRec{}, 0, fmt.Errorf("%w: --protocols: cluster %s runs %q, not %q", ErrSpec, cl.Name, cl.Protocol, proto)
	}
	if len(cl.Replicas) != s.Replicas {
		return runRec{}, 0, fmt.Errorf("%w: --replicas: cluster %s has %d replicas, not %d", ErrSpec, cl.Name, len(cl.Replicas), s.Replicas)
	}
	if len(s.Faults) > 0 {
		return runRec{}, 0, fmt.Errorf("%w: faults cannot be injected into an external cluster", ErrSpec)
	}
	if s.MemoryEvery != 0 {
		return runRec{}, 0, fmt.Errorf("%w: --memory-every reads the memory of replicas this process starts, not of a running cluster (drop --cluster)", ErrSpec)
	}
	return driveCluster(ctx, s, conflict, seed, cl, nil)
}

// clientConns is how many connections the clients of one site share: a
// connection carries many requests at once, so K clients need not cost the
// load generator K connections.
const clientConns = 8

// firstError keeps the first error noted, for any goroutine.
type firstError struct{ p atomic.Pointer[error] }

// note keeps err if it is the first error noted. Only a non-nil err costs
// an allocation: the copy whose address is kept (the load generator calls
// this once per command, with a nil err unless the command failed).
func (f *firstError) note(err error) {
	if err != nil {
		first := err
		f.p.CompareAndSwap(nil, &first)
	}
}

// first returns the first error noted, or nil.
func (f *firstError) first() error {
	if p := f.p.Load(); p != nil {
		return *p
	}
	return nil
}

// driveCluster runs the spec's clients against the replicas' client
// addresses. When pc (replicas this process started) is set, it also
// measures their CPU time over the measured window and their peak memory.
func driveCluster(ctx context.Context, s *Spec, conflict float64, seed uint64, cl *node.Cluster, pc *procCluster) (runRec, uint64, error) {
	addrs := make([]string, len(cl.Replicas))
	for i, r := range cl.Replicas {
		addrs[i] = r.Client
	}
	var base client.Options
	if s.ClientOptions != nil && pc == nil {
		base = *s.ClientOptions
	}
	opts, err := cl.ClientOptions(base)
	if err != nil {
		return runRec{}, 0, fmt.Errorf("bench: client credentials of cluster %s: %w", cl.Name, err)
	}
	var mu sync.Mutex
	conns := map[int][]*client.Client{} // per site
	clients := map[uint64]*client.Client{}
	defer func() {
		for _, cs := range conns {
			for _, c := range cs {
				c.Close()
			}
		}
	}()
	newID := func(site, c int) (uint64, error) {
		id, err := client.NewClientID()
		if err != nil {
			return 0, fmt.Errorf("bench: draw a client id: %w", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(conns[site]) <= c%clientConns {
			cc, err := client.New(addrs, opts)
			if err != nil {
				return 0, fmt.Errorf("bench: client of cluster %s: %w", cl.Name, err)
			}
			cc.Prefer(site)
			conns[site] = append(conns[site], cc)
		}
		clients[id] = conns[site][c%clientConns]
		return id, nil
	}
	start := time.Now()
	end := s.Warmup + s.Duration
	runCtx, cancel := context.WithTimeout(ctx, end)
	defer cancel()
	var completed atomic.Uint64 // commands completed, warm-up included
	// failure is the first error a command ended with, kept to say why a
	// run in which no command completed failed (a refused token, say).
	var failure firstError
	noteFailure := func(err error) {
		if err != nil && runCtx.Err() == nil {
			failure.note(err)
		}
	}
	exec := func(ctx context.Context, site int, cmd paxos.Command) error {
		mu.Lock()
		c := clients[cmd.Client]
		mu.Unlock()
		_, err := c.Exec(ctx, client.Request{Client: cmd.Client, Seq: cmd.Seq, Op: cmd.Op, Key: cmd.Key, Value: cmd.Value,
			Payload: cmd.Payload, Keys: cmd.Keys, ReadOnly: cmd.ReadOnly})
		if s.App == AppLockService && errors.Is(err, client.ErrCommand) {
			err = nil // executed; the service's answer (ErrHeld, ...) is the result
		}
		if err == nil && completed.Add(1) == uint64(s.Commands) {
			cancel() // Spec.Commands reached: end the run
		}
		noteFailure(err)
		return err
	}
	// bindAsync finds a client's connection and makes its callback once,
	// not per command.
	bindAsync := func(site int, id uint64, done func(error)) func(paxos.Command) {
		mu.Lock()
		c := clients[id]
		mu.Unlock()
		answered := func(_ client.Result, err error) {
			if s.App == AppLockService && errors.Is(err, client.ErrCommand) {
				err = nil
			}
			if err == nil && completed.Add(1) == uint64(s.Commands) {
				cancel()
			}
			noteFailure(err)
			done(err)
		}
		return func(cmd paxos.Command) {
			c.ExecAsync(runCtx, client.Request{Client: cmd.Client, Seq: cmd.Seq, Op: cmd.Op, Key: cmd.Key, Value: cmd.Value,
				Payload: cmd.Payload, Keys: cmd.Keys, ReadOnly: cmd.ReadOnly}, answered)
		}
	}
	none := func(paxos.CommandID) (time.Duration, paxos.Path, bool) { return 0, 0, false }
	// CPU time is read at the start and the end of the measured window
	// (the end of the run, if it ends early).
	var cpu [2]time.Duration
	var cpuErr [2]error
	var meters sync.WaitGroup
	var timers [2]*time.Timer
	if pc != nil {
		for i, at := range []time.Duration{s.Warmup, end} {
			meters.Add(1)
			timers[i] = time.AfterFunc(at, func() { defer meters.Done(); cpu[i], cpuErr[i] = pc.cpu() })
			defer timers[i].Stop()
		}
	}
	var sampler *memSampler
	if pc != nil && s.MemoryEvery > 0 {
		sampler = startMemSampler(s, pc, &completed, start)
	}
	ops, err := liveClients(runCtx, s, conflict, seed, start, end, newID, exec, bindAsync, none)
	if sampler != nil {
		sampler.stop()
	}
	if err != nil {
		return runRec{}, 0, err
	}
	if err := ctx.Err(); err != nil {
		return runRec{}, 0, err
	}
	if f := failure.first(); f != nil && completed.Load() == 0 {
		return runRec{}, 0, fmt.Errorf("bench: no command completed against cluster %s; the first failed with: %w", cl.Name, f)
	}
	rec := runRec{ops: ops, end: min(end, time.Since(start)), start: start}
	if pc != nil {
		// A run that ended early (Spec.Commands) reads its CPU time now;
		// one that ended within its warm-up has none measured.
		early0, early1 := timers[0].Stop(), timers[1].Stop()
		if early0 {
			meters.Done()
		}
		if early1 {
			meters.Done()
		}
		meters.Wait()
		if early1 && !early0 {
			cpu[1], cpuErr[1] = pc.cpu()
		}
		if err := errors.Join(cpuErr[0], cpuErr[1]); err != nil {
			return runRec{}, 0, err
		}
		rec.cpu = max(0, cpu[1]-cpu[0])
		if rec.rss, err = pc.peakRSS(); err != nil {
			return runRec{}, 0, err
		}
		if sampler != nil {
			if rec.mem, err = sampler.rows, sampler.err; err != nil {
				return runRec{}, 0, err
			}
		}
	}
	return rec, 0, nil
}

// memSampler reads the replicas' resident memory each time Spec.MemoryEvery
// more commands have completed, and once more when stopped.
type memSampler struct {
	s         *Spec
	pc        *procCluster
	completed *atomic.Uint64
	start     time.Time
	done      chan struct{}
	finished  chan struct{}
	rows      []MemoryRow
	err       error
}

func startMemSampler(s *Spec, pc *procCluster, completed *atomic.Uint64, start time.Time) *memSampler {
	m := &memSampler{s: s, pc: pc, completed: completed, start: start, done: make(chan struct{}), finished: make(chan struct{})}
	go m.loop()
	return m
}

func (m *memSampler) loop() {
	defer close(m.finished)
	every := uint64(m.s.MemoryEvery)
	next := every
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-m.done:
			m.sample(m.completed.Load())
			return
		case <-tick.C:
		}
		if n := m.completed.Load(); n >= next && m.err == nil {
			m.sample(n)
			next = (n/every + 1) * every
		}
	}
}

// sample reads every replica's VmRSS and VmHWM with n commands completed.
func (m *memSampler) sample(n uint64) {
	at := time.Since(m.start).Seconds()
	var line strings.Builder
	fmt.Fprintf(&line, "memory: %d commands, %.0f s:", n, at)
	for i, c := range m.pc.cmds {
		rss, peak, err := procMemory(c.Process.Pid)
		if err != nil {
			m.err = err
			return
		}
		m.rows = append(m.rows, MemoryRow{Commands: n, TimeS: at, Replica: i, RSSMB: float64(rss) / (1 << 20), PeakMB: float64(peak) / (1 << 20)})
		fmt.Fprintf(&line, " %d: %.0f MiB (peak %.0f)", i, float64(rss)/(1<<20), float64(peak)/(1<<20))
	}
	if m.s.MemoryLog != nil {
		fmt.Fprintln(m.s.MemoryLog, line.String())
	}
}

func (m *memSampler) stop() {
	close(m.done)
	<-m.finished
}

// liveReady returns once every node has executed a read proposed at it (a
// Tick for the lock service), so that its transport reaches a quorum of
// peers, or with an error after 30 s. The commands use client ids no
// benchmark client has (the top of the range).
func liveReady(ctx context.Context, nodes []*node.Node, app string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	errs := make(chan error, len(nodes))
	for i, nd := range nodes {
		go func() {
			cmd := paxos.Command{Client: ^uint64(0) - uint64(i), Seq: 1, Op: paxos.OpGet, Key: "bench-ready"}
			if app == AppLockService {
				cmd = lockservice.Command(cmd.Client, lockservice.Request{Kind: lockservice.KindTick})
				cmd.Seq = 1
			}
			_, err := nd.Submit(ctx, cmd)
			if err != nil {
				err = fmt.Errorf("bench: live node %d did not get ready (are the loopback ports reachable?): %w", i, err)
			}
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// LiveTimeouts returns Timeouts for replicas that run live (in this
// process or as paxos serve processes): the election timeout is at least
// node.DefaultElectionTicks unless the spec sets one, since a live
// replica's process can stall for longer than the simulator's default
// timeout while it shares the machine with the load generator.
func (s *Spec) LiveTimeouts() (heartbeat, election, retry int) {
	heartbeat, election, retry = s.Timeouts()
	if s.ElectionTicks == 0 {
		election = max(election, node.DefaultElectionTicks)
	}
	return heartbeat, election, retry
}
