package sim

import (
	"fmt"
	"time"

	"github.com/paxos-lab/paxos"
)

// Hold stalls the one-way link from → to, as a connection whose peer
// stopped reading would: messages replica from sends to replica to from now
// on wait at the link instead of leaving (clients' messages are not held).
// Nothing is lost; Release sends the backlog on. A link both held and cut
// holds: the cut applies when the backlog leaves. Holding a replica's link
// to itself has no effect.
func (s *Sim) Hold(from, to paxos.NodeID) error {
	if err := s.checkID(from); err != nil {
		return err
	}
	if err := s.checkID(to); err != nil {
		return err
	}
	if from == to {
		return nil
	}
	if s.holds == nil {
		s.holds = make([]bool, s.n*s.n)
		s.held = map[int][]paxos.Message{}
	}
	s.holds[int(from)*s.n+int(to)] = true
	if s.cfg.Trace != nil {
		s.tracef("%d hold %d->%d\n", s.now, from, to)
	}
	return nil
}

// Release ends Hold on the link from → to: messages sent from now on leave
// at once, and the backlog leaves after the given delay (0 or more), in the
// order it was sent, as if sent then: the link's delay, faults and cuts of
// that moment apply, and it reaches the incarnation of replica to running
// then. A backlog that leaves later than new messages is overtaken by them,
// as a stalled connection's queue is by a fresh one. Releasing a link that
// is not held does nothing.
func (s *Sim) Release(from, to paxos.NodeID, after time.Duration) error {
	if err := s.checkID(from); err != nil {
		return err
	}
	if err := s.checkID(to); err != nil {
		return err
	}
	if after < 0 {
		return fmt.Errorf("%w: release link %d->%d after %v, want 0 or more", ErrReplica, from, to, after)
	}
	l := int(from)*s.n + int(to)
	if s.holds == nil || !s.holds[l] {
		return nil
	}
	s.holds[l] = false
	backlog := s.held[l]
	delete(s.held, l)
	if s.cfg.Trace != nil {
		s.tracef("%d release %d->%d backlog=%d after=%v\n", s.now, from, to, len(backlog), after)
	}
	if len(backlog) > 0 {
		s.At(s.now+after, func() {
			for i := range backlog {
				s.send(int(from), &backlog[i])
			}
		})
	}
	return nil
}

// holding reports whether link l (from*n+to) is held, and if so keeps m
// in its backlog.
func (s *Sim) holding(l int, m *paxos.Message) bool {
	if s.holds == nil || !s.holds[l] {
		return false
	}
	s.held[l] = append(s.held[l], *m)
	return true
}

// releaseAll releases every held link at once (see Heal).
func (s *Sim) releaseAll() {
	for l, h := range s.holds {
		if h {
			_ = s.Release(paxos.NodeID(l/s.n), paxos.NodeID(l%s.n), 0)
		}
	}
}
