package multi_test

import (
	"testing"

	"github.com/paxos-lab/paxos/internal/replicatest"
)

// The scripted scenarios of testdata/ (go test -run TestScripts -rewrite
// rewrites their expected output).
func TestScripts(t *testing.T) {
	replicatest.Scripts(t, "testdata/*.txt", replicatest.Options{})
}
