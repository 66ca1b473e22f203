// Package readypool keeps the lists of a finished paxos.Ready for the next
// one, so that a replica driven by node.Node does not allocate its Ready's
// lists anew, and grow them, every time it is asked for one.
//
// A replica embeds a Spares, hands the lists of a Ready the node is done
// with to Put (from its RecycleReady method, which node.Node calls once it
// has carried a Ready out), and calls Fill on the Ready it is starting.
// Replicas driven by anything else (the simulator, the checker) never call
// Put, so Fill leaves their Readies as before: nil lists.
package readypool

import "github.com/paxos-lab/paxos"

// maxKept bounds the capacity of a list kept for reuse, so that one burst
// does not pin a large array for the rest of the run.
const maxKept = 1 << 14

// Spares holds at most one emptied list of each kind but Persist (a
// storage may keep the records it was handed). The zero value is ready to
// use.
type Spares struct {
	messages  []paxos.Message
	executed  []paxos.Execution
	committed []paxos.Commit
	decided   []paxos.Decision
}

// Put keeps rd's lists for reuse, cleared so that they hold on to nothing.
// The caller must be done with rd and everything that shares its lists.
func (s *Spares) Put(rd *paxos.Ready) {
	s.messages = keep(s.messages, rd.Messages)
	s.executed = keep(s.executed, rd.Executed)
	s.committed = keep(s.committed, rd.Committed)
	s.decided = keep(s.decided, rd.Decided)
}

// Fill gives each nil list of rd but Persist a kept one (empty, with room), if any.
func (s *Spares) Fill(rd *paxos.Ready) {
	rd.Messages, s.messages = take(rd.Messages, s.messages)
	rd.Executed, s.executed = take(rd.Executed, s.executed)
	rd.Committed, s.committed = take(rd.Committed, s.committed)
	rd.Decided, s.decided = take(rd.Decided, s.decided)
}

// keep returns the larger of the spare and the returned list, the latter
// cleared, as the new spare.
func keep[T any](spare, done []T) []T {
	if cap(done) <= cap(spare) || cap(done) > maxKept {
		return spare
	}
	clear(done)
	return done[:0]
}

// take hands the spare to a nil list.
func take[T any](list, spare []T) ([]T, []T) {
	if list != nil || spare == nil {
		return list, spare
	}
	return spare, nil
}
