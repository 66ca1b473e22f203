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

// lockWorkload is one lock-service client: it opens a session with a short
// lease, acquires, holds, releases, reads, writes values and renews, and
// now and then stops renewing long enough for the session to lapse (its
// commands are a script: it does not see the answers).
type lockWorkload struct {
	open bool
	ttl  int64
	n    int
}

func (w *lockWorkload) Next(rng *rand.Rand) paxos.Command {
	w.n++
	name := lockNames[rng.IntN(len(lockNames))]
	req := lockservice.Request{Lock: name}
	switch p := rng.IntN(100); {
	case !w.open || p < 5:
		// Leases from 20 ms (lapses between two operations) to 2 s.
		w.ttl = []int64{20, 60, 200, 2000}[rng.IntN(4)]
		req = lockservice.Request{Kind: lockservice.KindOpen, TTL: w.ttl}
		w.open = true
	case p < 30:
		req = lockservice.Request{Kind: lockservice.KindKeepAlive, TTL: w.ttl}
	case p < 55:
		req.Kind = lockservice.KindAcquire
		if rng.IntN(4) == 0 {
			req.Mode = lockservice.Shared
		}
	case p < 73:
		req.Kind = lockservice.KindRelease
	case p < 85:
		req.Kind = lockservice.KindRead
	case p < 93:
		req.Kind, req.Value = lockservice.KindSetValue, []byte(fmt.Sprintf("v%d", w.n))
	case p < 97:
		req = lockservice.Request{Kind: lockservice.KindTick}
	default:
		req = lockservice.Request{Kind: lockservice.KindClose}
		w.open = false
	}
	return lockservice.Command(0, req)
}

// lockModelLock is one lock in the model.
type lockModelLock struct {
	mode    lockservice.Mode
	holders map[uint64]bool
	token   uint64
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
		if !slices.Equal(holders, rep.Holders) || (len(holders) > 0 && l.mode != rep.Mode) {
			return fmt.Sprintf("read: want holders %v mode %d, got %v mode %d", holders, l.mode, rep.Holders, rep.Mode)
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
		return want(nil)
	}
	return fmt.Sprintf("unknown request kind %d", req.Kind)
}

// LockInvariants replays what each replica applied (its first incarnation,
// which started empty) against a model of the lock service and reports the
// violations: two holders of an exclusive lock at once, a fencing token that
// does not increase per lock, a lock released by a session that does not
// hold it, a lock still held after its holder released it or expired, and
// a read that disagrees.
func LockInvariants(applied []Applied) []string {
	var out []string
	models := map[paxos.NodeID]*lockModel{}
	bad := map[paxos.NodeID]bool{}
	for _, a := range applied {
		if a.Incarnation != 0 || a.Exec.Duplicate || a.Exec.Command.Op != paxos.OpApp || bad[a.Replica] {
			continue
		}
		m := models[a.Replica]
		if m == nil {
			m = &lockModel{sessions: map[uint64]int64{}, locks: map[string]*lockModelLock{}}
			models[a.Replica] = m
		}
		req, err := lockservice.DecodeRequest(a.Exec.Command.Payload)
		if err != nil {
			out = append(out, fmt.Sprintf("replica %d applied an undecodable command %v: %v", a.Replica, a.Exec.Command.ID(), err))
			bad[a.Replica] = true
			continue
		}
		if v := m.step(a.Exec.Command.Client, req, a.Exec.Output, a.Exec.Err); v != "" {
			out = append(out, fmt.Sprintf("lock service on replica %d, command %d.%d: %s", a.Replica, a.Exec.Command.Client, a.Exec.Command.Seq, v))
			bad[a.Replica] = true // the model no longer follows this replica
		}
	}
	return out
}

// lockInput is one operation for the linearizability check: the command as
// the replicas applied it (stamped).
type lockInput struct {
	cmd paxos.Command
}

// lockOutput is what the client saw; known is false for an operation that
// never returned.
type lockOutput struct {
	out, err string
	known    bool
}

// lockLinModel is the whole lock service as one porcupine state (its
// snapshot), stepped by a correct lockservice.Machine.
var lockLinModel = porcupine.Model{
	Init: func() interface{} { return string(lockservice.New().Snapshot()) },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		m := lockservice.New()
		if m.Restore([]byte(state.(string))) != nil {
			return false, state
		}
		in, o := input.(lockInput), output.(lockOutput)
		out, err := m.Apply(in.cmd)
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		if o.known && (out != o.out || errText != o.err) {
			return false, state
		}
		return true, string(m.Snapshot())
	},
	DescribeOperation: func(input, output interface{}) string {
		in, o := input.(lockInput), output.(lockOutput)
		req, _ := lockservice.DecodeRequest(in.cmd.Payload)
		rep, _ := lockservice.DecodeReply(o.out)
		return fmt.Sprintf("%d: %+v -> %+v %s", in.cmd.Client, req, rep, o.err)
	},
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
		hist = append(hist, porcupine.Operation{ClientId: int(o.Client), Call: int64(o.Call), Return: ret,
			Input: lockInput{cmd}, Output: lockOutput{out: o.Output, err: o.Err, known: o.Done}})
	}
	switch porcupine.CheckOperationsTimeout(lockLinModel, hist, timeout) {
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
