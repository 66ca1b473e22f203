package multi_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/internal/replicatest"
	"github.com/paxos-lab/paxos/multi"
)

// TestSnapshotKeepsPromise replays testdata/snapshot_drops_promise.txt
// (the planted bug multi/snapshot-drops-promise decides slot 2 twice) with
// correct replicas: replica 1 restores its promise of (1,2) from its
// snapshot, refuses replica 0's Prepare at (1,0), and the script ends with
// every invariant holding.
func TestSnapshotKeepsPromise(t *testing.T) {
	res, err := replicatest.Replay("testdata/snapshot_drops_promise.txt", replicatest.Options{New: multi.New})
	require.NoError(t, err)
	require.Empty(t, res.Failed)
	require.NotEmpty(t, res.Diffs, "the correct protocol follows the planted bug's script")
	last := res.Diffs[len(res.Diffs)-1]
	assert.Contains(t, last, "check\nwant:")
	assert.True(t, strings.HasSuffix(last, "got:\nok"), "the last check of the correct run: %s", last)
}
