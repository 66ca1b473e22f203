package protocols_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// ledger is a test state machine: "+k" appends k to key k's list (a
// write of the command's single key), "?" reads every list (read-only),
// "!" fails, anything else is malformed and panics.
type ledger struct{ lists map[string]string }

func newLedger() paxos.StateMachine { return &ledger{lists: map[string]string{}} }

func (l *ledger) Apply(cmd paxos.Command) (string, error) {
	p := string(cmd.Payload)
	switch {
	case p == "?":
		return fmt.Sprint(len(l.lists)), nil
	case p == "!":
		return "", errors.New("ledger says no")
	case strings.HasPrefix(p, "+") && len(cmd.Keys) == 1:
		l.lists[cmd.Keys[0]] += p[1:]
		return l.lists[cmd.Keys[0]], nil
	}
	panic("malformed payload " + p)
}
func (l *ledger) Snapshot() []byte {
	var b strings.Builder
	for _, k := range []string{"a", "b", "c"} {
		fmt.Fprintf(&b, "%s=%s;", k, l.lists[k])
	}
	return []byte(b.String())
}
func (l *ledger) Restore(data []byte) error {
	l.lists = map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(string(data), ";"), ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("bad snapshot %q", data)
		}
		if v != "" {
			l.lists[k] = v
		}
	}
	return nil
}

// TestApplicationStateMachineOnEveryProtocol runs the ledger on each
// protocol in the simulator, with commands proposed at every replica, a
// crash and restart, errors, a malformed payload, a client-0 command and a
// retry: every replica must report the same output and error for every
// command, refuse client 0 with an error, and apply the retry once.
func TestApplicationStateMachineOnEveryProtocol(t *testing.T) {
	for _, proto := range []string{"basic", "multi", "flexible", "epaxos"} {
		t.Run(proto, func(t *testing.T) {
			s, err := sim.New(sim.Config{Protocol: proto, N: 3, Seed: 3, Record: true,
				Replica: paxos.Config{StateMachine: newLedger, InitialLeader: 0, SnapshotEvery: 4}})
			require.NoError(t, err)
			var cmds []paxos.Command
			keys := []string{"a", "b", "c"}
			for i := range 30 {
				c := paxos.Command{Client: uint64(1 + i%3), Seq: uint64(1 + i/3), Op: paxos.OpApp, Keys: []string{keys[i%3]}, Payload: []byte(fmt.Sprintf("+%d", i%10))}
				switch i {
				case 7:
					c.Payload = []byte("!")
				case 11:
					c.Payload = []byte("garbage")
				case 13:
					c.Payload, c.Keys, c.ReadOnly = []byte("?"), nil, true
				}
				cmds = append(cmds, c)
			}
			for i, c := range cmds {
				at := paxos.NodeID(i % 3)
				if i >= 15 && i < 25 {
					at = paxos.NodeID(i % 2) // replica 2 is down
				}
				s.At(time.Duration(i)*20*time.Millisecond, func() { require.NoError(t, s.Propose(at, c)) })
			}
			s.At(300*time.Millisecond, func() { _ = s.Crash(2) })
			s.At(500*time.Millisecond, func() { _ = s.Restart(2) })
			s.At(700*time.Millisecond, func() { _ = s.Propose(1, cmds[5]) })    // a late retry
			s.At(5*20*time.Millisecond+1, func() { _ = s.Propose(0, cmds[5]) }) // a retry elsewhere while in flight
			zero := paxos.Command{Op: paxos.OpApp, Payload: []byte("+z"), Keys: []string{"a"}}
			s.At(710*time.Millisecond, func() { _ = s.Propose(0, zero) })
			s.Run(5 * time.Second)

			type res struct{ out, err string }
			first := map[paxos.CommandID]res{}
			type incarnation struct {
				id  paxos.NodeID
				inc int
			}
			perReplica := map[incarnation]map[paxos.CommandID]bool{}
			refusedZero := false
			for _, ex := range s.Executions() {
				id := ex.Command.ID()
				if id.Client == 0 {
					refusedZero = refusedZero || strings.Contains(ex.Err, "client id 0 is reserved")
					continue
				}
				if ex.Duplicate || ex.LocalRead {
					continue
				}
				r := res{ex.Output, ex.Err}
				if f, ok := first[id]; ok {
					assert.Equal(t, f, r, "replica %d disagrees on %v", ex.Replica, id)
				} else {
					first[id] = r
				}
				in := incarnation{ex.Replica, ex.Incarnation}
				if perReplica[in] == nil {
					perReplica[in] = map[paxos.CommandID]bool{}
				}
				assert.False(t, perReplica[in][id], "replica %d applied %v twice", ex.Replica, id)
				perReplica[in][id] = true
			}
			assert.True(t, refusedZero, "client 0 is refused with an error, not dropped")
			require.Len(t, first, len(cmds), "every command executed")
			assert.Equal(t, res{"", "ledger says no"}, first[cmds[7].ID()])
			assert.Contains(t, first[cmds[11].ID()].err, "state machine panicked")
			for _, id := range []paxos.NodeID{0, 1} {
				assert.Len(t, perReplica[incarnation{id, 0}], len(cmds), "replica %d executed everything", id)
			}
		})
	}
}

func appCmd(client, seq uint64, payload string, readOnly bool, keys ...string) paxos.Command {
	return paxos.Command{Client: client, Seq: seq, Op: paxos.OpApp, Payload: []byte(payload), Keys: keys, ReadOnly: readOnly}
}

// TestMultiPaxosLeaseServesReadOnlyApplicationCommands: under a lease the
// leader answers a ReadOnly application command from its state, without a
// round; a write, and a read at a follower, go through the log.
func TestMultiPaxosLeaseServesReadOnlyApplicationCommands(t *testing.T) {
	s, err := sim.New(sim.Config{Protocol: "multi", N: 3, Record: true,
		Replica: paxos.Config{StateMachine: newLedger, InitialLeader: 0, LeaseTicks: 6}})
	require.NoError(t, err)
	require.NoError(t, s.Propose(0, appCmd(1, 1, "+1", false, "a")))
	s.Run(200 * time.Millisecond)
	require.NoError(t, s.Propose(0, appCmd(1, 2, "?", true)))
	require.NoError(t, s.Propose(1, appCmd(1, 3, "?", true)))
	s.Run(400 * time.Millisecond)
	got := map[paxos.NodeID]paxos.Execution{}
	for _, ex := range s.Executions() {
		if ex.Command.Seq >= 2 && (ex.Replica == 0) == (ex.Command.Seq == 2) {
			got[ex.Replica] = ex.Execution
		}
	}
	assert.True(t, got[0].LocalRead, "the leader read locally")
	assert.Equal(t, "1", got[0].Output)
	assert.False(t, got[1].LocalRead, "a follower has no lease")
	assert.Equal(t, "1", got[1].Output)
}

// TestEPaxosOrdersByDeclaredKeys: EPaxos makes a command depend on earlier
// writes to any of its keys, never a read on a read, and a command naming
// no keys on everything.
func TestEPaxosOrdersByDeclaredKeys(t *testing.T) {
	s, err := sim.New(sim.Config{Protocol: "epaxos", N: 3, Record: true, Replica: paxos.Config{StateMachine: newLedger}})
	require.NoError(t, err)
	steps := []struct {
		at  paxos.NodeID
		cmd paxos.Command
	}{
		{0, appCmd(1, 1, "+w", false, "b")},    // seq 1: a write to b
		{1, appCmd(2, 1, "?", true, "a")},      // seq 1 of client 2: a read of a
		{2, appCmd(3, 1, "?", true, "a")},      // a read of a: no dependency on the other read
		{0, appCmd(1, 2, "+x", false, "z")},    // a write to z only
		{1, appCmd(2, 2, "?", true, "a", "b")}, // reads a and b: depends on the write to b
		{2, appCmd(3, 2, "?", true)},           // reads everything: depends on every write
	}
	for _, st := range steps {
		require.NoError(t, s.Propose(st.at, st.cmd))
		s.Run(s.Now() + 300*time.Millisecond)
	}
	inst := map[paxos.CommandID]paxos.Instance{}
	deps := map[paxos.CommandID][]uint64{}
	for _, d := range s.Decisions() {
		for _, c := range d.Commands {
			inst[c.ID()], deps[c.ID()] = d.Instance, d.Deps
		}
	}
	dependsOn := func(a, b paxos.Command) bool {
		in := inst[b.ID()]
		return deps[a.ID()][in.Replica] >= in.Slot
	}
	w, r1, r2, wz, rab, rall := steps[0].cmd, steps[1].cmd, steps[2].cmd, steps[3].cmd, steps[4].cmd, steps[5].cmd
	require.Len(t, inst, len(steps))
	assert.False(t, dependsOn(r2, r1), "a read never waits for a read")
	assert.True(t, dependsOn(rab, w), "a read of a and b depends on the write to b")
	assert.False(t, dependsOn(rab, wz), "nor on the write to z")
	assert.True(t, dependsOn(rall, w) && dependsOn(rall, wz), "a command naming no keys depends on every write")
}

// TestSimulatedClientsSendApplicationCommands: simulated clients with an
// application workload, retrying across a crash, get each command's own
// output (a retry carries the payload and keys too).
func TestSimulatedClientsSendApplicationCommands(t *testing.T) {
	for _, proto := range []string{"multi", "epaxos"} {
		t.Run(proto, func(t *testing.T) {
			s, err := sim.New(sim.Config{Protocol: proto, N: 3, Seed: 5, Record: true,
				Replica: paxos.Config{StateMachine: newLedger, InitialLeader: 0}})
			require.NoError(t, err)
			for site := range 3 {
				_, err := s.AddClient(sim.ClientConfig{Site: paxos.NodeID(site), Ops: 100, RetryTimeout: 300 * time.Millisecond,
					Workload: sim.WorkloadFunc(func(rng *rand.Rand) paxos.Command {
						k := []string{"a", "b", "c"}[rng.IntN(3)]
						return appCmd(0, 0, fmt.Sprintf("+%d", rng.IntN(10)), false, k)
					})})
				require.NoError(t, err)
			}
			s.At(20*time.Millisecond, func() { _ = s.Crash(1) })
			s.At(900*time.Millisecond, func() { _ = s.Restart(1) })
			s.Run(20 * time.Second)
			retried := 0
			for _, o := range s.History() {
				require.True(t, o.Done, "%+v", o)
				assert.Empty(t, o.Err)
				assert.True(t, strings.HasSuffix(o.Output, string(o.Payload[1:])), "%+v", o)
				if o.Attempts > 1 {
					retried++
				}
			}
			assert.Positive(t, retried, "some commands were retried")
		})
	}
}
