package node_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/node"
)

// fdChildEnv makes the test binary run fdChild instead of the tests.
const fdChildEnv = "PAXOS_TEST_FD_CHILD"

// fdChild runs in a subprocess whose descriptor limit is 256: a one-replica
// cluster with a WAL that snapshots every 5 commands. It says "ready ADDR",
// waits for "go" (sent once the parent opened 600 connections to its client
// port), waits until it refused some, then submits 40 commands (8
// snapshots, each a new file) and finally serves a real client.
func fdChild() int {
	fail := func(format string, a ...any) int {
		fmt.Printf("FAIL "+format+"\n", a...)
		return 1
	}
	lim := syscall.Rlimit{Cur: 256, Max: 256}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fail("setrlimit: %v", err)
	}
	dir := os.Getenv(fdChildEnv)
	secretFile := dir + "/cluster.secret"
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("listen: %v", err)
	}
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("listen: %v", err)
	}
	c := &node.Cluster{Name: "fd", Protocol: "multi", TickMS: 5, SecretFile: secretFile,
		Options:  node.Options{SnapshotEvery: 5},
		Limits:   node.Limits{HandshakeTimeoutMS: 300},
		Replicas: []node.ReplicaAddrs{{ID: 0, Peer: peer.Addr().String(), Client: cl.Addr().String()}}}
	if err := c.Validate(); err != nil {
		return fail("cluster: %v", err)
	}
	lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := node.Serve(node.ServeConfig{Cluster: c, ID: 0, DataDir: dir + "/data", New: true, NoSync: true,
		PeerListener: peer, ClientListener: cl, Logger: lg})
	if err != nil {
		return fail("serve: %v", err)
	}
	defer s.Stop(context.Background())
	fmt.Printf("ready %s\n", s.ClientAddr())
	if line, _ := bufio.NewReader(os.Stdin).ReadString('\n'); strings.TrimSpace(line) != "go" {
		return fail("no go: %q", line)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, st := s.GuardStats()
		if st.RefusedConns > 0 || st.Evicted > 0 || st.AcceptErrors > 0 {
			break // the cap held: newcomers were refused or took an idle one's place
		}
		if time.Now().After(deadline) {
			return fail("the client port never hit its connection cap: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 1; i <= 40; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := s.Node().Submit(ctx, paxos.Command{Client: 7, Seq: uint64(i), Op: paxos.OpPut, Key: "k", Value: fmt.Sprint(i)})
		cancel()
		if err != nil {
			return fail("submit %d: %v", i, err)
		}
	}
	fmt.Printf("persisted 40 records=%d\n", s.Node().Stats().Records)
	opts, err := c.ClientOptions(client.Options{AttemptTimeout: time.Second})
	if err != nil {
		return fail("client options: %v", err)
	}
	kc, err := client.New(c.ClientAddrs(), opts)
	if err != nil {
		return fail("client: %v", err)
	}
	defer kc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := kc.Get(ctx, "k")
	if err != nil || v != "40" {
		return fail("client get: %q %v", v, err)
	}
	_, st := s.GuardStats()
	fmt.Printf("client ok refused_conns=%d evicted=%d accept_errors=%d timeouts=%d\n", st.RefusedConns, st.Evicted, st.AcceptErrors, st.Timeouts)
	return 0
}

func TestMain(m *testing.M) {
	if os.Getenv(fdChildEnv) != "" {
		os.Exit(fdChild())
	}
	os.Exit(m.Run())
}

// TestDescriptorExhaustionNeverStopsPersisting floods a replica whose
// descriptor limit is 256 with 600 connections: it must refuse the excess,
// keep persisting (snapshots open new files) and keep serving clients.
func TestDescriptorExhaustionNeverStopsPersisting(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess; skipped with -short")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(dir+"/cluster.secret", []byte(strings.Repeat("ab", 32)+"\n"), 0o600))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+dir)
	var stderr syncWriter
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	out := bufio.NewScanner(stdout)
	require.True(t, out.Scan(), "child said nothing; stderr:\n%s", stderr.String())
	line := out.Text()
	require.True(t, strings.HasPrefix(line, "ready "), line)
	addr := strings.TrimPrefix(line, "ready ")

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 600; i++ {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break // the backlog is full: that is refusing too
		}
		conns = append(conns, c)
	}
	t.Logf("opened %d connections", len(conns))
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	var lines []string
	for out.Scan() {
		lines = append(lines, out.Text())
	}
	err = cmd.Wait()
	t.Logf("child:\n%s", strings.Join(lines, "\n"))
	require.NoError(t, err, "the replica failed; stderr (last 2000 bytes):\n%s", tail(stderr.String(), 2000))
	joined := strings.Join(lines, "\n")
	assert.Contains(t, joined, "persisted 40")
	assert.Contains(t, joined, "client ok")
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
