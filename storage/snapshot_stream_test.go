package storage_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

type bigSnap struct {
	Data []string
}

type unregistered struct{ X int }

func init() { paxos.Register("storage_test.bigSnap", bigSnap{}) }

// A snapshot larger than the WAL's write buffer is streamed into its file
// and reads back whole, with the log after it.
func TestWALLargeSnapshotStreams(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	big := bigSnap{}
	for i := 0; i < 3000; i++ {
		big.Data = append(big.Data, strings.Repeat(string(rune('a'+i%26)), 1000))
	}
	require.NoError(t, w.Append(nil, recs(0, 3)))
	require.NoError(t, w.Append(big, recs(3, 5)))
	require.NoError(t, w.Close())
	w = open(t, dir)
	p, err := w.Load()
	require.NoError(t, err)
	assert.Equal(t, big, p.Snapshot)
	assert.Equal(t, recs(3, 5), p.Records)
	require.NoError(t, w.Close())
}

// A snapshot that cannot be encoded is refused and leaves the WAL usable,
// with what it held before.
func TestWALUnencodableSnapshotLeavesWALUsable(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	require.NoError(t, w.Append(snap{Upto: 1}, recs(1, 2)))
	assert.Error(t, w.Append(unregistered{X: 1}, recs(2, 3)))
	require.NoError(t, w.Append(nil, recs(2, 4)))
	require.NoError(t, w.Close())
	w = open(t, dir)
	p, err := w.Load()
	require.NoError(t, err)
	assert.Equal(t, snap{Upto: 1}, p.Snapshot)
	assert.Equal(t, recs(1, 4), p.Records)
	require.NoError(t, w.Close())
}
