package protocols_test

import (
	"errors"
	"fmt"
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
