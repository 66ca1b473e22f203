package check

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

func ret(t int64) *int64 { return &t }

func TestLinearizableAcceptsSequentialHistory(t *testing.T) {
	h := []Op{
		{Client: 1, Op: "put", Key: "x", Value: "a", Call: 0, Return: ret(10)},
		{Client: 2, Op: "get", Key: "x", Output: "a", Call: 20, Return: ret(30)},
		{Client: 1, Op: "put", Key: "x", Value: "b", Call: 40, Return: ret(50)},
		{Client: 2, Op: "get", Key: "x", Output: "b", Call: 60, Return: ret(70)},
		{Client: 3, Op: "get", Key: "y", Output: "", Call: 0, Return: ret(5)},
	}
	v, err := CheckLinearizable(h, time.Second)
	require.NoError(t, err)
	assert.Equal(t, Linearizable, v)
}

// Negative test: a stale read after a completed write must be rejected.
func TestLinearizableRejectsStaleRead(t *testing.T) {
	h := []Op{
		{Client: 1, Op: "put", Key: "x", Value: "a", Call: 0, Return: ret(10)},
		{Client: 1, Op: "put", Key: "x", Value: "b", Call: 20, Return: ret(30)},
		{Client: 2, Op: "get", Key: "x", Output: "a", Call: 40, Return: ret(50)},
	}
	v, err := CheckLinearizable(h, time.Second)
	require.NoError(t, err)
	assert.Equal(t, NotLinearizable, v)
}

// Negative test: a read of a value nobody wrote.
func TestLinearizableRejectsPhantomValue(t *testing.T) {
	h := []Op{
		{Client: 1, Op: "get", Key: "x", Output: "ghost", Call: 0, Return: ret(10)},
	}
	v, err := CheckLinearizable(h, time.Second)
	require.NoError(t, err)
	assert.Equal(t, NotLinearizable, v)
}

// Two reads that see two concurrent writes in opposite orders.
func TestLinearizableRejectsDisagreeingReaders(t *testing.T) {
	h := []Op{
		{Client: 1, Op: "put", Key: "x", Value: "a", Call: 0, Return: ret(100)},
		{Client: 2, Op: "put", Key: "x", Value: "b", Call: 0, Return: ret(100)},
		{Client: 3, Op: "get", Key: "x", Output: "a", Call: 110, Return: ret(120)},
		{Client: 4, Op: "get", Key: "x", Output: "b", Call: 130, Return: ret(140)},
		{Client: 3, Op: "get", Key: "x", Output: "a", Call: 150, Return: ret(160)},
	}
	v, err := CheckLinearizable(h, time.Second)
	require.NoError(t, err)
	assert.Equal(t, NotLinearizable, v)
}

func TestPendingPutMayTakeEffect(t *testing.T) {
	h := []Op{
		{Client: 1, Op: "put", Key: "x", Value: "a", Call: 0}, // never returned
		{Client: 2, Op: "get", Key: "x", Output: "a", Call: 500, Return: ret(510)},
		{Client: 3, Op: "get", Key: "x", Call: 600}, // pending get: ignored
	}
	v, err := CheckLinearizable(h, time.Second)
	require.NoError(t, err)
	assert.Equal(t, Linearizable, v)
}

func TestHistoryJSONLRoundTrip(t *testing.T) {
	h := []Op{
		{Client: 3, Op: "put", Key: "k1", Value: "v7", Call: 120000, Return: ret(250000)},
		{Client: 4, Op: "get", Key: "k1", Output: "v7", Call: 130000},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteJSONL(&buf, h))
	assert.Equal(t, `{"client":3,"op":"put","key":"k1","value":"v7","output":"","call":120000,"return":250000}
{"client":4,"op":"get","key":"k1","value":"","output":"v7","call":130000,"return":null}
`, buf.String())
	back, err := ReadJSONL(&buf)
	require.NoError(t, err)
	assert.Equal(t, h, back)
}

func TestReadJSONLNamesBadLine(t *testing.T) {
	_, err := ReadJSONL(bytes.NewBufferString(`{"client":1,"op":"put","key":"a","value":"b","call":1,"return":2}
{"client":1,"op":"cas","key":"a","call":3,"return":4}
`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2")
	_, err = ReadFile("/nonexistent/history.jsonl")
	require.Error(t, err)
}

func put(c, s uint64, k, v string) paxos.Command {
	return paxos.Command{Client: c, Seq: s, Op: paxos.OpPut, Key: k, Value: v}
}

func TestOneValuePerInstance(t *testing.T) {
	in := paxos.Instance{Slot: 1}
	ok := []Learned{
		{Replica: 0, Decision: paxos.Decision{Instance: in, Commands: []paxos.Command{put(1, 1, "x", "a")}}},
		{Replica: 1, Decision: paxos.Decision{Instance: in, Commands: []paxos.Command{put(1, 1, "x", "a")}}},
	}
	assert.Empty(t, OneValuePerInstance(ok))
	bad := append(ok, Learned{Replica: 2, Decision: paxos.Decision{Instance: in, Commands: []paxos.Command{put(2, 1, "x", "b")}}})
	v := OneValuePerInstance(bad)
	require.Len(t, v, 1)
	assert.Contains(t, v[0], "decided twice")
	// Same commands, different EPaxos attributes: also a violation.
	attrs := []Learned{
		{Replica: 0, Decision: paxos.Decision{Instance: in, Commands: []paxos.Command{put(1, 1, "x", "a")}, Seq: 1, Deps: []uint64{0, 0, 0}}},
		{Replica: 1, Decision: paxos.Decision{Instance: in, Commands: []paxos.Command{put(1, 1, "x", "a")}, Seq: 2, Deps: []uint64{0, 0, 0}}},
	}
	assert.Len(t, OneValuePerInstance(attrs), 1)
}

func TestDependenciesBetweenConflicts(t *testing.T) {
	a := paxos.Decision{Instance: paxos.Instance{Replica: 0, Slot: 1}, Commands: []paxos.Command{put(1, 1, "x", "a")}, Seq: 1, Deps: []uint64{0, 0, 0}}
	b := paxos.Decision{Instance: paxos.Instance{Replica: 1, Slot: 1}, Commands: []paxos.Command{put(2, 1, "x", "b")}, Seq: 2, Deps: []uint64{1, 0, 0}}
	c := paxos.Decision{Instance: paxos.Instance{Replica: 2, Slot: 1}, Commands: []paxos.Command{put(3, 1, "y", "c")}, Seq: 1, Deps: []uint64{0, 0, 0}}
	assert.Empty(t, DependenciesBetweenConflicts([]Learned{{Decision: a}, {Decision: b}, {Decision: c}}))
	// Drop b's dependency on a: two conflicting commands with no edge.
	b.Deps = []uint64{0, 0, 0}
	v := DependenciesBetweenConflicts([]Learned{{Decision: a}, {Decision: b}, {Decision: c}})
	require.Len(t, v, 1)
	assert.Contains(t, v[0], "do not depend on each other")
	// Two reads of one key do not interfere.
	g1 := paxos.Decision{Instance: paxos.Instance{Replica: 0, Slot: 2}, Commands: []paxos.Command{{Client: 4, Seq: 1, Op: paxos.OpGet, Key: "z"}}, Deps: []uint64{0, 0, 0}}
	g2 := paxos.Decision{Instance: paxos.Instance{Replica: 1, Slot: 2}, Commands: []paxos.Command{{Client: 5, Seq: 1, Op: paxos.OpGet, Key: "z"}}, Deps: []uint64{0, 0, 0}}
	assert.Empty(t, DependenciesBetweenConflicts([]Learned{{Decision: g1}, {Decision: g2}}))
}

func exec(r paxos.NodeID, inc int, c paxos.Command) Applied {
	return Applied{Replica: r, Incarnation: inc, Exec: paxos.Execution{Command: c}}
}

func TestExecutionAgrees(t *testing.T) {
	w1, w2, w3 := put(1, 1, "x", "a"), put(2, 1, "x", "b"), put(1, 2, "x", "c")
	other := put(3, 1, "y", "d")
	good := []Applied{
		exec(0, 0, w1), exec(0, 0, other), exec(0, 0, w2), exec(0, 0, w3),
		exec(1, 0, other), exec(1, 0, w1), exec(1, 0, w2),
		// A restarted incarnation that began from a snapshot after w1.
		exec(2, 1, w2), exec(2, 1, w3),
		// A replica that installed a snapshot covering w2 mid-run.
		exec(3, 0, w1), exec(3, 0, w3),
	}
	assert.Empty(t, ExecutionAgrees(good))

	swapped := []Applied{exec(0, 0, w1), exec(0, 0, w2), exec(1, 0, w2), exec(1, 0, w1)}
	v := ExecutionAgrees(swapped)
	require.Len(t, v, 1)
	assert.Contains(t, v[0], "different orders")

	twice := []Applied{exec(0, 0, w1), exec(0, 0, w1)}
	v = ExecutionAgrees(twice)
	require.Len(t, v, 1)
	assert.Contains(t, v[0], "twice")
	// A duplicate execution reported as such is fine.
	dup := []Applied{exec(0, 0, w1), {Replica: 0, Exec: paxos.Execution{Command: w1, Duplicate: true}}}
	assert.Empty(t, ExecutionAgrees(dup))
}

func TestParseFaults(t *testing.T) {
	f, err := ParseFaults("all")
	require.NoError(t, err)
	assert.Equal(t, AllFaults, f)
	assert.Contains(t, f, FaultRecovery)
	f, err = ParseFaults("recovery")
	require.NoError(t, err)
	assert.Equal(t, []string{"recovery"}, f)
	f, err = ParseFaults("none")
	require.NoError(t, err)
	assert.Empty(t, f)
	f, err = ParseFaults("crash,drop")
	require.NoError(t, err)
	assert.Equal(t, []string{"crash", "drop"}, f)
	_, err = ParseFaults("crash,meteor")
	require.ErrorContains(t, err, "meteor")
}
