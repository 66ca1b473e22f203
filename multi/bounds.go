package multi

import (
	"fmt"

	"github.com/paxos-lab/paxos"
)

// ahead is how far beyond its execution point this replica stores a slot.
// A leader keeps at most Window slots in flight past its own execution
// point, a new leader takes over what its phase-1 quorum holds (at most a
// snapshot interval and a window past the snapshot it may install), and a
// catch-up answer carries maxCatchUp slots; the bound is twice the sum. A
// message naming a slot further ahead is refused as malformed before
// anything is allocated for it: a correct follower that far behind first
// catches up through the leader's CatchUp and InstallSnapshot, which the
// heartbeat replies trigger.
func (r *Replica) ahead() uint64 {
	return 4*uint64(r.cfg.Window) + 2*r.every + 2*maxCatchUp
}

// horizon is the highest slot this replica stores a value for.
func (r *Replica) horizon() uint64 {
	h := r.executed + r.ahead()
	if h < r.executed {
		return ^uint64(0)
	}
	return h
}

func (r *Replica) checkSlot(slot uint64, cmds []paxos.Command) error {
	if slot == 0 {
		return fmt.Errorf("%w: slot 0 (slots start at 1)", paxos.ErrMalformed)
	}
	if slot > r.horizon() {
		return fmt.Errorf("%w: slot %d is more than %d slots beyond execution point %d (Config.Window=%d); a replica that far behind catches up first",
			paxos.ErrMalformed, slot, r.ahead(), r.executed, r.cfg.Window)
	}
	if len(cmds) == 0 {
		return fmt.Errorf("%w: slot %d carries no command", paxos.ErrMalformed, slot)
	}
	if len(cmds) > r.cfg.Batch {
		return fmt.Errorf("%w: %d commands for slot %d, more than Config.Batch=%d; every replica must run with the same Batch", paxos.ErrMalformed, len(cmds), slot, r.cfg.Batch)
	}
	return nil
}

// checkBallot refuses a ballot naming no replica of the cluster, or a
// round no correct replica reaches (see paxos.MaxRound).
func (r *Replica) checkBallot(b Ballot) error {
	if b.Node < 0 || int(b.Node) >= r.n || b.Round > paxos.MaxRound {
		return fmt.Errorf("%w: ballot %v names replica %d of 0..%d or a round above %d", paxos.ErrMalformed, b, b.Node, r.n-1, uint64(paxos.MaxRound))
	}
	return nil
}

func checkSnapshot(s Snapshot) error {
	if s.Index > paxos.MaxSlot {
		return fmt.Errorf("%w: snapshot at slot %d, above %d", paxos.ErrMalformed, s.Index, uint64(paxos.MaxSlot))
	}
	return nil
}

// checkBallots validates every ballot a message carries, and the sizes of
// its lists, before any handler looks at it.
func (r *Replica) checkBallots(from paxos.NodeID, body any) error {
	var bs []Ballot
	switch m := body.(type) {
	case Prepare:
		if m.Commit > paxos.MaxSlot {
			return fmt.Errorf("%w: prepare with commit point %d, above %d", paxos.ErrMalformed, m.Commit, uint64(paxos.MaxSlot))
		}
		bs = []Ballot{m.Ballot}
	case Promise:
		if m.Snapshot != nil {
			if err := checkSnapshot(*m.Snapshot); err != nil {
				return err
			}
		}
		if len(m.Entries) > 2*int(min(r.ahead(), 1<<30)) {
			return fmt.Errorf("%w: promise with %d entries, more than a window holds", paxos.ErrMalformed, len(m.Entries))
		}
		bs = []Ballot{m.Ballot}
		for _, e := range m.Entries {
			bs = append(bs, e.Ballot)
		}
	case Accept:
		bs = []Ballot{m.Ballot}
	case Accepted:
		bs = []Ballot{m.Ballot}
	case Commit:
		if m.Ballot.Node != from {
			return fmt.Errorf("%w: commit for ballot %v sent by %d, not by that ballot's leader", paxos.ErrMalformed, m.Ballot, from)
		}
		bs = []Ballot{m.Ballot}
	case Chosen:
		if m.Ballot.Node != from {
			return fmt.Errorf("%w: commit for ballot %v sent by %d, not by that ballot's leader", paxos.ErrMalformed, m.Ballot, from)
		}
		bs = []Ballot{m.Ballot}
	case Nack:
		bs = []Ballot{m.Promised}
	case Heartbeat:
		bs = []Ballot{m.Ballot}
	case HeartbeatReply:
		if m.Tick > r.now {
			return fmt.Errorf("%w: heartbeat reply echoes tick %d, this replica is at tick %d", paxos.ErrMalformed, m.Tick, r.now)
		}
		bs = []Ballot{m.Ballot}
	case Forward:
		if len(m.Cmds) > r.fwdCap {
			return fmt.Errorf("%w: forward of %d commands, more than max(Window, Batch)=%d", paxos.ErrMalformed, len(m.Cmds), r.fwdCap)
		}
	case CatchUp:
		if m.Ballot.Node != from {
			return fmt.Errorf("%w: catch-up for ballot %v sent by %d, not by that ballot's leader", paxos.ErrMalformed, m.Ballot, from)
		}
		if len(m.Entries) > maxCatchUp {
			return fmt.Errorf("%w: catch-up with %d entries, at most %d", paxos.ErrMalformed, len(m.Entries), maxCatchUp)
		}
		bs = []Ballot{m.Ballot}
		for _, e := range m.Entries {
			bs = append(bs, e.Ballot)
		}
	case InstallSnapshot:
		if m.Ballot.Node != from {
			return fmt.Errorf("%w: snapshot for ballot %v sent by %d, not by that ballot's leader", paxos.ErrMalformed, m.Ballot, from)
		}
		if err := checkSnapshot(m.Snapshot); err != nil {
			return err
		}
		bs = []Ballot{m.Ballot}
	case RebuildInfo:
		if m.Last > paxos.MaxSlot {
			return fmt.Errorf("%w: rebuild answer with last slot %d, above %d", paxos.ErrMalformed, m.Last, uint64(paxos.MaxSlot))
		}
		bs = []Ballot{m.Promised}
	}
	for _, b := range bs {
		if err := r.checkBallot(b); err != nil {
			return err
		}
	}
	return nil
}
