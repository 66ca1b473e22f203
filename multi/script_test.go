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

// TestAcceptedAnyBallotNeedsTheBug replays the double decisions of
// testdata/accepted_any_ballot*.txt (N = 5 and 7) with correct replicas:
// the stale acknowledgement of the earlier ballot is ignored, replica 0
// never decides slot 1 at its later ballot, and each script ends with
// every invariant holding.
func TestAcceptedAnyBallotNeedsTheBug(t *testing.T) {
	for _, path := range []string{"testdata/accepted_any_ballot.txt", "testdata/accepted_any_ballot_n7.txt"} {
		res, err := replicatest.Replay(path, replicatest.Options{New: multi.New})
		require.NoError(t, err)
		require.Empty(t, res.Failed, path)
		require.NotEmpty(t, res.Diffs, "%s: the correct protocol follows the planted bug's script", path)
		last := res.Diffs[len(res.Diffs)-1]
		assert.Contains(t, last, "check\nwant:", path)
		assert.True(t, strings.HasSuffix(last, "got:\nok"), "the last check of the correct run: %s", last)
	}
}
