package multi

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// TestRetransmitReachesSlowReplica: of a leader's two followers, replica 2
// answers heartbeats at once but never acknowledges an Accept (as a replica
// rebuilding after a lost disk does), and replica 1 answers heartbeats
// several ticks late and lost the first Accept. The leader must still resend
// the Accept to replica 1 once its heartbeat replies show it alive, and
// commit. When the resend time was kept per slot, each resend to the quick
// replica 2 pushed it past what replica 1's late replies could ever show,
// and the slot never committed.
func TestRetransmitReachesSlowReplica(t *testing.T) {
	const lag = 8 // ticks replica 1's heartbeat replies take
	r, err := NewEngine(paxos.Config{ID: 0, N: 3, InitialLeader: 0, RetryTicks: 3, SnapshotEvery: -1}, Options{})
	require.NoError(t, err)
	r.Ready()
	r.Propose(paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "v"})
	r.Ready() // the first Accepts are lost

	type delayed struct {
		at  int
		msg paxos.Message
	}
	var late []delayed
	committed := false
	for tick := 0; tick < 200 && !committed; tick++ {
		r.Tick()
		for _, d := range late {
			if d.at == tick {
				require.NoError(t, r.Step(d.msg))
			}
		}
		rd := r.Ready()
		for _, m := range rd.Messages {
			switch b := m.Body.(type) {
			case Heartbeat:
				reply := paxos.Message{From: m.To, To: 0, Body: HeartbeatReply{Ballot: b.Ballot, Commit: b.Commit, Tick: b.Tick}}
				if m.To == 2 {
					require.NoError(t, r.Step(reply))
				} else {
					late = append(late, delayed{tick + lag, reply})
				}
			case Accept:
				if m.To == 1 {
					require.NoError(t, r.Step(paxos.Message{From: 1, To: 0, Body: Accepted{Ballot: b.Ballot, Slot: b.Slot}}))
				}
			}
		}
		for _, d := range r.Ready().Decided {
			committed = committed || d.Instance.Slot == 1
		}
		for _, d := range rd.Decided {
			committed = committed || d.Instance.Slot == 1
		}
	}
	require.True(t, committed, "the leader never resent the Accept to the replica whose heartbeat replies are slow")
}
