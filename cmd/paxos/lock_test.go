package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/transport"
)

// lockProc starts `paxos lock ARGS` and returns the lines of its stdout.
func lockProc(t *testing.T, bin string, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"lock"}, args...)...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("paxos lock %v stderr:\n%s", args, stderr.String())
		}
	})
	return cmd, lines
}

func acquiredToken(t *testing.T, line string) uint64 {
	t.Helper()
	var name string
	var tok, session uint64
	var at string
	_, err := fmt.Sscanf(line, "acquired %s token=%d session=%d at=%s", &name, &tok, &session, &at)
	require.NoError(t, err, "line %q", line)
	return tok
}

// TestLockKill9HolderReplica: three `paxos serve --app lockservice`
// processes (Multi-Paxos with leases); a `paxos lock acquire` process holds
// a lock through replica 0 only, a second one waits for it through any
// replica. Replica 0 is killed with SIGKILL: the holder can no longer renew,
// and the waiter gets the lock only once the holder's session expired (no
// earlier than the lease minus one keep-alive interval after the kill),
// with a larger fencing token.
func TestLockKill9HolderReplica(t *testing.T) {
	bin := binary(t)
	secret, err := transport.NewSecret()
	require.NoError(t, err)
	secretFile := filepath.Join(t.TempDir(), "cluster.secret")
	require.NoError(t, transport.WriteSecret(secretFile, secret))
	leader := 0
	config, _ := writeClusterWith(t, "multi", 3, func(c *node.Cluster) {
		c.SecretFile = secretFile
		c.Options.Leader = &leader
		c.Options.LeaseTicks = 6
	})
	ps := &procs{t: t, bin: bin, config: config, root: t.TempDir(), args: []string{"--app", "lockservice"}, p: make([]*replicaProc, 3)}
	t.Cleanup(ps.cleanup)
	for i := 0; i < 3; i++ {
		ps.start(i)
	}
	const ttl = 3 * time.Second
	_, holder := lockProc(t, bin, "acquire", "--config", config, "--replica", "0", "--ttl", ttl.String(), "--timeout", "30s", "--value", "primary=A", "master")
	var first string
	select {
	case first = <-holder:
	case <-time.After(30 * time.Second):
		t.Fatal("the holder did not acquire the lock within 30s")
	}
	ta := acquiredToken(t, first)
	_, waiter := lockProc(t, bin, "acquire", "--config", config, "--ttl", ttl.String(), "--timeout", "40s", "--hold", "100ms", "master")
	select {
	case line := <-waiter:
		t.Fatalf("the waiter acquired a held lock: %s", line)
	case <-time.After(time.Second):
	}
	ps.kill9(0)
	killed := time.Now()
	var second string
	select {
	case second = <-waiter:
	case <-time.After(40 * time.Second):
		t.Fatal("the waiter did not acquire the lock within 40s of the kill")
	}
	waited := time.Since(killed)
	tb := acquiredToken(t, second)
	assert.Greater(t, tb, ta, "fencing tokens increase")
	// The holder's last renewal was at most TTL/3 before the kill, and its
	// session ends TTL after that renewal.
	assert.GreaterOrEqual(t, waited, ttl-ttl/3, "acquired %v after the kill, before the holder's session could have expired", waited)
	t.Logf("holder token %d; replica 0 killed; waiter acquired after %v with token %d", ta, waited.Round(time.Millisecond), tb)
}
