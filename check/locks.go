package check

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/lockservice"
	"github.com/paxos-lab/paxos/sim"
)

// The applications Options.App can name.
const (
	AppKV          = "kv"
	AppLockService = "lockservice"
)

// lockNames are the locks the lock-service workload contends for.
var lockNames = []string{"a", "b"}

// lockWorkload is one closed-loop lock-service client: it opens a session
// with a short lease, acquires a lock, holds it for a few operations
// (renewing, reading, writing its value), releases it, and now and then
// stops renewing long enough for the session to lapse while it holds a lock.
// It reads its previous operation's answer from the simulator's history.
type lockWorkload struct {
	s     *sim.Sim
	last  int // history index of the previous operation, -1 before the first
	ttl   int64
	held  string // the lock the client believes it holds
	hold  int    // operations left to hold it
	lapse int    // operations left without renewing
	n     int
}

func (w *lockWorkload) Next(rng *rand.Rand) paxos.Command {
	w.n++
	var prev sim.Operation
	var prevReq lockservice.Request
	if w.last >= 0 {
		prev = w.s.History()[w.last]
		prevReq, _ = lockservice.DecodeRequest(prev.Payload)
	}
	w.last = w.s.Operations()
	open := w.last > 0 && !lockservice.IsError(prev.Err, lockservice.ErrNoSession) && prevReq.Kind != lockservice.KindClose
	if prevReq.Kind == lockservice.KindAcquire && prev.Err == "" {
		w.held, w.hold = prevReq.Lock, 1+rng.IntN(6)
	}
	if !open || w.ttl == 0 {
		// Leases from 40 ms (lapses within a few operations) to 3 s.
		w.ttl, w.held, w.lapse = []int64{40, 150, 600, 3000}[rng.IntN(4)], "", 0
		return lockservice.Command(0, lockservice.Request{Kind: lockservice.KindOpen, TTL: w.ttl})
	}
	name := lockNames[rng.IntN(len(lockNames))]
	if w.held != "" {
		name = w.held
	}
	req := lockservice.Request{Lock: name}
	switch p := rng.IntN(100); {
	case w.lapse > 0:
		// Not renewing: reads and ticks (which move the clock) only.
		w.lapse--
		req.Kind = lockservice.KindRead
		if p < 30 {
			req = lockservice.Request{Kind: lockservice.KindTick}
		}
	case p < 4:
		w.lapse = 5 + rng.IntN(20)
		req.Kind = lockservice.KindRead
	case p < 7:
		w.held = ""
		req = lockservice.Request{Kind: lockservice.KindClose}
	case p < 35:
		req = lockservice.Request{Kind: lockservice.KindKeepAlive, TTL: w.ttl}
	case w.held == "":
		req.Kind = lockservice.KindAcquire
		if p < 45 {
			req.Mode = lockservice.Shared
		} else if p > 90 {
			req.Kind = lockservice.KindRelease // not held: refused
		}
	case w.hold > 0:
		w.hold--
		req.Kind = []lockservice.Kind{lockservice.KindRead, lockservice.KindSetValue, lockservice.KindAcquire}[p%3]
		req.Value = []byte(fmt.Sprintf("v%d", w.n))
	default:
		req.Kind, w.held = lockservice.KindRelease, ""
	}
	return lockservice.Command(0, req)
}

// lockModelLock is one lock in the model.
type lockModelLock struct {
	mode    lockservice.Mode
	holders map[uint64]bool
	token   uint64
	value   string
}

// lockModel is the lock service's specification, written independently of
// lockservice.Machine, used to replay what one replica applied.
type lockModel struct {
	clock    int64
	sessions map[uint64]int64 // session -> lease end
	locks    map[string]*lockModelLock
}

func (m *lockModel) lock(name string) *lockModelLock {
	l := m.locks[name]
	if l == nil {
		l = &lockModelLock{holders: map[uint64]bool{}}
		m.locks[name] = l
	}
	return l
}

func (m *lockModel) dropSession(id uint64) {
	for _, l := range m.locks {
		delete(l.holders, id)
	}
	delete(m.sessions, id)
}

// step checks one applied command against the model and advances it; it
// returns a violation or "".
func (m *lockModel) step(id uint64, req lockservice.Request, out, errText string) string {
	want := func(e error) string {
		if e == nil && errText != "" {
			return fmt.Sprintf("want success, got %q", errText)
		}
		if e != nil && !lockservice.IsError(errText, e) {
			return fmt.Sprintf("want error %q, got %q", e, errText)
		}
		return ""
	}
	rep, derr := lockservice.DecodeReply(out)
	if derr != nil {
		return derr.Error()
	}
	switch req.Kind {
	case lockservice.KindOpen, lockservice.KindKeepAlive, lockservice.KindClose, lockservice.KindTick:
		m.clock = max(m.clock, req.Now)
		for _, s := range slices.Sorted(maps.Keys(m.sessions)) {
			if m.sessions[s] <= m.clock {
				m.dropSession(s) // released by expiry
			}
		}
	}
	_, open := m.sessions[id]
	switch req.Kind {
	case lockservice.KindTick:
		return ""
	case lockservice.KindOpen, lockservice.KindKeepAlive:
		if req.Kind == lockservice.KindKeepAlive && !open {
			return want(lockservice.ErrNoSession)
		}
		m.sessions[id] = m.clock + req.TTL
		if errText != "" || rep.Expires != m.clock+req.TTL {
			return fmt.Sprintf("want lease end %d, got %d (error %q)", m.clock+req.TTL, rep.Expires, errText)
		}
		return ""
	case lockservice.KindRead:
		l := m.lock(req.Lock)
		holders := slices.Sorted(maps.Keys(l.holders))
		if !slices.Equal(holders, rep.Holders) || (len(holders) > 0 && l.mode != rep.Mode) || l.value != string(rep.Value) {
			return fmt.Sprintf("read: want holders %v mode %d value %q, got %v mode %d value %q", holders, l.mode, l.value, rep.Holders, rep.Mode, rep.Value)
		}
		return ""
	}
	if !open {
		return want(lockservice.ErrNoSession)
	}
	l := m.lock(req.Lock)
	switch req.Kind {
	case lockservice.KindClose:
		m.dropSession(id)
		return want(nil)
	case lockservice.KindAcquire:
		conflict := len(l.holders) > 0 && (req.Mode == lockservice.Exclusive || l.mode == lockservice.Exclusive) &&
			!(len(l.holders) == 1 && l.holders[id] && l.mode == req.Mode)
		if conflict {
			if errText == "" {
				return fmt.Sprintf("acquire %q mode %d granted while held by %v in mode %d: two holders", req.Lock, req.Mode, slices.Sorted(maps.Keys(l.holders)), l.mode)
			}
			return want(lockservice.ErrHeld)
		}
		if errText != "" {
			return fmt.Sprintf("acquire %q refused (%s) although free: a lock released by neither its holder nor expiry is still held", req.Lock, errText)
		}
		if rep.Token <= l.token {
			return fmt.Sprintf("fencing token of %q did not increase: %d after %d", req.Lock, rep.Token, l.token)
		}
		l.token, l.mode, l.holders[id] = rep.Token, req.Mode, true
		return ""
	case lockservice.KindRelease:
		if !l.holders[id] {
			if errText == "" {
				return fmt.Sprintf("release of %q by session %d, which does not hold it (holders %v)", req.Lock, id, slices.Sorted(maps.Keys(l.holders)))
			}
			return want(lockservice.ErrNotHolder)
		}
		delete(l.holders, id)
		return want(nil)
	case lockservice.KindSetValue:
		if !l.holders[id] || l.mode != lockservice.Exclusive {
			return want(lockservice.ErrNotHolder)
		}
		l.value = string(req.Value)
		return want(nil)
	}
	return fmt.Sprintf("unknown request kind %d", req.Kind)
}

// LockInvariants checks the lock service's own history against a model of
// the lock service and reports the violations: two holders of an exclusive
// lock at once, a fencing token that does not increase per lock, a lock
// released by a session that does not hold it, a lock still held after its
// holder released it or expired, a read that disagrees. The history is one
// serial order of every executed command, merged from what every replica
// (and incarnation) applied: it keeps each replica's order between
// interfering commands (replicas that skipped commands by installing a
// snapshot only contribute the order they saw), and each command's output
// is the first one a replica reported.
func LockInvariants(applied []Applied) []string {
	order, cycle := mergeExecutions(applied)
	if cycle != "" {
		return []string{cycle}
	}
	m := &lockModel{sessions: map[uint64]int64{}, locks: map[string]*lockModelLock{}}
	for _, e := range order {
		req, err := lockservice.DecodeRequest(e.Command.Payload)
		if err != nil {
			return []string{fmt.Sprintf("command %d.%d was applied but does not decode: %v", e.Command.Client, e.Command.Seq, err)}
		}
		if v := m.step(e.Command.Client, req, e.Output, e.Err); v != "" {
			// The model no longer follows the service after a violation.
			return []string{fmt.Sprintf("lock service history, command %d.%d: %s", e.Command.Client, e.Command.Seq, v)}
		}
	}
	return nil
}

// mergeExecutions orders every executed application command (first
// execution of each) so that each replica incarnation's order between
// interfering commands is kept; it reports a cycle when the replicas
// disagree.
func mergeExecutions(applied []Applied) ([]paxos.Execution, string) {
	first := map[paxos.CommandID]int{} // command -> index into execs
	var execs []paxos.Execution
	type inc struct {
		r paxos.NodeID
		i int
	}
	seqs := map[inc][]int{}
	var incs []inc
	everyKey := []string{allWrites}
	seenKey := map[string]bool{}
	for _, a := range applied {
		e := a.Exec
		if e.Duplicate || e.Command.Op != paxos.OpApp {
			continue
		}
		id := e.Command.ID()
		x, ok := first[id]
		if !ok {
			x = len(execs)
			first[id] = x
			execs = append(execs, e)
			if ks, all := e.Command.ConflictKeys(); !all {
				for _, k := range ks {
					if !seenKey[k] {
						seenKey[k] = true
						everyKey = append(everyKey, k)
					}
				}
			}
		}
		w := inc{a.Replica, a.Incarnation}
		if ok && !e.Command.Writes() {
			// A read runs again on a retry (it is not deduplicated) and
			// may then sit elsewhere: only its first run is placed.
			continue
		}
		if _, ok := seqs[w]; !ok {
			incs = append(incs, w)
		}
		seqs[w] = append(seqs[w], x)
	}
	// Edges between interfering commands, per key: write -> next write,
	// write -> later reads, reads -> next write.
	succ := make([]map[int]bool, len(execs))
	indeg := make([]int, len(execs))
	edge := func(a, b int) {
		if a == b {
			return
		}
		if succ[a] == nil {
			succ[a] = map[int]bool{}
		}
		if !succ[a][b] {
			succ[a][b] = true
			indeg[b]++
		}
	}
	for _, w := range incs {
		lastWrite := map[string]int{}
		reads := map[string][]int{}
		for _, x := range seqs[w] {
			c := execs[x].Command
			keys, all := c.ConflictKeys()
			if all {
				keys = everyKey
			}
			for _, k := range keys {
				if lw, ok := lastWrite[k]; ok {
					edge(lw, x)
				}
				if c.Writes() {
					for _, r := range reads[k] {
						edge(r, x)
					}
					reads[k], lastWrite[k] = nil, x
				} else {
					reads[k] = append(reads[k], x)
				}
			}
		}
	}
	// Kahn's algorithm, smallest first-seen index first.
	var ready []int
	for x := range execs {
		if indeg[x] == 0 {
			ready = append(ready, x)
		}
	}
	order := make([]paxos.Execution, 0, len(execs))
	for len(ready) > 0 {
		i := slices.Index(ready, slices.Min(ready))
		x := ready[i]
		ready = slices.Delete(ready, i, i+1)
		order = append(order, execs[x])
		for _, y := range slices.Sorted(maps.Keys(succ[x])) {
			if indeg[y]--; indeg[y] == 0 {
				ready = append(ready, y)
			}
		}
	}
	if len(order) < len(execs) {
		return nil, fmt.Sprintf("lock service: the replicas applied interfering commands in orders that form a cycle (%d of %d commands ordered)", len(order), len(execs))
	}
	return order, ""
}

// lockInput is one operation for the linearizability check: the command as
// the replicas applied it (stamped), and its index in the history.
type lockInput struct {
	cmd paxos.Command
	i   int
}

// lockOutput is what the client saw; known is false for an operation that
// never returned.
type lockOutput struct {
	out, err string
	known    bool
}

// lockStep is one memoized step of the lock model.
type lockStep struct {
	ok   bool
	next string
}

// lockLinModel is the whole lock service as one porcupine state (its
// snapshot), stepped by a correct lockservice.Machine. The search retries
// the same operation from the same state often, so steps are memoized.
func lockLinModel() porcupine.Model {
	type key struct {
		state string
		op    int
	}
	memo := map[key]lockStep{}
	return porcupine.Model{
		Init: func() interface{} { return string(lockservice.New().Snapshot()) },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			in, o := input.(lockInput), output.(lockOutput)
			k := key{state.(string), in.i}
			if r, ok := memo[k]; ok {
				return r.ok, r.next
			}
			r := lockStep{next: k.state}
			m := lockservice.New()
			if m.Restore([]byte(k.state)) == nil {
				out, err := m.Apply(in.cmd)
				errText := ""
				if err != nil {
					errText = err.Error()
				}
				if !o.known || (out == o.out && errText == o.err) {
					r = lockStep{ok: true, next: string(m.Snapshot())}
				}
			}
			memo[k] = r
			return r.ok, r.next
		},
		DescribeOperation: func(input, output interface{}) string {
			in, o := input.(lockInput), output.(lockOutput)
			req, _ := lockservice.DecodeRequest(in.cmd.Payload)
			rep, _ := lockservice.DecodeReply(o.out)
			return fmt.Sprintf("%d: %+v -> %+v %s", in.cmd.Client, req, rep, o.err)
		},
	}
}

// CheckLockLinearizable decides whether the clients' history of lock
// operations is linearizable against the lock service. stamped maps each
// applied command to the payload the replicas applied (with the receiving
// replica's time); an operation no replica applied is left out, and one
// applied but never answered may have taken effect any time after its call.
func CheckLockLinearizable(history []sim.Operation, stamped map[paxos.CommandID][]byte, timeout time.Duration) Verdict {
	hist := make([]porcupine.Operation, 0, len(history))
	for _, o := range history {
		payload, ok := stamped[paxos.CommandID{Client: o.Client, Seq: o.Seq}]
		if !ok || o.Op != paxos.OpApp {
			continue
		}
		cmd := o.Command()
		cmd.Payload = payload
		ret := int64(math.MaxInt64)
		if o.Done {
			ret = int64(o.Return)
		}
		// A session command took effect after the replica that received it
		// stamped it (whole milliseconds of virtual time): a tighter call
		// time, which keeps the search small under long retries.
		call := int64(o.Call)
		if req, err := lockservice.DecodeRequest(payload); err == nil && req.Now > 0 {
			call = max(call, min(req.Now*int64(time.Millisecond), ret))
		}
		hist = append(hist, porcupine.Operation{ClientId: int(o.Client), Call: call, Return: ret,
			Input: lockInput{cmd, len(hist)}, Output: lockOutput{out: o.Output, err: o.Err, known: o.Done}})
	}
	switch porcupine.CheckOperationsTimeout(lockLinModel(), hist, timeout) {
	case porcupine.Ok:
		return Linearizable
	case porcupine.Illegal:
		return NotLinearizable
	}
	return Undecided
}

// verifyLocks checks a lock-service run: the protocol invariants, the lock
// invariants on every replica's own history, and linearizability of the
// clients' history.
func verifyLocks(s *sim.Sim, linTimeout time.Duration) []string {
	applied := appliedFromSim(s)
	var out []string
	out = append(out, OneValuePerInstance(learnedFromSim(s))...)
	out = append(out, DependenciesBetweenConflicts(learnedFromSim(s))...)
	out = append(out, ExecutionAgrees(applied)...)
	out = append(out, LockInvariants(applied)...)
	if len(out) > 0 && (linTimeout == 0 || linTimeout > time.Second) {
		linTimeout = time.Second
	}
	stamped := map[paxos.CommandID][]byte{}
	for _, a := range applied {
		if id := a.Exec.Command.ID(); !a.Exec.Duplicate && a.Exec.Command.Op == paxos.OpApp {
			if _, ok := stamped[id]; !ok {
				stamped[id] = a.Exec.Command.Payload
			}
		}
	}
	if order, cycle := mergeExecutions(applied); cycle == "" && lockWitness(order, s.History()) {
		return out // linearizable: the service's own order, adjusted to real time, is a witness
	}
	switch CheckLockLinearizable(s.History(), stamped, linTimeout) {
	case NotLinearizable:
		out = append(out, "lock-service history is not linearizable")
	case Undecided:
		if len(out) == 0 {
			out = append(out, "lock-service linearizability undecided: checker timed out")
		}
	}
	return out
}

// lockWitness reports whether the service's own order of execution proves
// the clients' history linearizable: it orders interfering commands as the
// replicas did and every pair as real time does (a session command's call
// time tightened by its stamp, as for porcupine); if that is acyclic, a
// correct lock service replayed along it must give every answer a client
// saw. Reordering commands that do not interfere changes no answer, so a
// witness found is a linearization. Without one, porcupine searches.
func lockWitness(order []paxos.Execution, history []sim.Operation) bool {
	byID := make(map[paxos.CommandID]int, len(history))
	for i, o := range history {
		byID[paxos.CommandID{Client: o.Client, Seq: o.Seq}] = i
	}
	n := len(order)
	call, ret := make([]time.Duration, n), make([]time.Duration, n)
	for i, e := range order {
		h, ok := byID[e.Command.ID()]
		if !ok {
			return false
		}
		o := history[h]
		call[i], ret[i] = o.Call, time.Duration(math.MaxInt64)
		if o.Done {
			ret[i] = o.Return
		}
		if req, err := lockservice.DecodeRequest(e.Command.Payload); err == nil && req.Now > 0 {
			call[i] = max(call[i], min(time.Duration(req.Now)*time.Millisecond, ret[i]))
		}
	}
	succ := make([][]int, n)
	indeg := make([]int, n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i == j {
				continue
			}
			if ret[i] < call[j] || (i < j && paxos.Interferes(&order[i].Command, &order[j].Command)) {
				succ[i] = append(succ[i], j)
				indeg[j]++
			}
		}
	}
	m := lockservice.New()
	var ready []int
	for i := range indeg {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	done := 0
	for len(ready) > 0 {
		i := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		done++
		out, err := m.Apply(order[i].Command)
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		if o := history[byID[order[i].Command.ID()]]; o.Done && (o.Output != out || o.Err != errText) {
			return false
		}
		for _, j := range succ[i] {
			if indeg[j]--; indeg[j] == 0 {
				ready = append(ready, j)
			}
		}
	}
	return done == n
}
