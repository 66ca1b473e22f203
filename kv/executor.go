package kv

import (
	"fmt"

	"github.com/paxos-lab/paxos"
)

// Executor is what a protocol applies committed commands to: the built-in
// Store (the default), or an application's paxos.StateMachine wrapped in
// the library's exactly-once paxos.Sessions when Config.StateMachine is
// set. Both deduplicate by (client, seq) and snapshot into a Snapshot (an
// application's state in Snapshot.App), so a protocol handles them alike.
type Executor struct {
	store *Store
	app   *paxos.Sessions
}

// NewExecutor returns an empty executor for cfg's state machine.
func NewExecutor(cfg paxos.Config) *Executor {
	if cfg.StateMachine == nil {
		return &Executor{store: New()}
	}
	return &Executor{app: paxos.NewSessions(cfg.StateMachine())}
}

// ExecutorFromSnapshot rebuilds an executor for cfg's state machine from a
// snapshot its Snapshot returned.
func ExecutorFromSnapshot(cfg paxos.Config, snap Snapshot) (*Executor, error) {
	if cfg.StateMachine == nil {
		if snap.App != nil {
			return nil, fmt.Errorf("kv: snapshot holds an application state machine but Config.StateMachine is nil; restore with the same state machine")
		}
		return &Executor{store: FromSnapshot(snap)}, nil
	}
	e := NewExecutor(cfg)
	if snap.App == nil {
		if snap.Len() > 0 || len(snap.Sessions) > 0 {
			return nil, fmt.Errorf("kv: snapshot holds a key-value store but Config.StateMachine is set; restore with the same state machine")
		}
		return e, nil // an empty snapshot: nothing executed yet
	}
	if err := e.app.Restore(snap.App); err != nil {
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
	if e.app != nil {
		return 0
	}
	return e.store.Len()
}

// App reports whether e runs an application state machine.
func (e *Executor) App() bool { return e.app != nil }

// Check is paxos.CheckCommand for this executor's state machine.
func (e *Executor) Check(cmd paxos.Command) error { return paxos.CheckCommand(cmd, e.app != nil) }

// Apply executes cmd once per (client, seq) and returns its execution.
func (e *Executor) Apply(cmd paxos.Command) paxos.Execution {
	if e.app != nil {
		return e.app.Apply(cmd)
	}
	return e.store.Apply(cmd)
}

// ApplyChosen applies the commands of a chosen value in order, leaving out
// internal no-ops (a Nop with Client 0, which fills a slot nobody proposed
// to), and returns their execution records.
func (e *Executor) ApplyChosen(cmds []paxos.Command) []paxos.Execution {
	var out []paxos.Execution
	for _, c := range cmds {
		if c.Client == 0 && c.IsNop() {
			continue
		}
		out = append(out, e.Apply(c))
	}
	return out
}

// Executed reports whether cmd's (client, seq) already executed, and the
// execution (Duplicate set) that answers a retry.
func (e *Executor) Executed(cmd paxos.Command) (paxos.Execution, bool) {
	if e.app != nil {
		return e.app.Executed(cmd)
	}
	out, ok := e.store.Executed(cmd.ID())
	return paxos.Execution{Command: cmd, Output: out, Duplicate: true}, ok
}

// Read answers a read-only command (a Get, or an application command
// marked ReadOnly) from current state without recording it, for reads
// served under a lease. LocalRead is set.
func (e *Executor) Read(cmd paxos.Command) paxos.Execution {
	if e.app != nil {
		return e.app.Read(cmd)
	}
	out, missing := e.store.Lookup(cmd.Key)
	return paxos.Execution{Command: cmd, Output: out, LocalRead: true, Missing: missing}
}

// Snapshot returns a copy of the executor's state.
func (e *Executor) Snapshot() Snapshot {
	if e.app != nil {
		return Snapshot{App: e.app.Snapshot()}
	}
	return e.store.Snapshot()
}

// Store returns the key-value store, or nil for an application state machine.
func (e *Executor) Store() *Store { return e.store }
