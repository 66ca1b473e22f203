package multi_test

import (
	"testing"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Scenario 1: the Accepts of slot 2 are lost and the leader crashes after
// committing slot 3; the new leader fills slot 2 with a Nop, and every
// replica (the old leader too, once restarted) executes slot 1, Nop, slot 3.
func TestHoleFilling(t *testing.T) {
	s := newSim(t, 3, paxos.Config{InitialLeader: 0}, nil)
	c1, c2, c3 := put(1, 1, "a", "1"), put(1, 2, "b", "2"), put(1, 3, "c", "3")
	s.Run(5 * ms)
	require.NoError(t, s.Propose(0, c1))
	s.Run(6 * ms)
	require.NoError(t, s.Cut(0, 1))
	require.NoError(t, s.Cut(0, 2))
	require.NoError(t, s.Propose(0, c2)) // slot 2: its Accepts are lost
	s.Heal()
	require.NoError(t, s.Propose(0, c3)) // slot 3: accepted and committed
	s.Run(s.Now() + 1*ms)                // well before the Accept retry (50 ms)
	require.Equal(t, uint64(1), rep(s, 1).Executed(), "slot 2 is a hole at the followers")
	require.NoError(t, s.Crash(0))
	s.Run(s.Now() + 1*time.Second)
	require.NoError(t, s.Restart(0))
	s.Run(s.Now() + 1*time.Second)

	want := []paxos.Command{c1, {Op: paxos.OpNop}, c3}
	assert.Equal(t, want, executedBy(s, 1, 0))
	assert.Equal(t, want, executedBy(s, 2, 0))
	assert.Equal(t, want, executedBy(s, 0, 1), "the restarted old leader catches up")
	verify(t, s)
}

// Scenario 2: a leader isolated by a partition commits nothing; after the
// heal its late Accepts are refused, it steps down, and the command it held
// is re-forwarded and executes exactly once.
func TestStaleLeader(t *testing.T) {
	s := newSim(t, 3, paxos.Config{InitialLeader: 0}, nil)
	s.Run(5 * ms)
	require.NoError(t, s.Partition([]paxos.NodeID{0}, []paxos.NodeID{1, 2}))
	stale := put(1, 1, "x", "stale")
	require.NoError(t, s.Propose(0, stale))
	decidedBefore := len(s.Decisions())
	// {1,2} elect a new leader and commit a command of their own.
	require.True(t, s.RunUntil(func() bool { return rep(s, 1).IsLeader() || rep(s, 2).IsLeader() }, 2*time.Second))
	fresh := put(2, 1, "x", "fresh")
	require.NoError(t, s.Propose(1, fresh))
	s.Run(s.Now() + 100*ms)
	for _, d := range s.Decisions()[decidedBefore:] {
		assert.NotEqual(t, paxos.NodeID(0), d.Replica, "the isolated leader learned a decision")
	}
	assert.True(t, rep(s, 0).IsLeader(), "still believes it leads")
	s.Heal()
	s.Run(s.Now() + 500*ms)
	assert.False(t, rep(s, 0).IsLeader(), "the stale leader stepped down")
	newLeader := leaderOf(s)
	require.GreaterOrEqual(t, newLeader, paxos.NodeID(1))
	assert.Equal(t, rep(s, newLeader).Ballot(), rep(s, 0).Ballot())
	for id := paxos.NodeID(0); id < 3; id++ {
		ex := executedBy(s, id, 0)
		n := 0
		for _, c := range ex {
			if c.Equal(&stale) {
				n++
			}
		}
		assert.Equal(t, 1, n, "replica %d executes the stale leader's command once", id)
		assert.Contains(t, ex, fresh)
	}
	verify(t, s)
}

// Scenario 3: a command retried at several replicas executes once.
func TestExactlyOnce(t *testing.T) {
	s := newSim(t, 3, paxos.Config{InitialLeader: 0}, nil)
	s.Run(5 * ms)
	c := put(9, 1, "k", "v")
	for _, id := range []paxos.NodeID{1, 2, 0, 1} {
		require.NoError(t, s.Propose(id, c))
	}
	s.Run(s.Now() + 10*ms)
	require.NoError(t, s.Propose(2, c)) // a retry after it executed
	s.Run(s.Now() + 100*ms)
	for id := paxos.NodeID(0); id < 3; id++ {
		effective, dups := 0, 0
		for _, e := range s.Executions() {
			if e.Replica == id && e.Command.Equal(&c) {
				if e.Duplicate {
					dups++
				} else {
					effective++
				}
			}
		}
		assert.Equal(t, 1, effective, "replica %d", id)
		if id == 2 {
			assert.Positive(t, dups, "the late retry is answered as a duplicate")
		}
	}
	verify(t, s)
}

// Scenario 4: after the leader crashes a new one is elected and service
// resumes within a bounded time (two maximal election timeouts and a retry).
func TestLeaderCrash(t *testing.T) {
	s := newSim(t, 5, paxos.Config{InitialLeader: 0}, sim.Uniform(5, 5))
	for site := 1; site < 5; site++ {
		_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: putter(3)})
		require.NoError(t, err)
	}
	s.Run(500 * ms)
	crashAt := s.Now()
	require.NoError(t, s.Crash(0))
	s.Run(crashAt + 2*time.Second)
	// ElectionTicks 10 at 10 ms: a timeout is below 200 ms; allow a second
	// election and a forward retry.
	bound := 2*200*ms + 4*10*10*ms
	var first time.Duration
	for _, o := range s.History() {
		if o.Done && o.Call > crashAt && (first == 0 || o.Return < first) {
			first = o.Return
		}
	}
	require.NotZero(t, first, "no operation issued after the crash completed")
	assert.Less(t, first-crashAt, bound)
	l := leaderOf(s)
	assert.NotEqual(t, paxos.NodeID(-1), l)
	assert.NotEqual(t, paxos.NodeID(0), l)
	done, total := completed(s)
	t.Logf("first completion %v after the crash; %d/%d operations done", first-crashAt, done, total)
	verify(t, s)
}

// Scenario 5: every replica crashes and restarts, one at a time and then all
// at once; nothing acknowledged is lost (the history stays linearizable and
// every acknowledged write is in every replica's final state).
func TestCrashRestart(t *testing.T) {
	for _, every := range []int{0, 5} {
		s := newSim(t, 3, paxos.Config{InitialLeader: 0, SnapshotEvery: every}, sim.Uniform(3, 10))
		for site := 0; site < 3; site++ {
			_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: putter(3), RetryTimeout: 300 * ms})
			require.NoError(t, err)
		}
		now := 200 * ms
		for id := paxos.NodeID(0); id < 3; id++ {
			s.Run(now)
			require.NoError(t, s.Crash(id))
			s.Run(now + 300*ms)
			require.NoError(t, s.Restart(id))
			now += 700 * ms
		}
		s.Run(now)
		for id := paxos.NodeID(0); id < 3; id++ {
			require.NoError(t, s.Crash(id))
		}
		s.Run(now + 100*ms)
		for id := paxos.NodeID(0); id < 3; id++ {
			require.NoError(t, s.Restart(id))
		}
		s.Run(now + 2*time.Second)
		done, total := completed(s)
		require.Greater(t, done, 300)
		t.Logf("snapshot every %d: %d/%d done", every, done, total)
		// Acknowledged writes are in the state every replica ends with:
		// each replica reads, for every key, the last acknowledged put or
		// a put issued after it (still in flight when acknowledged ones
		// finished), never an older one.
		s.Run(s.Now() + time.Second) // let everyone execute everything
		h := s.History()
		lastAcked := map[string]time.Duration{}
		issued := map[string]time.Duration{} // value -> call time
		for _, o := range h {
			if o.Op == paxos.OpPut {
				issued[o.Value] = o.Call
				if o.Done && o.Call >= lastAcked[o.Key] {
					lastAcked[o.Key] = o.Call
				}
			}
		}
		seq := uint64(1)
		for id := paxos.NodeID(0); id < 3; id++ {
			for k := range lastAcked {
				require.NoError(t, s.Propose(id, paxos.Command{Client: 99, Seq: seq, Op: paxos.OpGet, Key: k}))
				seq++
			}
		}
		s.Run(s.Now() + time.Second)
		for _, o := range s.History() { // clients kept running meanwhile
			if o.Op == paxos.OpPut {
				issued[o.Value] = o.Call
			}
		}
		reads := map[string][]string{}
		for _, e := range s.Executions() {
			if e.Command.Client == 99 && !e.Duplicate && e.Replica == 0 {
				reads[e.Command.Key] = append(reads[e.Command.Key], e.Output)
			}
		}
		require.Len(t, reads, len(lastAcked))
		for k, outs := range reads {
			for _, out := range outs {
				call, ok := issued[out]
				require.True(t, ok, "key %s reads %q, which no put wrote", k, out)
				assert.GreaterOrEqual(t, call, lastAcked[k], "key %s lost its last acknowledged write", k)
			}
		}
		if every == 0 {
			verify(t, s)
		} else {
			verifyCompacted(t, s)
		}
	}
}
