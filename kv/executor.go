package kv

import (
	"fmt"

	"github.com/paxos-lab/paxos"
)

// Executor is what a protocol applies committed commands to: a state
// machine wrapped in the library's exactly-once sessions (paxos.Sessions),
// the one execution path of every protocol. The state machine is
// Config.StateMachine's, or the built-in Store when that is nil (the
// default). Snapshots hold the sessions with the state: the Store's data
// shared copy-on-write in the Snapshot's own fields, an application's
// state in Snapshot.App.
type Executor struct {
	sess  *paxos.Sessions
	store *Store // the state machine when it is the key-value store, else nil
	// sink keeps what Prefetch read, so that the compiler keeps the reads.
	sink uint64
}

// NewExecutor returns an empty executor for cfg's state machine.
func NewExecutor(cfg paxos.Config) *Executor {
	if cfg.StateMachine == nil {
		st := New()
		return &Executor{sess: paxos.NewSessions(st), store: st}
	}
	return &Executor{sess: paxos.NewSessions(cfg.StateMachine())}
}

// ExecutorFromSnapshot rebuilds an executor for cfg's state machine from a
// snapshot its Snapshot returned.
func ExecutorFromSnapshot(cfg paxos.Config, snap Snapshot) (*Executor, error) {
	if cfg.StateMachine == nil {
		if snap.App != nil {
			return nil, fmt.Errorf("kv: snapshot holds an application state machine but Config.StateMachine is nil; restore with the same state machine")
		}
		st := FromSnapshot(snap)
		e := &Executor{sess: paxos.NewSessions(st), store: st}
		if err := e.sess.RestoreSessions(snap.Sessions); err != nil {
			return nil, fmt.Errorf("kv: restore the store's sessions: %w", err)
		}
		return e, nil
	}
	e := NewExecutor(cfg)
	if snap.App == nil {
		if snap.Len() > 0 || len(snap.Sessions) > 0 {
			return nil, fmt.Errorf("kv: snapshot holds a key-value store but Config.StateMachine is set; restore with the same state machine")
		}
		return e, nil // an empty snapshot: nothing executed yet
	}
	if err := e.sess.Restore(snap.App); err != nil {
		return nil, fmt.Errorf("kv: restore application state: %w", err)
	}
	return e, nil
}

// Install replaces e's state with snap (a peer's snapshot). On an error e
// is unchanged.
func (e *Executor) Install(cfg paxos.Config, snap Snapshot) error {
	n, err := ExecutorFromSnapshot(cfg, snap)
	if err != nil {
		return err
	}
	*e = *n
	return nil
}

// Len is the number of keys the key-value store holds (0 for an
// application state machine, whose size the executor does not know):
// what protocols pace snapshots by.
func (e *Executor) Len() int {
	if e.store == nil {
		return 0
	}
	return e.store.Len()
}

// App reports whether e runs an application state machine.
func (e *Executor) App() bool { return e.store == nil }

// Check is paxos.CheckCommand for this executor's state machine.
func (e *Executor) Check(cmd *paxos.Command) error { return paxos.CheckCommand(cmd, e.store == nil) }

// Apply executes cmd once per (client, seq) and returns its execution.
func (e *Executor) Apply(cmd *paxos.Command) paxos.Execution { return e.sess.Apply(cmd) }

// ApplyTo is Apply writing the execution into *ex (paxos.Sessions.ApplyTo).
func (e *Executor) ApplyTo(ex *paxos.Execution, cmd *paxos.Command) { e.sess.ApplyTo(ex, cmd) }

// Prefetch reads, for each Get and Put of cmds, the slot of the store's
// table where its key is or would go, and changes nothing. Called before
// applying a batch, it lets the cache misses of those reads overlap, where
// applying the commands one by one takes them one after another: with
// distinct keys in a large store each put's probe misses the cache (about
// a tenth of a live replica's CPU). An application state machine gets
// nothing from it.
func (e *Executor) Prefetch(cmds []paxos.Command) {
	if e.store != nil {
		e.sink += e.store.prefetch(cmds)
	}
}

// ApplyChosen applies the commands of a chosen value in order, leaving out
// internal no-ops (a Nop with Client 0, which fills a slot nobody proposed
// to), and returns their execution records.
func (e *Executor) ApplyChosen(cmds []paxos.Command) []paxos.Execution {
	if len(cmds) == 0 {
		return nil
	}
	out := make([]paxos.Execution, 0, len(cmds)) // one allocation, not one per doubling
	for i := range cmds {
		c := &cmds[i]
		if c.Client == 0 && c.IsNop() {
			continue
		}
		out = out[:len(out)+1]
		e.sess.ApplyTo(&out[len(out)-1], c)
	}
	return out
}

// Executed reports whether cmd's (client, seq) already executed, and the
// execution (Duplicate set) that answers a retry.
func (e *Executor) Executed(cmd *paxos.Command) (paxos.Execution, bool) {
	return e.sess.Executed(cmd)
}

// Done reports whether cmd's (client, seq) already executed
// (paxos.Sessions.Done).
func (e *Executor) Done(cmd *paxos.Command) bool { return e.sess.Done(cmd) }

// Read answers a read-only command (a Get, or an application command
// marked ReadOnly) from current state without recording it, for reads
// served under a lease. LocalRead is set.
func (e *Executor) Read(cmd *paxos.Command) paxos.Execution { return e.sess.Read(cmd) }

// Snapshot returns a copy of the executor's state.
func (e *Executor) Snapshot() Snapshot {
	if e.store == nil {
		return Snapshot{App: e.sess.Snapshot()}
	}
	snap := e.store.share()
	snap.Sessions = e.sess.SnapshotSessions()
	return snap
}

// Store returns the key-value store, or nil for an application state machine.
func (e *Executor) Store() *Store { return e.store }
