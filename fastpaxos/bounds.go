package fastpaxos

import (
	"fmt"

	"github.com/paxos-lab/paxos"
)

// ahead is how far beyond its learned prefix this replica stores a slot. A
// proposer or leader opens a slot only within Config.Window of its own
// learned prefix, and a catch-up answer carries maxCatchUp slots; the bound
// leaves room for peers ahead of this replica by a few windows. A message
// naming a slot further ahead is refused as malformed before anything is
// stored for it: a correct replica that far behind catches up first (a
// leader's Any, or a refused Prepare's Nack, tells it how far to go).
func (r *Replica) ahead() uint64 {
	return 4*uint64(r.cfg.Window) + 2*maxCatchUp
}

// horizon is the highest slot this replica stores anything for.
func (r *Replica) horizon() uint64 { return r.learnedTo + r.ahead() }

// check refuses, with an error wrapping paxos.ErrMalformed, a message no
// correct peer could send: addressed to another replica, from a sender
// outside the cluster or from this replica itself, with a slot beyond the
// horizon (a promise's votes: beyond two horizons, since the promiser may
// be ahead), a ballot naming no replica or a round above paxos.MaxRound, a
// value of no command or more than Config.Batch, or a list
// longer than any correct replica sends.
func (r *Replica) check(msg paxos.Message) error {
	if msg.To != r.id {
		return fmt.Errorf("%w: message for replica %d delivered to %d", paxos.ErrMalformed, msg.To, r.id)
	}
	if msg.From < 0 || int(msg.From) >= r.n || msg.From == r.id {
		return fmt.Errorf("%w: sender %d is not a peer of replica %d in 0..%d", paxos.ErrMalformed, msg.From, r.id, r.n-1)
	}
	switch m := msg.Body.(type) {
	case Prepare:
		return r.checkBallot(m.Ballot)
	case Promise:
		if err := r.checkBallot(m.Ballot); err != nil {
			return err
		}
		limit := r.learnedTo + 2*r.ahead() + 1
		if uint64(len(m.Votes)) > 2*r.ahead()+1 {
			return fmt.Errorf("%w: promise with %d votes, more than a promiser reports (%d)", paxos.ErrMalformed, len(m.Votes), 2*r.ahead()+1)
		}
		for _, v := range m.Votes {
			if err := r.checkVote(v, limit, !v.Decided); err != nil {
				return err
			}
		}
		return nil
	case Any:
		return r.checkBallot(m.Ballot)
	case Propose:
		if err := r.checkSlot(m.Slot, m.Value, r.horizon()); err != nil {
			return err
		}
		return r.checkBallot(m.Ballot)
	case Accept:
		if err := r.checkSlot(m.Slot, m.Value, r.horizon()); err != nil {
			return err
		}
		return r.checkBallot(m.Ballot)
	case Voted:
		return r.checkVote(m.Vote, r.horizon(), true)
	case Recover:
		if m.Slot == 0 || m.Slot > r.horizon() || m.Ballot.Sub == 0 {
			return fmt.Errorf("%w: recover for slot %d at %v (horizon %d, recovery ballots have Sub > 0)", paxos.ErrMalformed, m.Slot, m.Ballot, r.horizon())
		}
		return r.checkBallot(m.Ballot)
	case Report:
		if m.Ballot.Sub == 0 {
			return fmt.Errorf("%w: report at %v, not a recovery ballot", paxos.ErrMalformed, m.Ballot)
		}
		if err := r.checkBallot(m.Ballot); err != nil {
			return err
		}
		if m.Vote.Ballot.IsZero() && len(m.Vote.Value) == 0 { // nothing voted
			if m.Vote.Slot == 0 || m.Vote.Slot > r.horizon() {
				return fmt.Errorf("%w: report for slot %d (horizon %d)", paxos.ErrMalformed, m.Vote.Slot, r.horizon())
			}
			return nil
		}
		return r.checkVote(m.Vote, r.horizon(), true)
	case Nack:
		if err := r.checkBallot(m.Ballot); err != nil {
			return err
		}
		return r.checkBallot(m.Promised)
	case Commit:
		return r.checkSlot(m.Slot, m.Value, r.horizon())
	case Forward, CatchUp, RebuildQuery:
		return nil
	case RebuildInfo:
		if m.MaxSlot > paxos.MaxSlot || m.Term.Sub != 0 {
			return fmt.Errorf("%w: rebuild answer with slot %d (at most %d) or term %v (Sub must be 0)", paxos.ErrMalformed, m.MaxSlot, uint64(paxos.MaxSlot), m.Term)
		}
		return r.checkBallot(m.Term)
	case InstallSnapshot:
		if m.Snapshot.Index > paxos.MaxSlot {
			return fmt.Errorf("%w: snapshot at slot %d, above %d", paxos.ErrMalformed, m.Snapshot.Index, uint64(paxos.MaxSlot))
		}
		return nil
	case Learned:
		if len(m.Votes) > maxCatchUp {
			return fmt.Errorf("%w: catch-up answer with %d slots, more than %d", paxos.ErrMalformed, len(m.Votes), maxCatchUp)
		}
		for _, v := range m.Votes {
			if err := r.checkVote(v, r.horizon(), false); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("%w: unexpected message type %T", paxos.ErrMalformed, msg.Body)
	}
}

// checkSlot refuses slot 0, a slot beyond limit, and a value of no command
// or more than Config.Batch.
func (r *Replica) checkSlot(slot uint64, value []paxos.Command, limit uint64) error {
	if slot == 0 || slot > limit {
		return fmt.Errorf("%w: slot %d outside 1..%d (%d slots beyond learned prefix %d, Config.Window=%d); a replica that far behind catches up first",
			paxos.ErrMalformed, slot, limit, r.ahead(), r.learnedTo, r.cfg.Window)
	}
	if len(value) == 0 || len(value) > r.cfg.Batch {
		return fmt.Errorf("%w: slot %d carries %d commands, not 1..Config.Batch=%d; every replica must run with the same Batch", paxos.ErrMalformed, slot, len(value), r.cfg.Batch)
	}
	return nil
}

// checkVote refuses a vote checkSlot refuses, or with a malformed ballot (a
// zero one too, when voted is set: a vote is cast at some ballot).
func (r *Replica) checkVote(v Vote, limit uint64, voted bool) error {
	if err := r.checkSlot(v.Slot, v.Value, limit); err != nil {
		return err
	}
	if voted && v.Ballot.IsZero() {
		return fmt.Errorf("%w: vote for slot %d without a ballot", paxos.ErrMalformed, v.Slot)
	}
	return r.checkBallot(v.Ballot)
}

// checkBallot refuses a ballot naming no replica of the cluster, or a round
// no correct replica reaches (see paxos.MaxRound).
func (r *Replica) checkBallot(b Ballot) error {
	if b.Node < 0 || int(b.Node) >= r.n || b.Round > paxos.MaxRound {
		return fmt.Errorf("%w: ballot %v names replica %d of 0..%d or a round above %d", paxos.ErrMalformed, b, b.Node, r.n-1, uint64(paxos.MaxRound))
	}
	return nil
}
