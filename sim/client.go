package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/paxos-lab/paxos"
)

// Workload generates a client's commands. The simulator fills in Client
// and Seq; rng is the client's own deterministic random source.
type Workload interface {
	Next(rng *rand.Rand) paxos.Command
}

// WorkloadFunc adapts a function to the Workload interface.
type WorkloadFunc func(rng *rand.Rand) paxos.Command

// Next calls f.
func (f WorkloadFunc) Next(rng *rand.Rand) paxos.Command { return f(rng) }

// ClientConfig describes one simulated client.
type ClientConfig struct {
	// Site is the replica the client is co-located with: it reaches it in
	// no time and sends there first.
	Site paxos.NodeID
	// Workload generates the commands.
	Workload Workload
	// Ops is how many operations the client issues (0 = no limit).
	Ops int
	// Rate, when positive, makes the client open loop: operations arrive
	// as a Poisson process of Rate operations per second of virtual time,
	// each sent at its arrival time however many are outstanding. Zero
	// makes it closed loop: one operation outstanding, the next issued when
	// the previous returns.
	Rate float64
	// RetryTimeout is how long the client waits for an answer before
	// sending the same command, with the same (client, seq), to the next
	// replica in id order. Zero means DefaultRetryTimeout(maximum RTT):
	// one second plus four of the matrix's largest round trips.
	RetryTimeout time.Duration
}

// DefaultRetryTimeout is the client retry timeout used when
// ClientConfig.RetryTimeout is zero: 1 s + 4 × maxRTT. It is long enough
// that a healthy cluster with an election or two in progress answers first,
// so retries mostly follow crashes and partitions.
func DefaultRetryTimeout(maxRTT time.Duration) time.Duration {
	return time.Second + 4*maxRTT
}

// Operation is one client operation in the history.
type Operation struct {
	// Client and Seq identify the command; Site is the client's replica.
	Client uint64
	Seq    uint64
	Site   paxos.NodeID
	// Op, Key and Value are the command; Payload, Keys and ReadOnly too
	// for an application command (see paxos.Command).
	Op       paxos.Op
	Key      string
	Value    string
	Payload  []byte
	Keys     []string
	ReadOnly bool
	// Output is what the operation returned (a Get's value), once Done.
	Output string
	// Err is the command's own error (paxos.Execution.Err), once Done.
	Err string
	// Call is when the client sent the operation (for open-loop clients the
	// intended send time, which is when the simulator sends it); Return is
	// when the first answer reached the client, once Done.
	Call   time.Duration
	Return time.Duration
	// Done reports whether the operation returned.
	Done bool
	// Commit is when a replica the command was proposed at first reported
	// it committed (Ready.Committed); Committed says whether one did, and
	// Path how.
	Commit    time.Duration
	Committed bool
	Path      paxos.Path
	// LocalRead is set when the answer was a read served locally under a
	// lease.
	LocalRead bool
	// Replica is the replica whose answer completed the operation.
	Replica paxos.NodeID
	// Attempts is how many times the client sent the command (1 + retries).
	Attempts int
}

// Latency returns Return - Call for a completed operation, and 0 otherwise.
func (o *Operation) Latency() time.Duration {
	if !o.Done {
		return 0
	}
	return o.Return - o.Call
}

// Command returns the operation's command.
func (o *Operation) Command() paxos.Command {
	return paxos.Command{Client: o.Client, Seq: o.Seq, Op: o.Op, Key: o.Key, Value: o.Value, Payload: o.Payload, Keys: o.Keys, ReadOnly: o.ReadOnly}
}

type client struct {
	id     uint64
	site   int32
	wl     Workload
	ops    int
	issued int
	rate   float64
	retry  time.Duration
	rng    *rand.Rand
	seq    uint64
}

// opState is the simulator's bookkeeping for one history entry.
type opState struct {
	client  int32 // index into clients
	target  int32 // replica of the current attempt
	attempt int32
}

// ErrClient is wrapped by errors about an invalid ClientConfig.
var ErrClient = errors.New("sim: invalid client")

// AddClient starts a client now and returns its id: 1 for the first client,
// then 2, 3, ... A closed-loop client sends its first operation at once; an
// open-loop client after its first Poisson inter-arrival time.
func (s *Sim) AddClient(cc ClientConfig) (uint64, error) {
	switch {
	case cc.Site < 0 || int(cc.Site) >= s.n:
		return 0, fmt.Errorf("%w: site %d outside 0..%d", ErrClient, cc.Site, s.n-1)
	case cc.Workload == nil:
		return 0, fmt.Errorf("%w: no Workload; give one (e.g. a WorkloadFunc)", ErrClient)
	case cc.Ops < 0:
		return 0, fmt.Errorf("%w: Ops=%d, want 0 (no limit) or more", ErrClient, cc.Ops)
	case !(cc.Rate >= 0) || math.IsInf(cc.Rate, 0):
		return 0, fmt.Errorf("%w: Rate=%v, want 0 (closed loop) or a positive number of operations per second", ErrClient, cc.Rate)
	case cc.RetryTimeout < 0:
		return 0, fmt.Errorf("%w: RetryTimeout=%v, must not be negative", ErrClient, cc.RetryTimeout)
	}
	if cc.RetryTimeout == 0 {
		cc.RetryTimeout = DefaultRetryTimeout(s.maxRTT)
	}
	id := uint64(len(s.clients) + 1)
	s.clients = append(s.clients, client{
		id:    id,
		site:  int32(cc.Site),
		wl:    cc.Workload,
		ops:   cc.Ops,
		rate:  cc.Rate,
		retry: cc.RetryTimeout,
		rng:   rand.New(rand.NewPCG(splitmix64(s.cfg.Seed^0x636c69656e74), id)),
	})
	ci := len(s.clients) - 1
	at := s.now
	if cc.Rate > 0 {
		at += s.interArrival(&s.clients[ci])
	}
	s.scheduleArrival(ci, at)
	if s.cfg.Trace != nil {
		s.tracef("%d client %d at %d rate=%g ops=%d\n", s.now, id, cc.Site, cc.Rate, cc.Ops)
	}
	return id, nil
}

func (s *Sim) interArrival(c *client) time.Duration {
	d := c.rng.ExpFloat64() / c.rate * float64(time.Second)
	if d > maxGap {
		d = maxGap // a vanishing rate: no further arrival in any sensible run
	}
	return time.Duration(d)
}

// maxGap caps an inter-arrival time (about 31 years) so that time cannot
// overflow.
const maxGap = float64(1 << 60)

func (s *Sim) scheduleArrival(ci int, at time.Duration) {
	i, p := s.q.alloc()
	p.kind, p.client = evArrival, int32(ci)
	s.q.push(at, i)
}

// History returns every client operation so far in call order; operations
// still outstanding have Done false.
func (s *Sim) History() []Operation { return append([]Operation(nil), s.ops...) }

// Returned reports whether operation i (an index into History) has
// returned, without copying the history.
func (s *Sim) Returned(i int) bool { return i >= 0 && i < len(s.ops) && s.ops[i].Done }

// Operations returns the number of client operations issued so far.
func (s *Sim) Operations() int { return len(s.ops) }

// Completed returns the number of client operations that returned so far.
// With Operations it makes a cheap stopping condition for RunUntil, e.g.
// all issued operations returned: s.Completed() == s.Operations().
func (s *Sim) Completed() int { return s.completed }

// clientArrival issues a client's next operation and, for an open-loop
// client, schedules the arrival after it.
func (s *Sim) clientArrival(ci int) {
	if !s.issue(ci) {
		return
	}
	c := &s.clients[ci]
	if c.rate > 0 && (c.ops == 0 || c.issued < c.ops) {
		s.scheduleArrival(ci, s.now+s.interArrival(c))
	}
}

// issue starts the client's next operation; false when it has issued all.
func (s *Sim) issue(ci int) bool {
	c := &s.clients[ci]
	if c.ops > 0 && c.issued >= c.ops {
		return false
	}
	c.issued++
	c.seq++
	cmd := c.wl.Next(c.rng)
	idx := int32(len(s.ops))
	s.ops = append(s.ops, Operation{
		Client: c.id, Seq: c.seq, Site: paxos.NodeID(c.site),
		Op: cmd.Op, Key: cmd.Key, Value: cmd.Value, Payload: cmd.Payload, Keys: cmd.Keys, ReadOnly: cmd.ReadOnly,
		Call: s.now,
	})
	s.opst = append(s.opst, opState{client: int32(ci), target: c.site})
	s.byID[paxos.CommandID{Client: c.id, Seq: c.seq}] = idx
	s.sendRequest(idx)
	return true
}

// sendRequest sends an operation's current attempt and arms its retry timer.
func (s *Sim) sendRequest(idx int32) {
	st := &s.opst[idx]
	op := &s.ops[idx]
	c := &s.clients[st.client]
	op.Attempts++
	target := int(st.target)
	if s.cfg.Trace != nil {
		s.tracef("%d request %d.%d %d->%d attempt=%d\n", s.now, op.Client, op.Seq, c.site, target, st.attempt)
	}
	copies, d1, d2 := s.route(int(c.site), target)
	for k := 0; k < copies; k++ {
		d := d1
		if k == 1 {
			d = d2
		}
		i, p := s.q.alloc()
		p.kind, p.node, p.inc, p.op, p.cmd = evPropose, int32(target), s.nodes[target].inc, idx, op.Command()
		s.q.push(s.now+d, i)
	}
	i, p := s.q.alloc()
	p.kind, p.op, p.attempt = evRetry, idx, st.attempt
	s.q.push(s.now+c.retry, i)
}

// reply sends replica nd's answer for history entry idx to its client.
func (s *Sim) reply(nd *node, idx int32, e *paxos.Execution) {
	site := int(s.clients[s.opst[idx].client].site)
	copies, d1, d2 := s.route(int(nd.id), site)
	for k := 0; k < copies; k++ {
		d := d1
		if k == 1 {
			d = d2
		}
		i, p := s.q.alloc()
		p.kind, p.node, p.op, p.out, p.local, p.err = evReply, nd.id, idx, e.Output, e.LocalRead, e.Err
		s.q.push(s.now+d, i)
	}
}

func (s *Sim) clientReply(ev *payload) {
	op := &s.ops[ev.op]
	if op.Done {
		if s.cfg.Trace != nil {
			s.tracef("%d late-reply %d.%d from %d\n", s.now, op.Client, op.Seq, ev.node)
		}
		return
	}
	op.Done, op.Return, op.Output, op.LocalRead, op.Replica, op.Err = true, s.now, ev.out, ev.local, paxos.NodeID(ev.node), ev.err
	s.completed++
	if s.cfg.Trace != nil {
		s.tracef("%d return %d.%d from %d\n", s.now, op.Client, op.Seq, ev.node)
	}
	ci := int(s.opst[ev.op].client)
	if s.clients[ci].rate == 0 {
		s.issue(ci)
	}
}

func (s *Sim) clientRetry(idx, attempt int) {
	st := &s.opst[idx]
	if s.ops[idx].Done || int(st.attempt) != attempt {
		return
	}
	st.attempt++
	st.target = (st.target + 1) % int32(s.n)
	if s.cfg.Trace != nil {
		s.tracef("%d retry %d.%d\n", s.now, s.ops[idx].Client, s.ops[idx].Seq)
	}
	s.sendRequest(int32(idx))
}
