package multi_test

import "testing"

// TestSnapshotKeepsPromise replays testdata/snapshot_drops_promise.txt
// (the planted bug multi/snapshot-drops-promise decides slot 2 twice) with
// correct replicas: replica 1 restores its promise of (1,2) from its
// snapshot, refuses replica 0's Prepare at (1,0), and the script ends with
// every invariant holding.
func TestSnapshotKeepsPromise(t *testing.T) {
	replayCorrect(t, "testdata/snapshot_drops_promise.txt")
}
