package multi_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/internal/replicatest"
	"github.com/paxos-lab/paxos/multi"
)

// TestRebuildIgnoresRebuildingPeers replays
// testdata/rebuild_counts_rebuilding_peers.txt (the planted bug
// multi/rebuild-counts-rebuilding-peers decides slot 3 twice) with correct
// replicas: replica 0 does not count replica 2's answer, so it is still
// rebuilding when replica 1 fails, and the script ends with every invariant
// holding.
func TestRebuildIgnoresRebuildingPeers(t *testing.T) {
	replayCorrect(t, "testdata/rebuild_counts_rebuilding_peers.txt")
}

// replayCorrect replays a planted bug's script with correct replicas and
// asserts that it diverges from the script and ends with its final check
// finding no violation.
func replayCorrect(t *testing.T, path string) {
	t.Helper()
	res, err := replicatest.Replay(path, replicatest.Options{New: multi.New})
	require.NoError(t, err)
	require.Empty(t, res.Failed)
	require.NotEmpty(t, res.Diffs, "the correct protocol follows the planted bug's script")
	last := res.Diffs[len(res.Diffs)-1]
	assert.Contains(t, last, "check\nwant:")
	assert.True(t, strings.HasSuffix(last, "got:\nok"), "the last check of the correct run: %s", last)
}
