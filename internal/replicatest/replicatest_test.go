package replicatest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/basic"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

func put(client uint64, key, value string) paxos.Command {
	return paxos.Command{Client: client, Seq: 1, Op: paxos.OpPut, Key: key, Value: value}
}

func newBasic(t *testing.T, n int) *replicatest.Cluster {
	return replicatest.New(t, basic.New, paxos.Config{N: n, Seed: 7})
}

// Filters pick messages by type, sender and receiver; codec names resolve
// with or without the protocol's prefix.
func TestFilters(t *testing.T) {
	m := paxos.Message{From: 0, To: 2, Body: basic.Prepare{Slot: 1}}
	assert.True(t, replicatest.Is[basic.Prepare](m))
	assert.False(t, replicatest.Is[basic.Accept](m))
	assert.True(t, replicatest.And(replicatest.From(0), replicatest.To(1, 2))(m))
	assert.False(t, replicatest.And(replicatest.From(0), replicatest.To(1))(m))
	assert.True(t, replicatest.Or(replicatest.From(1), replicatest.To(2))(m))
	assert.False(t, replicatest.Not(replicatest.From(0))(m))

	ts := replicatest.NewTypes("basic")
	for _, name := range []string{"Prepare", "basic.Prepare", "*"} {
		f, err := ts.Named(name)
		require.NoError(t, err, name)
		assert.True(t, f(m), name)
	}
	f, err := ts.Named("Accept")
	require.NoError(t, err)
	assert.False(t, f(m))
	_, err = ts.Named("PreAccept")
	assert.ErrorContains(t, err, "no message type \"PreAccept\"")
	assert.ErrorContains(t, err, "Promise", "the error lists the protocol's types")
	assert.Equal(t, "Prepare", ts.Name(m))
	assert.Equal(t, "basic", replicatest.PrefixOf(newBasic(t, 1).Replica(0)))
}

// The harness delivers, drops, duplicates and loses what a test says,
// crashes and restarts replicas from what they persisted.
func TestCluster(t *testing.T) {
	c := newBasic(t, 3)
	c.Propose(0, put(1, "k", "a"))
	require.Len(t, c.Queue, 2, "Prepares to 1 and 2")
	dup := c.Duplicate(replicatest.To(1))
	require.Len(t, dup, 1)
	require.Len(t, c.Queue, 3)
	dropped := c.Drop(replicatest.To(2))
	require.Len(t, dropped, 1)
	c.Lose = replicatest.To(2)
	assert.Positive(t, c.Deliver(nil))
	assert.Empty(t, c.Queue)
	assert.Equal(t, []paxos.CommandID{{Client: 1, Seq: 1}}, c.ExecutedIDs(0))
	assert.Empty(t, c.ExecutedIDs(2), "replica 2 lost every message")
	c.Lose = nil

	c.Crash(1)
	c.Propose(0, put(2, "k", "b"))
	c.Deliver(nil) // what goes to the crashed replica is lost
	assert.Empty(t, c.Queue)
	c.Restart(1)
	assert.True(t, c.Up[1])
	assert.Equal(t, []paxos.CommandID{{Client: 1, Seq: 1}}, c.ExecutedIDs(1), "restarted from its records, it executes slot 1 again")
	assert.True(t, c.Settle(func() bool { return len(c.ExecutedIDs(2)) == 2 }, 100))
	assert.Empty(t, c.Invariants())
	assert.Len(t, c.AllCommitted(), 2)
}

// Without T a failure is a panic of type *Failure: a decision that
// differs from an earlier one for the same instance.
func TestConflictFails(t *testing.T) {
	c := replicatest.New(nil, basic.New, paxos.Config{N: 1})
	c.Decided[paxos.Instance{Slot: 1}] = paxos.Decision{Instance: paxos.Instance{Slot: 1}}
	defer func() {
		f, ok := recover().(*replicatest.Failure)
		require.True(t, ok)
		assert.Contains(t, f.Error(), "decided twice differently")
	}()
	c.Propose(0, put(1, "k", "v"))
}

func script(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "s.txt")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

const oneCommand = `# one command on three replicas
cluster protocol=basic n=3

propose 0 put k v
deliver Prepare 0->1
----
0->1 Prepare

settle x5
decided
----
(0,1) 1.1 put k=WRONG at 0 1 2

executed 2
check
----
ok
`

// A script's output blocks are compared; Rewritten holds the actual ones
// and leaves everything else as it was.
func TestReplayComparesAndRewrites(t *testing.T) {
	p := script(t, oneCommand)
	res, err := replicatest.Replay(p, replicatest.Options{})
	require.NoError(t, err)
	require.Len(t, res.Diffs, 1, res.Diffs)
	assert.Contains(t, res.Diffs[0], "s.txt:10: decided")
	assert.Empty(t, res.Failed)
	assert.Equal(t, strings.Replace(oneCommand, "WRONG", "v", 1), res.Rewritten)

	require.NoError(t, os.WriteFile(p, []byte(res.Rewritten), 0o644))
	res, err = replicatest.Replay(p, replicatest.Options{})
	require.NoError(t, err)
	assert.True(t, res.OK(), "%v %s", res.Diffs, res.Failed)
}

// Bad scripts are refused with the line to fix.
func TestReplayErrors(t *testing.T) {
	_, err := replicatest.Replay(script(t, "propose 0 put k v\n"), replicatest.Options{})
	assert.ErrorContains(t, err, "first command must be")
	_, err = replicatest.Replay(script(t, "cluster protocol=basic n=3\ndrop *\n----\nnone\ndrop *\n----\nnone\n"), replicatest.Options{})
	assert.ErrorContains(t, err, "end each output block with a blank line")

	for text, want := range map[string]string{
		"cluster protocol=basic n=3\nfly 1\n":                  `unknown command "fly"`,
		"cluster protocol=basic n=3\ndeliver PreAccept\n":      `no message type "PreAccept"`,
		"cluster protocol=basic n=3\ncrash 3\n":                `no replica "3"`,
		"cluster protocol=nope n=3\n":                          "nope",
		"cluster protocol=basic\n":                             "n=N",
		"cluster protocol=basic n=3\npropose 0 put k\n":        "usage",
		"cluster protocol=basic n=3\npropose 0 put k v id=x\n": "id=CLIENT.SEQ",
	} {
		res, err := replicatest.Replay(script(t, text), replicatest.Options{})
		require.NoError(t, err, text)
		assert.Contains(t, res.Failed, want, text)
	}
	// A failing command with an expected block is compared instead.
	res, err := replicatest.Replay(script(t, "cluster protocol=basic n=3\ncrash 7\n----\nerror: no replica \"7\" (0..2)\n"), replicatest.Options{})
	require.NoError(t, err)
	assert.True(t, res.OK(), "%v %s", res.Diffs, res.Failed)
}

// A script whose run breaks an invariant fails at its end unless its last
// command is a check that expects the violation.
func TestReplayChecksInvariantsAtTheEnd(t *testing.T) {
	duel := "cluster mutant=basic/ignore-promises n=3\npropose 0 put k a\npropose 2 put k b\n" +
		"drop Prepare 0->2\ndrop Prepare 2->0\ndeliver !Accept\ndeliver Accept\ndeliver\n"
	res, err := replicatest.Replay(script(t, duel), replicatest.Options{})
	require.NoError(t, err)
	assert.Contains(t, res.Failed, "invariants violated at the end")
	assert.Contains(t, res.Failed, "decided twice")

	res, err = replicatest.Replay(script(t, duel+"check\n----\nok\n"), replicatest.Options{})
	require.NoError(t, err)
	require.Len(t, res.Diffs, 1)
	assert.Empty(t, res.Failed, "the check's block is where the violation shows")

	res, err = replicatest.Replay(script(t, duel), replicatest.Options{New: basic.New})
	require.NoError(t, err)
	assert.True(t, res.OK(), "the correct protocol passes the same schedule: %s", res.Failed)
}
