package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/paxos-lab/paxos"
)

// Faults are message fault probabilities, each in [0, 1]. They apply to
// every message between different nodes: replica to replica, client to a
// remote replica and back. A message from a replica to itself, and between
// a client and its own site, is never faulted.
type Faults struct {
	// Drop is the probability that a message is lost.
	Drop float64
	// Duplicate is the probability that a message is delivered twice, each
	// copy with its own delay.
	Duplicate float64
	// Reorder is the probability that a message is held back by an extra
	// random delay, so that messages sent after it may overtake it.
	Reorder float64
	// ReorderDelay bounds that extra delay: it is uniform in
	// [0, ReorderDelay). Zero means the link's round-trip time, and at
	// least 1 ms.
	ReorderDelay time.Duration
}

// ErrFaults is wrapped by errors about invalid fault settings.
var ErrFaults = errors.New("sim: invalid faults")

func (f Faults) validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"Drop", f.Drop}, {"Duplicate", f.Duplicate}, {"Reorder", f.Reorder}} {
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("%w: %s=%v, want a probability in [0, 1]", ErrFaults, p.name, p.v)
		}
	}
	if f.ReorderDelay < 0 {
		return fmt.Errorf("%w: ReorderDelay=%v, must not be negative", ErrFaults, f.ReorderDelay)
	}
	return nil
}

func (f Faults) any() bool { return f.Drop > 0 || f.Duplicate > 0 || f.Reorder > 0 }

// combine treats the global and the per-link faults as independent: a
// message survives only if neither drops it, and so on.
func combine(g, l Faults) Faults {
	or := func(a, b float64) float64 { return 1 - (1-a)*(1-b) }
	c := Faults{Drop: or(g.Drop, l.Drop), Duplicate: or(g.Duplicate, l.Duplicate), Reorder: or(g.Reorder, l.Reorder), ReorderDelay: g.ReorderDelay}
	if l.ReorderDelay > 0 {
		c.ReorderDelay = l.ReorderDelay
	}
	return c
}

func (s *Sim) recompute() {
	s.faulty = false
	for i := range s.eff {
		s.eff[i] = combine(s.global, s.links[i])
		s.faulty = s.faulty || s.eff[i].any()
	}
}

// SetFaults sets the fault probabilities of every link (replacing the
// previous global setting; per-link settings still apply on top). Use
// SetFaults(Faults{}) to stop them.
func (s *Sim) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.global = f
	s.recompute()
	if s.cfg.Trace != nil {
		s.tracef("%d faults drop=%g dup=%g reorder=%g\n", s.now, f.Drop, f.Duplicate, f.Reorder)
	}
	return nil
}

// SetLinkFaults sets the fault probabilities of the one-way link from → to,
// in addition to the global ones (a message must survive both).
func (s *Sim) SetLinkFaults(from, to paxos.NodeID, f Faults) error {
	if err := s.checkID(from); err != nil {
		return err
	}
	if err := s.checkID(to); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	s.links[int(from)*s.n+int(to)] = f
	s.recompute()
	if s.cfg.Trace != nil {
		s.tracef("%d link-faults %d->%d drop=%g dup=%g reorder=%g\n", s.now, from, to, f.Drop, f.Duplicate, f.Reorder)
	}
	return nil
}

// Partition cuts every link, both ways, between replicas of different
// groups. Replicas named in no group form one more group together. Cuts add
// to those already in place; Heal removes them all. Messages already in
// flight still arrive: a cut applies to messages sent while it holds.
func (s *Sim) Partition(groups ...[]paxos.NodeID) error {
	group := make([]int, s.n)
	for i := range group {
		group[i] = -1
	}
	for g, ids := range groups {
		for _, id := range ids {
			if err := s.checkID(id); err != nil {
				return fmt.Errorf("partition group %d: %w", g, err)
			}
			if group[id] != -1 {
				return fmt.Errorf("%w: replica %d is in partition groups %d and %d; name each replica once", ErrReplica, id, group[id], g)
			}
			group[id] = g
		}
	}
	for i := 0; i < s.n; i++ {
		for j := 0; j < s.n; j++ {
			if group[i] != group[j] {
				s.cut[i*s.n+j] = true
			}
		}
	}
	if s.cfg.Trace != nil {
		s.tracef("%d partition %v\n", s.now, groups)
	}
	return nil
}

// Cut cuts the one-way link from → to: messages from replica from (and
// from clients at its site) to replica to (and to clients at its site) are
// lost until Heal. Cutting a replica from itself has no effect.
func (s *Sim) Cut(from, to paxos.NodeID) error {
	if err := s.checkID(from); err != nil {
		return err
	}
	if err := s.checkID(to); err != nil {
		return err
	}
	if from != to {
		s.cut[int(from)*s.n+int(to)] = true
	}
	if s.cfg.Trace != nil {
		s.tracef("%d cut %d->%d\n", s.now, from, to)
	}
	return nil
}

// HealLink restores the one-way link from → to, cut by Partition or Cut;
// other cuts stay.
func (s *Sim) HealLink(from, to paxos.NodeID) error {
	if err := s.checkID(from); err != nil {
		return err
	}
	if err := s.checkID(to); err != nil {
		return err
	}
	s.cut[int(from)*s.n+int(to)] = false
	if s.cfg.Trace != nil {
		s.tracef("%d heal-link %d->%d\n", s.now, from, to)
	}
	return nil
}

// Heal restores every link cut by Partition or Cut and releases every link
// held by Hold (its backlog leaves at once). It does not change the fault
// probabilities; use SetFaults and SetLinkFaults for those.
func (s *Sim) Heal() {
	clear(s.cut)
	s.releaseAll()
	if s.cfg.Trace != nil {
		s.tracef("%d heal\n", s.now)
	}
}

// route decides the fate of one message on the link from → to (replica
// sites): how many copies arrive (0, 1 or 2) and after which delays. It
// counts losses.
func (s *Sim) route(from, to int) (copies int, d1, d2 time.Duration) {
	if from == to {
		return 1, 0, 0
	}
	l := from*s.n + to
	if s.cut[l] {
		s.dropped++
		return 0, 0, 0
	}
	if !s.faulty {
		return 1, s.delay(l, nil), 0
	}
	f := &s.eff[l]
	if f.Drop > 0 && s.rng.Float64() < f.Drop {
		s.dropped++
		return 0, 0, 0
	}
	copies = 1
	if f.Duplicate > 0 && s.rng.Float64() < f.Duplicate {
		copies = 2
		d2 = s.delay(l, f)
	}
	return copies, s.delay(l, f), d2
}

// delay draws one message's delay on link l.
func (s *Sim) delay(l int, f *Faults) time.Duration {
	d := s.oneWay[l]
	if s.cfg.Jitter > 0 {
		d += time.Duration(s.rng.Int64N(int64(s.cfg.Jitter)))
	}
	if f != nil && f.Reorder > 0 && s.rng.Float64() < f.Reorder {
		bound := f.ReorderDelay
		if bound == 0 {
			bound = max(2*s.oneWay[l], time.Millisecond)
		}
		d += time.Duration(s.rng.Int64N(int64(bound)))
	}
	return d
}
