package kv_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// TestSnapshotOfEarlierBuildsRestores: builds before 2026-11-29 kept the
// deduplication sessions in the store and wrote them into a snapshot's "s"
// field as a map of per-client state. Such a snapshot (a replica's data
// directory from an earlier build) must still restore, sessions included,
// so that an upgraded replica starts and answers retries as before.
func TestSnapshotOfEarlierBuildsRestores(t *testing.T) {
	type oldSession struct {
		Low    uint64            `msgpack:"l"`
		LowOut string            `msgpack:"o"`
		Done   map[uint64]string `msgpack:"d,omitempty"`
		Old    map[uint64]string `msgpack:"p,omitempty"`
	}
	old := struct {
		Data     map[string]string     `msgpack:"d"`
		Sessions map[uint64]oldSession `msgpack:"s"`
		Applied  uint64                `msgpack:"a"`
	}{
		Data: map[string]string{"k": "v3"},
		// Client 7 executed seqs 1..3 (3 was a get answered "v2") and 5.
		Sessions: map[uint64]oldSession{7: {Low: 3, LowOut: "v2", Done: map[uint64]string{5: ""}, Old: map[uint64]string{2: "x"}}},
		Applied:  4,
	}
	b, err := msgpack.Marshal(old)
	require.NoError(t, err)

	var snap kv.Snapshot
	require.NoError(t, msgpack.Unmarshal(b, &snap))
	e := kv.NewExecutor(paxos.Config{})
	require.NoError(t, e.Install(paxos.Config{}, snap))
	v, ok := snap.Get("k")
	assert.True(t, ok)
	assert.Equal(t, "v3", v)

	for seq, out := range map[uint64]string{3: "v2", 2: "x", 5: "", 1: ""} {
		ex, done := e.Executed(&paxos.Command{Client: 7, Seq: seq, Op: paxos.OpGet, Key: "k"})
		assert.True(t, done, "seq %d executed before the upgrade", seq)
		assert.Equal(t, out, ex.Output, "seq %d", seq)
	}
	_, done := e.Executed(&paxos.Command{Client: 7, Seq: 4, Op: paxos.OpPut, Key: "k", Value: "w"})
	assert.False(t, done, "seq 4 never executed")

	// Written again, the snapshot takes the current format and reads back.
	b2, err := msgpack.Marshal(e.Snapshot())
	require.NoError(t, err)
	var again kv.Snapshot
	require.NoError(t, msgpack.Unmarshal(b2, &again))
	assert.Equal(t, e.Snapshot().Sessions, again.Sessions)

	// Garbage in the field is an error, not a panic or silent loss.
	bad, err := msgpack.Marshal(map[string]any{"s": []int{1, 2}})
	require.NoError(t, err)
	assert.Error(t, msgpack.Unmarshal(bad, &snap))
}
