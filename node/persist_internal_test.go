package node

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// appendRecorder is a storage.Storage that keeps its Appends' arguments.
type appendRecorder struct {
	snaps []any
	recs  [][]any
}

func (a *appendRecorder) Append(snapshot any, records []any) error {
	a.snaps = append(a.snaps, snapshot)
	a.recs = append(a.recs, append([]any(nil), records...))
	return nil
}
func (a *appendRecorder) Load() (paxos.Persisted, error) { return paxos.Persisted{}, nil }
func (a *appendRecorder) Close() error                   { return nil }

type syncSnap string

type bgSnap string

func (bgSnap) BackgroundSnapshot() bool { return true }

// A group of Readies is persisted as its last snapshot and the records
// after it; a background snapshot replaces no record and does not
// displace an earlier snapshot of the group that is not one.
func TestPersistGroupBackgroundSnapshot(t *testing.T) {
	rd := func(snap any, recs ...any) *batch { return &batch{rd: paxos.Ready{Snapshot: snap, Persist: recs}} }
	for _, tc := range []struct {
		name  string
		group []*batch
		snap  any
		recs  []any
	}{
		{"sync replaces", []*batch{rd(nil, 1), rd(syncSnap("s"), 2), rd(nil, 3)}, syncSnap("s"), []any{2, 3}},
		{"background keeps", []*batch{rd(nil, 1), rd(bgSnap("b"), 2), rd(nil, 3)}, bgSnap("b"), []any{1, 2, 3}},
		{"sync stays", []*batch{rd(syncSnap("s"), 1), rd(bgSnap("b"), 2)}, syncSnap("s"), []any{1, 2}},
		{"later sync wins", []*batch{rd(bgSnap("b"), 1), rd(syncSnap("s"), 2), rd(nil, 3)}, syncSnap("s"), []any{2, 3}},
		{"last background", []*batch{rd(bgSnap("a"), 1), rd(bgSnap("b"), 2)}, bgSnap("b"), []any{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &appendRecorder{}
			n := &Node{cfg: Config{Storage: st}}
			require.NoError(t, n.persist(tc.group))
			require.Len(t, st.snaps, 1)
			assert.Equal(t, tc.snap, st.snaps[0])
			assert.Equal(t, tc.recs, st.recs[0])
		})
	}
}
