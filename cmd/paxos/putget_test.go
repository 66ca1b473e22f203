package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/node"
)

// serveOne serves a one-replica Multi-Paxos cluster in this process until
// the test ends, and returns its cluster file and server.
func serveOne(t *testing.T) (string, *node.Server) {
	t.Helper()
	config, c := writeCluster(t, "multi", 1)
	s, err := node.Serve(node.ServeConfig{Cluster: c, ID: 0, DataDir: t.TempDir(), New: true, NoSync: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { s.Stop(context.Background()) })
	return config, s
}

// Against a stopped cluster (every client port refuses) get and put fail at
// once, not after --timeout.
func TestClientFailsFastWhenEveryReplicaRefuses(t *testing.T) {
	config, _ := writeCluster(t, "multi", 3)
	for _, args := range [][]string{{"get", "k"}, {"put", "k", "v"}} {
		start := time.Now()
		code, stdout, stderr := runCmd(append(args, "--config", config, "--timeout", "20s")...)
		assert.Equal(t, exitFail, code, stderr)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "every replica refused the connection")
		assert.Less(t, time.Since(start), 5*time.Second)
	}
}

// A hand-edited cluster file with a syntax error is reported with its line
// and column.
func TestMalformedClusterFileNamesLineAndColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	require.NoError(t, os.WriteFile(path, []byte("{\n  \"cluster\": \"x\",\n  \"protocol\": \"multi\"\n  \"replicas\": []\n}\n"), 0o644))
	code, _, stderr := runCmd("get", "--config", path, "k")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "line 4, column 3")
}

// A key that holds no value: "not found" on stderr and exit 4; an empty
// value prints an empty line and exits 0.
func TestGetSaysNotFound(t *testing.T) {
	config, _ := serveOne(t)

	code, stdout, stderr := runCmd("get", "--config", config, "nokey")
	assert.Equal(t, exitNotFound, code, stderr)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "nokey: not found")

	code, _, stderr = runCmd("put", "--config", config, "k", "")
	require.Equal(t, exitOK, code, stderr)
	code, stdout, stderr = runCmd("get", "--config", config, "k")
	assert.Equal(t, exitOK, code, stderr)
	assert.Equal(t, "\n", stdout)
}
