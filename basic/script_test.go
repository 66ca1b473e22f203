package basic

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// The scripted scenarios of testdata/ (go test -run TestScripts -rewrite
// rewrites their expected output).
func TestScripts(t *testing.T) {
	replicatest.Scripts(t, "testdata/*.txt", replicatest.Options{})
}

// The dueling-proposers script catches the bug it is about: with acceptors
// that ignore their promises, both proposers see their value chosen.
func TestDuelingProposersCatchesIgnoredPromises(t *testing.T) {
	m, err := paxos.LookupMutant("basic/ignore-promises")
	require.NoError(t, err)
	res, err := replicatest.Replay("testdata/dueling_proposers.txt", replicatest.Options{New: m.New})
	require.NoError(t, err)
	require.False(t, res.OK())
	for _, d := range res.Diffs {
		t.Log(d)
	}
	assert.Contains(t, res.Rewritten, "decided twice", "the script's check reports two values for slot 1")
}
