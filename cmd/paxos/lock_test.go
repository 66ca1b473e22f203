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

// parseAt reads the time after key= in a line of `paxos lock`.
func parseAt(t *testing.T, line, key string) time.Time {
	t.Helper()
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			at, err := time.Parse(time.RFC3339Nano, v)
			require.NoError(t, err, "line %q", line)
			return at
		}
	}
	t.Fatalf("no %s= in line %q", key, line)
	return time.Time{}
}

// TestLockKill9HolderReplica: three `paxos serve --app lockservice`
// processes (Multi-Paxos with leases); a `paxos lock acquire --renewals`
// process holds a lock through replica 0 only, a second one waits for it
// through any replica. Replica 0 is killed with SIGKILL: the holder can no
// longer renew, and the waiter gets the lock, with a larger fencing token,
// only once the holder's session expired. The bound starts at the last
// renewal the holder saw (its send time, printed by the holder), not at
// the kill: on a starved machine a keep-alive can be late, so the last
// renewal may be well over TTL/3 before the kill. Every process reads the
// same host clock (ε = 0), so the documented guarantee (the service ends a
// session no earlier than its last applied keep-alive's send time + TTL -
// 2ε; lockservice package doc) is checked exactly, to the millisecond the
// replicas stamp with; it implies the holder's own view of its lease
// (send time + TTL - Skew) ended before the handover too.
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
	holderCmd, holder := lockProc(t, bin, "acquire", "--config", config, "--replica", "0", "--ttl", ttl.String(), "--timeout", "30s", "--value", "primary=A", "--renewals", "master")
	// Every renewal line the holder printed, in order, read until its
	// stdout closes (the holder is killed after the handover).
	var lastRenewal string
	var first string
	deadline := time.After(30 * time.Second)
	for first == "" {
		select {
		case line, ok := <-holder:
			require.True(t, ok, "the holder exited before acquiring the lock")
			if strings.HasPrefix(line, "renewed ") {
				lastRenewal = line
				continue
			}
			first = line
		case <-deadline:
			t.Fatal("the holder did not acquire the lock within 30s")
		}
	}
	ta := acquiredToken(t, first)
	holderRest := make(chan []string, 1)
	go func() {
		var rest []string
		for line := range holder {
			rest = append(rest, line)
		}
		holderRest <- rest
	}()
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
	tb := acquiredToken(t, second)
	handover := parseAt(t, second, "at")
	assert.Greater(t, tb, ta, "fencing tokens increase")

	// Stop the holder and read everything it printed: its last renewal
	// line is the last one it saw succeed (none can succeed after the kill:
	// it talks to replica 0 only). Its stdout closes whether or not it
	// was still running.
	_ = holderCmd.Process.Kill()
	var rest []string
	select {
	case rest = <-holderRest:
	case <-time.After(10 * time.Second):
		t.Fatal("the holder's stdout did not close within 10s of killing it")
	}
	for _, line := range rest {
		if strings.HasPrefix(line, "renewed ") {
			lastRenewal = line
		}
	}
	require.NotEmpty(t, lastRenewal, "the holder printed no renewal (its Open is one)")
	sent := parseAt(t, lastRenewal, "sent")
	// The replica stamps in whole milliseconds (UnixMilli truncates), so
	// the session's lease end is at least the send time's millisecond + TTL.
	expiry := sent.Truncate(time.Millisecond).Add(ttl)
	assert.False(t, handover.Before(expiry),
		"the waiter acquired at %s, %v before the holder's lease could end (last renewal sent %s + TTL %v)",
		handover.Format(time.RFC3339Nano), expiry.Sub(handover), sent.Format(time.RFC3339Nano), ttl)
	t.Logf("holder token %d, last renewal sent %v before the kill (%s); waiter acquired %v after the kill, %v after the lease end, token %d",
		ta, killed.Sub(sent).Round(time.Millisecond), lastRenewal, handover.Sub(killed).Round(time.Millisecond), handover.Sub(expiry).Round(time.Millisecond), tb)
}
