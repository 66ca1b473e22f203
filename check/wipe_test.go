package check_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/sim"
)

// rebuildAllowed lists, per protocol, the messages a rebuilding replica may
// send: none of them is a vote (promise, acceptance, pre-acceptance) or an
// attempt to lead.
var rebuildAllowed = map[string]map[string]bool{
	"basic":    set("basic.RebuildQuery", "basic.RebuildInfo", "basic.CatchUp", "basic.Learned", "basic.Commit", "basic.InstallSnapshot"),
	"multi":    set("multi.RebuildQuery", "multi.RebuildInfo", "multi.HeartbeatReply", "multi.Forward", "multi.Nack"),
	"flexible": set("multi.RebuildQuery", "multi.RebuildInfo", "multi.HeartbeatReply", "multi.Forward", "multi.Nack"),
	"epaxos":   set("epaxos.RebuildQuery", "epaxos.RebuildInfo", "epaxos.Commit", "epaxos.Watermark"),
}

// votes lists, per protocol, messages that only a voting replica sends.
var votes = map[string][]string{
	"basic":    {"basic.Promise", "basic.Accepted", "basic.Prepare", "basic.Accept"},
	"multi":    {"multi.Promise", "multi.Accepted"},
	"flexible": {"multi.Promise", "multi.Accepted"},
	"epaxos":   {"epaxos.PreAcceptReply", "epaxos.AcceptReply", "epaxos.PreAccept"},
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

func isRebuilding(s *sim.Sim, id paxos.NodeID) bool {
	r, ok := s.Replica(id).(paxos.Rebuilder)
	return ok && r.Rebuilding()
}

func wipeSim(t *testing.T, protocol string, n int, seed uint64) *sim.Sim {
	t.Helper()
	s, err := sim.New(sim.Config{Protocol: protocol, N: n, Seed: seed, Record: true, Tick: 5 * time.Millisecond,
		CPU: 50 * time.Microsecond, RTT: sim.Uniform(n, 10)})
	require.NoError(t, err)
	k := 0
	wl := sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
		k++
		key := fmt.Sprint("k", rng.IntN(3))
		if rng.IntN(2) == 0 {
			return paxos.Command{Op: paxos.OpGet, Key: key}
		}
		return paxos.Command{Op: paxos.OpPut, Key: key, Value: fmt.Sprint("v", k)}
	})
	for site := 0; site < n; site++ {
		_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Workload: wl, Ops: 150})
		require.NoError(t, err)
	}
	return s
}

// sentSince returns what replica id sent since the counts in before.
func sentSince(s *sim.Sim, id paxos.NodeID, before map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range s.Sent(id) {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// TestWipedReplicaRebuildsBeforeVoting wipes a replica under load (raft,
// whose messages all travel as one type, has its own test of what a
// rebuilding replica sends: raft.TestWipeFaultRaft), checks
// after every event that it sends nothing but rebuild, catch-up and
// forwarding messages until it finishes rebuilding, that it does finish, and
// that it votes again afterwards; and in a second run, that a replica that
// crashes mid-rebuild restarts rebuilding.
func TestWipedReplicaRebuildsBeforeVoting(t *testing.T) {
	for _, protocol := range []string{"basic", "multi", "flexible", "epaxos"} {
		for _, n := range []int{3, 5} {
			for _, w := range []paxos.NodeID{0, 1} {
				t.Run(fmt.Sprintf("%s/n=%d/wipe=%d", protocol, n, w), func(t *testing.T) {
					s := wipeSim(t, protocol, n, uint64(n)*10+uint64(w))
					s.Run(300 * time.Millisecond)
					before := s.Sent(w)
					require.NoError(t, s.Wipe(w))
					require.True(t, isRebuilding(s, w), "a wiped replica starts rebuilding")
					limit := s.Now() + 10*time.Second
					for isRebuilding(s, w) && s.Now() < limit && s.Next() {
						for typ := range sentSince(s, w, before) {
							require.True(t, rebuildAllowed[protocol][typ], "rebuilding replica %d sent %s", w, typ)
						}
					}
					require.False(t, isRebuilding(s, w), "replica %d still rebuilding after 10 s", w)
					done := s.Sent(w)
					s.RunUntil(func() bool { return s.Completed() == s.Operations() }, 60*time.Second)
					require.Equal(t, s.Operations(), s.Completed())
					voted := uint64(0)
					for _, typ := range votes[protocol] {
						voted += sentSince(s, w, done)[typ]
					}
					require.Positive(t, voted, "replica %d never voted after its rebuild", w)
					verifySim(t, s)
				})
			}
		}
	}
}

func TestCrashMidRebuildResumesRebuilding(t *testing.T) {
	for _, protocol := range []string{"basic", "multi", "epaxos", "raft"} {
		t.Run(protocol, func(t *testing.T) {
			s := wipeSim(t, protocol, 3, 5)
			s.Run(300 * time.Millisecond)
			require.NoError(t, s.Wipe(1))
			s.Run(s.Now() + 2*time.Millisecond)
			require.True(t, isRebuilding(s, 1))
			require.NoError(t, s.Crash(1))
			require.NoError(t, s.Restart(1)) // plain restart: the replica's records say it rebuilds
			require.True(t, isRebuilding(s, 1), "a replica that crashed mid-rebuild must resume rebuilding")
			s.RunUntil(func() bool { return !isRebuilding(s, 1) }, 10*time.Second)
			require.False(t, isRebuilding(s, 1))
			// A plain crash after the rebuild restores a voting replica.
			require.NoError(t, s.Crash(1))
			require.NoError(t, s.Restart(1))
			require.False(t, isRebuilding(s, 1))
			s.RunUntil(func() bool { return s.Completed() == s.Operations() }, 60*time.Second)
			require.Equal(t, s.Operations(), s.Completed())
			verifySim(t, s)
		})
	}
}

func verifySim(t *testing.T, s *sim.Sim) {
	t.Helper()
	require.Empty(t, check.VerifySim(s, 30*time.Second))
}

// TestWipeFaultCatchesVotingAtOnce is the negative test of the wipe fault:
// for each protocol, a replica that ignores Config.Rebuild and votes at once
// on empty state must be caught by check.Run with the wipe fault alone and
// default settings, within a few seeds.
func TestWipeFaultCatchesVotingAtOnce(t *testing.T) {
	for _, name := range []string{"basic/wiped-votes-at-once", "multi/wiped-votes-at-once", "epaxos/wiped-votes-at-once", "fastpaxos/wiped-votes-at-once", "raft/wiped-votes-at-once"} {
		m, err := paxos.LookupMutant(name)
		require.NoError(t, err)
		sizes := []int{3, 5}
		if len(m.Sizes) > 0 {
			// raft's lists N = 3 only: at N = 5 its diverged cluster runs
			// to the liveness bound for over a minute before the end-of-run
			// checks see the index decided twice.
			sizes = m.Sizes
		}
		for _, n := range sizes {
			caught := 0
			for seed := uint64(1); seed <= 10 && caught == 0; seed++ {
				res, err := check.Run(check.Options{New: m.New, Replicas: n, Seed: seed, Faults: []string{check.FaultWipe}})
				require.NoError(t, err)
				if !res.OK() {
					caught = int(seed)
				}
			}
			require.NotZero(t, caught, "%s at n=%d not caught within 10 seeds", name, n)
			t.Logf("%s n=%d: caught at seed %d", name, n, caught)
		}
	}
}
