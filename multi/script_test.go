package multi_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/internal/replicatest"
	"github.com/paxos-lab/paxos/multi"
)

// The scripted scenarios of testdata/ (go test -run TestScripts -rewrite
// rewrites their expected output).
func TestScripts(t *testing.T) {
	replicatest.Scripts(t, "testdata/*.txt", replicatest.Options{})
}

// TestAcceptedAnyBallotNeedsTheBug replays the double decision of
// testdata/accepted_any_ballot.txt with correct replicas: the stale
// acknowledgement of the earlier ballot is ignored, replica 0 never
// decides slot 1 at its later ballot, and the script ends with every
// invariant holding.
func TestAcceptedAnyBallotNeedsTheBug(t *testing.T) {
	res, err := replicatest.Replay("testdata/accepted_any_ballot.txt", replicatest.Options{New: multi.New})
	require.NoError(t, err)
	require.Empty(t, res.Failed)
	require.NotEmpty(t, res.Diffs, "the correct protocol follows the planted bug's script")
	last := res.Diffs[len(res.Diffs)-1]
	assert.Contains(t, last, "check\nwant:")
	assert.True(t, strings.HasSuffix(last, "got:\nok"), "the last check of the correct run: %s", last)
}
