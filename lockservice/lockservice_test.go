package lockservice_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/lockservice"
	_ "github.com/paxos-lab/paxos/protocols"
	"github.com/paxos-lab/paxos/sim"
)

type applier struct {
	t *testing.T
	m paxos.StateMachine
}

func (a applier) do(client uint64, req lockservice.Request) (lockservice.Reply, string) {
	out, err := a.m.Apply(lockservice.Command(client, req))
	rep, derr := lockservice.DecodeReply(out)
	require.NoError(a.t, derr)
	if err != nil {
		return rep, err.Error()
	}
	return rep, ""
}

func TestLocksSessionsAndTokens(t *testing.T) {
	a := applier{t, lockservice.New()}
	_, e := a.do(1, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "x", Now: 0})
	assert.True(t, lockservice.IsError(e, lockservice.ErrNoSession))
	a.do(1, lockservice.Request{Kind: lockservice.KindOpen, TTL: 100, Now: 0})
	a.do(2, lockservice.Request{Kind: lockservice.KindOpen, TTL: 100, Now: 0})
	r, e := a.do(1, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "x", Now: 10})
	require.Empty(t, e)
	first := r.Token
	_, e = a.do(2, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "x", Now: 20})
	assert.True(t, lockservice.IsError(e, lockservice.ErrHeld))
	_, e = a.do(2, lockservice.Request{Kind: lockservice.KindRelease, Lock: "x"})
	assert.True(t, lockservice.IsError(e, lockservice.ErrNotHolder), "only the holder releases")
	_, e = a.do(1, lockservice.Request{Kind: lockservice.KindSetValue, Lock: "x", Value: make([]byte, lockservice.MaxValue+1), Now: 20})
	assert.True(t, lockservice.IsError(e, lockservice.ErrTooLarge))
	_, e = a.do(1, lockservice.Request{Kind: lockservice.KindSetValue, Lock: "x", Value: []byte("primary=1"), Now: 20})
	require.Empty(t, e)

	// Client 2 renews; client 1 does not, and its lease ends at 100.
	a.do(2, lockservice.Request{Kind: lockservice.KindKeepAlive, TTL: 100, Now: 90})
	r, _ = a.do(3, lockservice.Request{Kind: lockservice.KindRead, Lock: "x"})
	assert.Equal(t, []uint64{1}, r.Holders, "still held at clock 90")
	r, e = a.do(2, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "x", Now: 101})
	assert.True(t, lockservice.IsError(e, lockservice.ErrHeld), "lock commands carry no time: expiry waits for a session command")
	a.do(2, lockservice.Request{Kind: lockservice.KindKeepAlive, TTL: 100, Now: 101})
	r, e = a.do(2, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "x"})
	require.Empty(t, e, "the holder's session expired, so its lock was released")
	assert.Greater(t, r.Token, first, "fencing tokens increase")
	_, e = a.do(1, lockservice.Request{Kind: lockservice.KindKeepAlive, TTL: 100, Now: 102})
	assert.True(t, lockservice.IsError(e, lockservice.ErrNoSession), "an expired session stays expired")
	r, _ = a.do(3, lockservice.Request{Kind: lockservice.KindRead, Lock: "x"})
	assert.Equal(t, []uint64{2}, r.Holders)
	assert.Equal(t, "primary=1", string(r.Value), "the value outlives its writer's session")

	// Shared mode, and a snapshot that restores everything.
	a.do(4, lockservice.Request{Kind: lockservice.KindOpen, TTL: 1000, Now: 102})
	a.do(5, lockservice.Request{Kind: lockservice.KindOpen, TTL: 1000, Now: 102})
	_, e = a.do(4, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "y", Mode: lockservice.Shared, Now: 103})
	require.Empty(t, e)
	_, e = a.do(5, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "y", Mode: lockservice.Shared, Now: 103})
	require.Empty(t, e)
	_, e = a.do(2, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "y", Now: 103})
	assert.True(t, lockservice.IsError(e, lockservice.ErrHeld))
	b := applier{t, lockservice.New()}
	require.NoError(t, b.m.Restore(a.m.Snapshot()))
	r, _ = b.do(3, lockservice.Request{Kind: lockservice.KindRead, Lock: "y"})
	assert.Equal(t, []uint64{4, 5}, r.Holders)
	assert.Equal(t, lockservice.Shared, r.Mode)

	_, err := a.m.Apply(paxos.Command{Client: 1, Op: paxos.OpApp, Payload: []byte{0xc1}})
	require.ErrorIs(t, err, lockservice.ErrBadRequest)
}

func TestFence(t *testing.T) {
	var f lockservice.Fence
	require.NoError(t, f.Check("x", 3))
	require.NoError(t, f.Check("x", 3))
	require.ErrorIs(t, f.Check("x", 2), lockservice.ErrStaleToken)
	require.NoError(t, f.Check("y", 1))
}

// TestLockServiceOnEveryProtocol: two clients compete for one lock in the
// simulator; the holder stops renewing and crashes with its replica, the
// other acquires once the lease ran out, with a larger token, and every
// replica applied the same outcome.
func TestLockServiceOnEveryProtocol(t *testing.T) {
	for _, proto := range paxos.Protocols() {
		t.Run(proto, func(t *testing.T) {
			s, err := sim.New(sim.Config{Protocol: proto, N: 5, Seed: 1, Record: true, Stamp: lockservice.StampSim,
				Replica: paxos.Config{StateMachine: lockservice.New, InitialLeader: 0, LeaseTicks: 5}})
			require.NoError(t, err)
			seq := map[uint64]uint64{}
			send := func(at paxos.NodeID, client uint64, req lockservice.Request) {
				seq[client]++
				c := lockservice.Command(client, req)
				c.Seq = seq[client]
				require.NoError(t, s.Propose(at, c))
				s.Run(s.Now() + 200*time.Millisecond)
			}
			// Now is what a lying client sends: the receiving replica's
			// stamp replaces it.
			send(1, 1, lockservice.Request{Kind: lockservice.KindOpen, TTL: 1000, Now: 1 << 40})
			send(2, 2, lockservice.Request{Kind: lockservice.KindOpen, TTL: 5000})
			send(1, 1, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "master"})
			send(2, 2, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "master"})
			require.NoError(t, s.Crash(1))
			s.Run(s.Now() + time.Second)
			send(2, 2, lockservice.Request{Kind: lockservice.KindKeepAlive, TTL: 5000})
			send(2, 2, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "master"})

			type res struct{ out, err string }
			byCmd := map[paxos.CommandID]res{}
			for _, ex := range s.Executions() {
				if ex.Duplicate || ex.LocalRead {
					continue
				}
				r := res{ex.Output, ex.Err}
				if f, ok := byCmd[ex.Command.ID()]; ok {
					assert.Equal(t, f, r, "replica %d disagrees on %v", ex.Replica, ex.Command.ID())
				}
				byCmd[ex.Command.ID()] = r
			}
			first, ok := byCmd[paxos.CommandID{Client: 1, Seq: 2}]
			require.True(t, ok)
			require.Empty(t, first.err)
			assert.True(t, strings.Contains(byCmd[paxos.CommandID{Client: 2, Seq: 2}].err, "held"), "the lock was held")
			last := byCmd[paxos.CommandID{Client: 2, Seq: 4}]
			require.Empty(t, last.err, "acquired after the holder's session expired")
			r1, _ := lockservice.DecodeReply(first.out)
			r2, _ := lockservice.DecodeReply(last.out)
			assert.Greater(t, r2.Token, r1.Token)
		})
	}
}

// TestInterference: lock commands name their lock, session commands
// nothing, and the receiving replica's stamp replaces the client's time.
func TestInterference(t *testing.T) {
	acq := lockservice.Command(1, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "x"})
	rel := lockservice.Command(2, lockservice.Request{Kind: lockservice.KindRelease, Lock: "y"})
	ka := lockservice.Command(3, lockservice.Request{Kind: lockservice.KindKeepAlive, TTL: 10, Now: 999})
	rd := lockservice.Command(4, lockservice.Request{Kind: lockservice.KindRead, Lock: "x"})
	assert.Equal(t, []string{"x"}, acq.Keys)
	assert.False(t, paxos.Interferes(&acq, &rel), "different locks commute")
	assert.True(t, paxos.Interferes(&acq, &rd))
	assert.True(t, paxos.Interferes(&ka, &acq) && paxos.Interferes(&ka, &rel), "session commands interfere with everything")
	st := lockservice.Stamp(ka, 42)
	req, err := lockservice.DecodeRequest(st.Payload)
	require.NoError(t, err)
	assert.Equal(t, int64(42), req.Now)
	assert.Equal(t, acq, lockservice.Stamp(acq, 42), "lock commands carry no time")

	// Commands on different locks give the same outputs in either order.
	setup := func() applier {
		a := applier{t, lockservice.New()}
		a.do(1, lockservice.Request{Kind: lockservice.KindOpen, TTL: 100, Now: 1})
		a.do(2, lockservice.Request{Kind: lockservice.KindOpen, TTL: 100, Now: 1})
		a.do(2, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "y"})
		return a
	}
	a, b := setup(), setup()
	r1, e1 := a.do(1, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "x"})
	r2, e2 := a.do(2, lockservice.Request{Kind: lockservice.KindRelease, Lock: "y"})
	s2, f2 := b.do(2, lockservice.Request{Kind: lockservice.KindRelease, Lock: "y"})
	s1, f1 := b.do(1, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "x"})
	assert.Equal(t, []any{r1, e1, r2, e2}, []any{s1, f1, s2, f2})
	ma, mb := lockservice.New(), lockservice.New()
	require.NoError(t, ma.Restore(a.m.Snapshot()))
	require.NoError(t, mb.Restore(b.m.Snapshot()))
	assert.Equal(t, ma, mb)
}

// TestExpiryWithoutClients: a client opens a session, takes a lock and
// dies; no client sends anything after that. Each replica's Ticker
// proposes a Tick every 100 ms (what `paxos serve --app lockservice` does
// with RunTicker), so the service expires the session and releases the
// lock on its own, on every protocol, and every replica agrees.
func TestExpiryWithoutClients(t *testing.T) {
	for _, proto := range paxos.Protocols() {
		t.Run(proto, func(t *testing.T) {
			const n = 5
			s, err := sim.New(sim.Config{Protocol: proto, N: n, Seed: 2, Record: true, Stamp: lockservice.StampSim,
				Replica: paxos.Config{StateMachine: lockservice.New, InitialLeader: 0, LeaseTicks: 5}})
			require.NoError(t, err)
			for r := 0; r < n; r++ {
				tk := lockservice.NewTicker(uint64(1000 + r))
				var tick func()
				tick = func() {
					for _, ex := range s.Executions() {
						if ex.Replica == paxos.NodeID(r) {
							tk.Applied(ex.Execution)
						}
					}
					require.NoError(t, s.Propose(paxos.NodeID(r), tk.Next()))
					s.After(100*time.Millisecond, tick)
				}
				s.After(time.Duration(r)*20*time.Millisecond, tick)
			}
			open := lockservice.Command(1, lockservice.Request{Kind: lockservice.KindOpen, TTL: 500})
			open.Seq = 1
			acq := lockservice.Command(1, lockservice.Request{Kind: lockservice.KindAcquire, Lock: "master"})
			acq.Seq = 2
			require.NoError(t, s.Propose(1, open))
			s.Run(s.Now() + 150*time.Millisecond)
			require.NoError(t, s.Propose(1, acq))
			s.Run(s.Now() + 150*time.Millisecond)
			read := func(seq uint64) lockservice.Reply {
				c := lockservice.Command(2, lockservice.Request{Kind: lockservice.KindRead, Lock: "master"})
				c.Seq = seq
				require.NoError(t, s.Propose(2, c))
				s.Run(s.Now() + 150*time.Millisecond)
				for _, ex := range s.Executions() {
					if ex.Command.ID() == c.ID() {
						require.Empty(t, ex.Err)
						r, err := lockservice.DecodeReply(ex.Output)
						require.NoError(t, err)
						return r
					}
				}
				require.Fail(t, "the read was not answered")
				return lockservice.Reply{}
			}
			assert.Equal(t, []uint64{1}, read(1).Holders, "client 1 holds the lock")
			// Client 1 is gone; only the replicas' ticks go on.
			s.Run(s.Now() + time.Second)
			assert.Empty(t, read(2).Holders, "the session expired without client traffic and its lock was released")

			expired := map[paxos.NodeID]bool{}
			for _, ex := range s.Executions() {
				if ex.Command.Client >= 1000 && !ex.Duplicate && ex.Err == "" {
					expired[ex.Replica] = true
				}
			}
			assert.Len(t, expired, n, "every replica applied ticks")
		})
	}
}
