package fastpaxos

import (
	"cmp"
	"slices"

	"github.com/paxos-lab/paxos"
)

// Uncoordinated recovery (see the package doc): unless Config.Thrifty is
// set, acceptors send their fast-round votes to every replica, and an
// acceptor that sees a classic quorum of a fast round (Round, L, 0) split
// votes itself, in the next round (Round, L, 1), for the value rule O4
// picks from those votes. (Round, L, 1) is then a fast round too, in which
// the leader sends nothing; the leader's coordinated recovery moves to
// (Round, L, 2), from the votes of (Round, L, 1).

// uncoordinated reports whether this replica runs uncoordinated recovery.
// Every replica of a cluster must agree (the same Config.Thrifty).
func (r *Replica) uncoordinated() bool { return !r.cfg.Thrifty }

// selfRecover is the acceptor's side: t holds the votes of the fast round
// t.ballot (Sub 0) in slot s. Once at least a classic quorum of them is in
// and they differ, the acceptor votes, at most once, at t.ballot with Sub 1
// for the value O4 picks from them.
func (r *Replica) selfRecover(s uint64, st *slot, t *tally) {
	next := t.ballot
	next.Sub = 1
	if r.rb != nil || st.learned || len(t.votes) < r.classic || !st.vote.Ballot.Less(next) || next.Less(r.effective(st)) {
		return
	}
	if !r.split(t) {
		return
	}
	v := r.pickUncoordinated(t.votes)
	r.stats["uncoordinated-votes"]++
	st.vote = Vote{Slot: s, Ballot: next, Fast: true, Value: v}
	r.persist(AcceptRecord{Vote: st.vote})
	r.broadcast(Voted{Vote: st.vote})
}

// pickUncoordinated is rule O4 over a quorum's votes of one fast round, as
// pick, except that when the rule leaves the value free it takes the most
// voted value and breaks ties by the value's first command id, not by the
// reporters: acceptors that saw different quorums then agree more often.
func (r *Replica) pickUncoordinated(votes map[paxos.NodeID]Vote) []paxos.Command {
	v, forced := r.pick(votes, len(votes))
	if forced {
		return v
	}
	type group struct {
		value []paxos.Command
		votes int
	}
	var groups []group
	for _, w := range votes {
		i := slices.IndexFunc(groups, func(g group) bool { return paxos.SameCommands(g.value, w.Value) })
		if i < 0 {
			groups = append(groups, group{value: w.Value})
			i = len(groups) - 1
		}
		groups[i].votes++
	}
	best := slices.MaxFunc(groups, func(a, b group) int {
		if c := cmp.Compare(a.votes, b.votes); c != 0 {
			return c
		}
		return -compareValues(a.value, b.value) // the smaller value wins a tie
	})
	return best.value
}

// compareValues orders two values by their commands' ids.
func compareValues(a, b []paxos.Command) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := cmp.Compare(a[i].Client, b[i].Client); c != 0 {
			return c
		}
		if c := cmp.Compare(a[i].Seq, b[i].Seq); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}
