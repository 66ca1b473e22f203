package sim_test

import (
	"fmt"
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// This file holds two test-only replicas that exercise the simulator
// without depending on any real protocol.

// ---------------------------------------------------------------------------
// echo: every proposal is sent as a ping to every replica (itself included);
// a replica executes every ping it receives. It shows exactly which messages
// were delivered, when, and how often.

type ping struct{ Cmd paxos.Command }

type echo struct {
	id    paxos.NodeID
	n     int
	ticks int
	rd    paxos.Ready
}

func newEcho(cfg paxos.Config) (paxos.Replica, error) {
	if err := cfg.WithDefaults().Validate(); err != nil {
		return nil, err
	}
	return &echo{id: cfg.ID, n: cfg.N}, nil
}

func (e *echo) ID() paxos.NodeID { return e.id }

func (e *echo) Propose(cmd paxos.Command) {
	for to := 0; to < e.n; to++ {
		e.rd.Messages = append(e.rd.Messages, paxos.Message{From: e.id, To: paxos.NodeID(to), Body: ping{Cmd: cmd}})
	}
}

func (e *echo) Step(m paxos.Message) error {
	p, ok := m.Body.(ping)
	if !ok {
		return fmt.Errorf("echo: unexpected %T", m.Body)
	}
	e.rd.Executed = append(e.rd.Executed, paxos.Execution{Command: p.Cmd, Output: fmt.Sprintf("from%d", m.From)})
	return nil
}

func (e *echo) Tick() { e.ticks++ }

func (e *echo) Ready() paxos.Ready {
	rd := e.rd
	e.rd = paxos.Ready{}
	return rd
}

// ---------------------------------------------------------------------------
// toy: a fixed-leader replicated log (replica 0 leads; no ballots, no
// recovery, not fault tolerant). Followers forward proposals to the leader,
// which assigns slots, replicates to everyone, commits on a majority of
// acknowledgements and broadcasts the commit. Acceptors persist before they
// acknowledge. Every snapEvery records a replica snapshots its log.

type (
	fwd struct{ Cmd paxos.Command }
	acc struct {
		Slot   uint64
		Cmd    paxos.Command
		Origin paxos.NodeID
	}
	ack struct{ Slot uint64 }
	cmt struct {
		Slot   uint64
		Cmd    paxos.Command
		Origin paxos.NodeID
	}
	need   struct{ From uint64 }
	toyRec struct {
		Slot uint64
		Cmd  paxos.Command
	}
	toySnap struct{ Log map[uint64]paxos.Command }
)

type toy struct {
	id        paxos.NodeID
	n         int
	snapEvery int
	// durable (rebuilt on restore)
	log     map[uint64]paxos.Command
	records int
	// volatile
	restored int // how many log entries the restore found
	ticks    int
	next     uint64 // leader: last assigned slot
	acks     map[uint64]int
	pending  map[uint64]acc
	sentAt   map[uint64]int // leader: tick count when a pending slot was last sent
	done     map[uint64]cmt // committed
	executed uint64
	store    *kv.Executor
	rd       paxos.Ready
}

func newToy(snapEvery int) paxos.Constructor {
	return func(cfg paxos.Config) (paxos.Replica, error) {
		if err := cfg.WithDefaults().Validate(); err != nil {
			return nil, err
		}
		t := &toy{id: cfg.ID, n: cfg.N, snapEvery: snapEvery, log: map[uint64]paxos.Command{},
			acks: map[uint64]int{}, pending: map[uint64]acc{}, sentAt: map[uint64]int{}, done: map[uint64]cmt{}, store: kv.NewExecutor(paxos.Config{})}
		if r := cfg.Restore; r != nil {
			if r.Snapshot != nil {
				snap, ok := r.Snapshot.(toySnap)
				if !ok {
					return nil, fmt.Errorf("toy: snapshot is %T", r.Snapshot)
				}
				for s, c := range snap.Log {
					t.log[s] = c
				}
			}
			for _, rec := range r.Records {
				tr, ok := rec.(toyRec)
				if !ok {
					return nil, fmt.Errorf("toy: record is %T", rec)
				}
				t.log[tr.Slot] = tr.Cmd
			}
			t.restored = len(t.log)
			for s := range t.log {
				t.next = max(t.next, s)
			}
		}
		return t, nil
	}
}

func (t *toy) ID() paxos.NodeID { return t.id }

func (t *toy) send(to paxos.NodeID, body any) {
	t.rd.Messages = append(t.rd.Messages, paxos.Message{From: t.id, To: to, Body: body})
}

func (t *toy) persist(slot uint64, cmd paxos.Command) {
	t.log[slot] = cmd
	t.records++
	if t.snapEvery > 0 && t.records%t.snapEvery == 0 {
		snap := toySnap{Log: make(map[uint64]paxos.Command, len(t.log))}
		for s, c := range t.log {
			snap.Log[s] = c
		}
		t.rd.Snapshot = snap
		t.rd.Persist = nil
		return
	}
	t.rd.Persist = append(t.rd.Persist, toyRec{Slot: slot, Cmd: cmd})
}

func (t *toy) Propose(cmd paxos.Command) {
	if t.id != 0 {
		t.send(0, fwd{Cmd: cmd})
		return
	}
	t.lead(cmd, t.id)
}

func (t *toy) lead(cmd paxos.Command, origin paxos.NodeID) {
	t.next++
	a := acc{Slot: t.next, Cmd: cmd, Origin: origin}
	t.pending[a.Slot] = a
	t.sentAt[a.Slot] = t.ticks
	for to := 0; to < t.n; to++ {
		t.send(paxos.NodeID(to), a)
	}
}

func (t *toy) Step(m paxos.Message) error {
	switch b := m.Body.(type) {
	case fwd:
		if t.id != 0 {
			return fmt.Errorf("toy: replica %d is not the leader", t.id)
		}
		t.lead(b.Cmd, m.From)
	case acc:
		t.persist(b.Slot, b.Cmd)
		t.send(m.From, ack{Slot: b.Slot})
	case ack:
		a, ok := t.pending[b.Slot]
		if !ok {
			return nil
		}
		t.acks[b.Slot]++
		if t.acks[b.Slot] == t.n/2+1 {
			delete(t.pending, b.Slot)
			delete(t.sentAt, b.Slot)
			for to := 0; to < t.n; to++ {
				t.send(paxos.NodeID(to), cmt(a))
			}
		}
	case cmt:
		if _, dup := t.done[b.Slot]; dup {
			return nil
		}
		t.done[b.Slot] = b
		t.rd.Decided = append(t.rd.Decided, paxos.Decision{Instance: paxos.Instance{Slot: b.Slot}, Commands: []paxos.Command{b.Cmd}})
		if b.Origin == t.id {
			t.rd.Committed = append(t.rd.Committed, paxos.Commit{ID: b.Cmd.ID(), Path: paxos.PathClassic})
		}
		for {
			c, ok := t.done[t.executed+1]
			if !ok {
				break
			}
			t.executed++
			t.rd.Executed = append(t.rd.Executed, t.store.Apply(&c.Cmd))
		}
	case need:
		for s := b.From; s < b.From+20; s++ {
			if c, ok := t.done[s]; ok {
				t.send(m.From, c)
			}
		}
	default:
		return fmt.Errorf("toy: unexpected %T", m.Body)
	}
	return nil
}

// Tick retransmits: the leader its uncommitted accepts, followers a request
// for the commits they miss.
func (t *toy) Tick() {
	t.ticks++
	if t.id != 0 {
		t.send(0, need{From: t.executed + 1})
		return
	}
	slots := make([]uint64, 0, len(t.pending))
	for s := range t.pending {
		slots = append(slots, s)
	}
	slices.Sort(slots)
	for _, s := range slots {
		if t.ticks-t.sentAt[s] < 3 {
			continue
		}
		t.sentAt[s] = t.ticks
		for to := 1; to < t.n; to++ {
			t.send(paxos.NodeID(to), t.pending[s])
		}
	}
}

func (t *toy) Ready() paxos.Ready {
	rd := t.rd
	t.rd = paxos.Ready{}
	return rd
}
