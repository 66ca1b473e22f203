package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/internal/freeport"
	"github.com/paxos-lab/paxos/internal/livetest"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

// The tests in this file build the paxos binary and run replicas as real
// processes. They are skipped with -short.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/paxos once per test run.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and spawns processes; skipped with -short")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "paxos-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "paxos")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// freePorts returns n loopback addresses that were free a moment ago.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	out, err := freeport.Loopback(n)
	require.NoError(t, err)
	return out
}

// writeCluster writes a cluster file for n replicas on free loopback ports,
// with a cluster secret beside it.
func writeCluster(t *testing.T, protocol string, n int) (string, *node.Cluster) {
	t.Helper()
	secret, err := transport.NewSecret()
	require.NoError(t, err)
	secretFile := filepath.Join(t.TempDir(), "cluster.secret")
	require.NoError(t, transport.WriteSecret(secretFile, secret))
	return writeClusterWith(t, protocol, n, func(c *node.Cluster) { c.SecretFile = secretFile })
}

// writeClusterWith writes a cluster file for n replicas on free loopback
// ports, changed by edit.
func writeClusterWith(t *testing.T, protocol string, n int, edit func(*node.Cluster)) (string, *node.Cluster) {
	t.Helper()
	addrs := freePorts(t, 2*n)
	c := &node.Cluster{Name: "kill-test", Protocol: protocol, TickMS: 10, Options: node.Options{Batch: 8}}
	edit(c)
	for i := 0; i < n; i++ {
		c.Replicas = append(c.Replicas, node.ReplicaAddrs{ID: i, Peer: addrs[2*i], Client: addrs[2*i+1]})
	}
	data, err := json.MarshalIndent(c, "", "  ")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "cluster.json")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	parsed, err := node.LoadCluster(path)
	require.NoError(t, err)
	return path, parsed
}

// replicaProc is one `paxos serve` process.
type replicaProc struct {
	cmd    *exec.Cmd
	log    *bytes.Buffer // read it only once exited is closed
	exited chan struct{} // closed once the process has exited and been reaped
	err    error         // its exit error, set before exited is closed
}

// wait reaps the process in the background (once; see exited).
func (p *replicaProc) wait() {
	p.exited = make(chan struct{})
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
}

type procs struct {
	t      *testing.T
	bin    string
	config string
	root   string
	args   []string // more flags for paxos serve
	mu     sync.Mutex
	p      []*replicaProc
}

func (ps *procs) start(i int) {
	ps.t.Helper()
	var log bytes.Buffer
	// --new: the first start of each replica (a restart on its data
	// directory ignores it).
	cmd := exec.Command(ps.bin, append([]string{"serve", "--config", ps.config, "--id", strconv.Itoa(i), "--data", filepath.Join(ps.root, fmt.Sprint("r", i)), "--log-level", "warn", "--new"}, ps.args...)...)
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(ps.t, cmd.Start())
	p := &replicaProc{cmd: cmd, log: &log}
	p.wait()
	ps.mu.Lock()
	ps.p[i] = p
	ps.mu.Unlock()
	// Up means its client port accepts connections: by then it catches
	// signals and has opened its storage, so a SIGTERM that follows stops
	// it cleanly (one sent while the process is still starting would find
	// no handler and kill it). A process that exits first fails the test
	// at once, with its log.
	c, err := node.LoadCluster(ps.config)
	require.NoError(ps.t, err)
	deadline := time.After(60 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", c.Replicas[i].Client, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-p.exited:
			require.FailNowf(ps.t, "paxos serve exited", "replica %d exited before it opened its client port (%v); its log:\n%s", i, p.err, p.log.String())
		case <-deadline:
			require.FailNowf(ps.t, "paxos serve is not up", "replica %d did not open its client port within 60s (last dial: %v)", i, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// kill9 kills replica i with SIGKILL and reaps it.
func (ps *procs) kill9(i int) {
	ps.mu.Lock()
	p := ps.p[i]
	ps.p[i] = nil
	ps.mu.Unlock()
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// term stops replica i with SIGTERM and returns its exit error.
func (ps *procs) term(i int) error {
	ps.mu.Lock()
	p := ps.p[i]
	ps.p[i] = nil
	ps.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			return fmt.Errorf("%w; log:\n%s", p.err, p.log.String())
		}
		return nil
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("replica %d did not stop within 40s of SIGTERM", i)
	}
}

func (ps *procs) cleanup() {
	for i := range ps.p {
		if ps.p[i] != nil {
			ps.kill9(i)
		}
	}
}

func TestServeKill9AndRestartLosesNothing(t *testing.T) {
	bin := binary(t)
	// One leader-based and one leaderless protocol; every protocol with
	// PAXOS_LONG_TESTS=1 (CI).
	protocols := longtest.Pick([]string{"multi", "epaxos"}, paxos.Protocols())
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			const n = 3
			config, c := writeCluster(t, protocol, n)
			ps := &procs{t: t, bin: bin, config: config, root: t.TempDir(), p: make([]*replicaProc, n)}
			t.Cleanup(ps.cleanup)
			for i := 0; i < n; i++ {
				ps.start(i)
			}

			start := time.Now()
			var mu sync.Mutex
			var hist []check.Op
			var stop atomic.Bool
			var acked atomic.Int64
			var wg sync.WaitGroup
			for k := 0; k < 3; k++ {
				wg.Add(1)
				go func(k int) {
					defer wg.Done()
					cl, err := newClient(c, client.Options{AttemptTimeout: time.Second})
					if !assert.NoError(t, err) {
						return
					}
					defer cl.Close()
					for i := 0; !stop.Load(); i++ {
						op := check.Op{Client: cl.ID(), Op: "put", Key: fmt.Sprint("k", (k+i)%4), Value: fmt.Sprintf("c%d-%d", k, i)}
						if i%3 == 2 {
							op.Op, op.Value = "get", ""
						}
						if err := livetest.Do(cl, &op, start, 60*time.Second); err == nil {
							acked.Add(1)
						} else if !stop.Load() {
							t.Logf("client %d: %s %s failed: %v", k, op.Op, op.Key, err)
						}
						mu.Lock()
						hist = append(hist, op)
						mu.Unlock()
					}
				}(k)
			}
			// Generous deadlines: on a loaded 2-core machine a leader
			// election after a kill -9 plus a restart's replay can take
			// many seconds; what is asserted is progress, not speed.
			waitAcked := func(more int64) {
				target := acked.Load() + more
				require.Eventually(t, func() bool { return acked.Load() >= target }, 90*time.Second, 10*time.Millisecond,
					"the cluster stopped making progress")
			}
			waitAcked(60)
			// A follower (or, leaderless, a replica clients do not prefer).
			ps.kill9(2)
			waitAcked(60)
			ps.start(2)
			waitAcked(60)
			// The leader, or the command leader clients talk to first.
			ps.kill9(0)
			waitAcked(60)
			ps.start(0)
			waitAcked(60)
			stop.Store(true)
			wg.Wait()

			// Every acknowledged write is still there: read every key at
			// the end; the reads join the history.
			cl, err := newClient(c, client.Options{AttemptTimeout: time.Second})
			require.NoError(t, err)
			defer cl.Close()
			for k := 0; k < 4; k++ {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				call := int64(time.Since(start))
				v, err := cl.Get(ctx, fmt.Sprint("k", k))
				cancel()
				require.NoError(t, err)
				ret := int64(time.Since(start))
				hist = append(hist, check.Op{Client: cl.ID(), Op: "get", Key: fmt.Sprint("k", k), Output: v, Call: call, Return: &ret})
			}
			verdict, err := check.CheckLinearizable(hist, 120*time.Second)
			require.NoError(t, err)
			assert.Equal(t, check.Linearizable, verdict, "history of %d operations", len(hist))
			t.Logf("%s: %d operations, %d acknowledged", protocol, len(hist), acked.Load())
			for i := 0; i < n; i++ {
				assert.NoError(t, ps.term(i), "replica %d stops cleanly on SIGTERM", i)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer that a child process's output copier and
// the test may use at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clusterProc is a running `paxos cluster` whose stdout is read line by
// line.
type clusterProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	stderr *lockedBuffer
	seen   []string
}

func startClusterCmd(t *testing.T, bin string, args ...string) *clusterProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"cluster", "--log-level", "warn"}, args...)...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cp := &clusterProc{t: t, cmd: cmd, lines: make(chan string, 1000), stderr: &lockedBuffer{}}
	cmd.Stderr = cp.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			cp.lines <- sc.Text()
		}
		close(cp.lines)
	}()
	return cp
}

// waitLine waits for a stdout line containing substr and returns it.
func (cp *clusterProc) waitLine(substr string) string {
	cp.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-cp.lines:
			require.True(cp.t, ok, "cluster output ended before %q; stdout so far:\n%s\nstderr:\n%s", substr, strings.Join(cp.seen, "\n"), cp.stderr.String())
			cp.seen = append(cp.seen, l)
			if strings.Contains(l, substr) {
				return l
			}
		case <-deadline:
			cp.t.Fatalf("no %q within 60s; stdout so far:\n%s\nstderr:\n%s", substr, strings.Join(cp.seen, "\n"), cp.stderr.String())
		}
	}
}

// stop sends SIGTERM and waits for the cluster to stop its replicas.
func (cp *clusterProc) stop() error {
	cp.t.Helper()
	require.NoError(cp.t, cp.cmd.Process.Signal(syscall.SIGTERM))
	cp.waitLine("all replicas stopped")
	for range cp.lines {
	}
	return cp.cmd.Wait()
}

func TestClusterCommandStartsServesAndStops(t *testing.T) {
	bin := binary(t)
	config, _ := writeCluster(t, "multi", 3)
	cp := startClusterCmd(t, bin, "--config", config, "--data", t.TempDir())
	cp.waitLine("ready: client ports")
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"put", "--config", config, "greeting", "hello"}, &stdout, &stderr), stderr.String())
	stdout.Reset()
	require.Equal(t, exitOK, run([]string{"get", "--config", config, "greeting"}, &stdout, &stderr), stderr.String())
	assert.Equal(t, "hello\n", stdout.String())

	// A second cluster on the same ports fails clearly instead of
	// claiming readiness on the first one's ports.
	second := exec.Command(bin, "cluster", "--config", config, "--data", t.TempDir(), "--log-level", "warn")
	out2, err := second.Output()
	assert.Error(t, err, "second cluster must exit non-zero")
	assert.Contains(t, string(out2), "NOT ready")
	assert.NotContains(t, string(out2), "ready: client ports")

	require.NoError(t, cp.stop())
}

// TestClusterCommandNamesAReplicaWithLostStorage wipes one replica's data
// directory between two runs of paxos cluster: the second run names that
// replica, its exit status and log, points to --rebuild and keeps the
// others serving; a third run with --rebuild starts all of them.
func TestClusterCommandNamesAReplicaWithLostStorage(t *testing.T) {
	bin := binary(t)
	config, _ := writeCluster(t, "multi", 3)
	root := t.TempDir()
	cp := startClusterCmd(t, bin, "--config", config, "--data", root)
	cp.waitLine("ready: client ports")
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"put", "--config", config, "k", "before"}, &stdout, &stderr), stderr.String())
	require.NoError(t, cp.stop())

	wiped := filepath.Join(root, "replica-2")
	require.NoError(t, os.RemoveAll(wiped))
	require.NoError(t, os.Mkdir(wiped, 0o755))

	cp = startClusterCmd(t, bin, "--config", config, "--data", root)
	l := cp.waitLine("replica 2 exited during start-up")
	assert.Contains(t, l, "exit status 3")
	assert.Contains(t, l, "the other replicas keep running")
	cp.waitLine("is empty")
	cp.waitLine("paxos serve --config " + config + " --id 2 --data " + wiped + " --rebuild")
	cp.waitLine("ready without replica(s) 2")
	// The other two serve, with the write made before.
	stdout.Reset()
	require.Equal(t, exitOK, run([]string{"get", "--config", config, "k"}, &stdout, &stderr), stderr.String())
	assert.Equal(t, "before\n", stdout.String())
	require.Equal(t, exitOK, run([]string{"put", "--config", config, "k", "during"}, &stdout, &stderr), stderr.String())
	assert.Error(t, cp.stop(), "a run in which a replica failed exits non-zero")
	entries, err := os.ReadDir(wiped)
	require.NoError(t, err)
	for _, e := range entries {
		assert.Equal(t, "LOCK", e.Name(), "a refused replica writes nothing but its lock file")
	}

	cp = startClusterCmd(t, bin, "--config", config, "--data", root, "--rebuild", "2")
	cp.waitLine("ready: client ports")
	stdout.Reset()
	require.Equal(t, exitOK, run([]string{"get", "--config", config, "k"}, &stdout, &stderr), stderr.String())
	assert.Equal(t, "during\n", stdout.String())
	require.NoError(t, cp.stop())
	id, err := storage.ReadIdentity(wiped)
	require.NoError(t, err)
	require.NotNil(t, id)
	assert.Equal(t, 2, id.Replica)
}

// TestServeSecondOpenerRefused starts a replica, then a second paxos serve
// with other ports on the same --data: the second is refused and the first
// keeps its WAL.
func TestServeSecondOpenerRefused(t *testing.T) {
	bin := binary(t)
	config, c := writeCluster(t, "multi", 1)
	root := t.TempDir()
	ps := &procs{t: t, bin: bin, config: config, root: root, p: make([]*replicaProc, 1)}
	t.Cleanup(ps.cleanup)
	ps.start(0)
	cl, err := newClient(c, client.Options{AttemptTimeout: 2 * time.Second})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, cl.Put(ctx, "k", "v"))

	other, _ := writeCluster(t, "multi", 1)
	var stdout, stderr bytes.Buffer
	code := run([]string{"serve", "--config", other, "--id", "0", "--data", filepath.Join(root, "r0"), "--new", "--log-level", "warn"}, &stdout, &stderr)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, stderr.String(), "is in use by another process (pid "+strconv.Itoa(ps.p[0].cmd.Process.Pid)+")")
	assert.NotContains(t, stdout.String(), serveReadyLine)

	v, err := cl.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	require.NoError(t, ps.term(0))
	// Restarted on its data, the write is there.
	ps.start(0)
	v, err = cl.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	require.NoError(t, ps.term(0))
}

func TestServeAndClientUsageErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	assert.Equal(t, exitUsage, run([]string{"serve"}, &stdout, &stderr))
	assert.Equal(t, exitUsage, run([]string{"serve", "--config", "/nonexistent.json", "--id", "0", "--data", t.TempDir()}, &stdout, &stderr))
	assert.Equal(t, exitUsage, run([]string{"put", "--config", "x.json", "onlykey"}, &stdout, &stderr))
	assert.Equal(t, exitUsage, run([]string{"get"}, &stdout, &stderr))
	assert.Equal(t, exitUsage, run([]string{"cluster"}, &stdout, &stderr))
	// A cluster that is not running: the client gives up with an error.
	config, _ := writeCluster(t, "multi", 3)
	stderr.Reset()
	assert.Equal(t, exitFail, run([]string{"get", "--config", config, "--timeout", "500ms", "k"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "is the cluster running")
}

// newClient returns a client of c that authenticates as c requires.
func newClient(c *node.Cluster, o client.Options) (*client.Client, error) {
	o, err := c.ClientOptions(o)
	if err != nil {
		return nil, err
	}
	return client.New(c.ClientAddrs(), o)
}

// TestClusterCommandGeneratesSecret runs paxos cluster on a cluster file
// without authentication: it generates a secret in its data root, and paxos
// put/get find the client token there.
func TestClusterCommandGeneratesSecret(t *testing.T) {
	bin := binary(t)
	config, _ := writeClusterWith(t, "multi", 3, func(*node.Cluster) {})
	root := t.TempDir()
	cp := startClusterCmd(t, bin, "--config", config, "--data", root)
	cp.waitLine("generated the cluster secret")
	cp.waitLine("ready: client ports")
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"put", "--config", config, "--data", root, "greeting", "hello"}, &stdout, &stderr), stderr.String())
	stdout.Reset()
	require.Equal(t, exitOK, run([]string{"get", "--config", config, "--token-file", filepath.Join(root, "client.token"), "greeting"}, &stdout, &stderr), stderr.String())
	assert.Equal(t, "hello\n", stdout.String())
	// Without the token: refused with a message that says where it is.
	stderr.Reset()
	assert.Equal(t, exitUsage, run([]string{"get", "--config", config, "--data", t.TempDir(), "greeting"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "needs a client token")
	wrong := filepath.Join(t.TempDir(), "wrong.token")
	require.NoError(t, os.WriteFile(wrong, []byte("00112233\n"), 0o600))
	stderr.Reset()
	assert.Equal(t, exitFail, run([]string{"put", "--config", config, "--token-file", wrong, "--timeout", "1s", "greeting", "forged"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "authentication failed")
	require.NoError(t, cp.stop())
}

// TestCertsAndMutualTLSCluster makes certificates with paxos certs, runs a
// cluster on them and reads and writes with the client certificate.
func TestCertsAndMutualTLSCluster(t *testing.T) {
	bin := binary(t)
	plain, _ := writeClusterWith(t, "multi", 3, func(*node.Cluster) {})
	dir := filepath.Join(t.TempDir(), "certs")
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"certs", "--config", plain, "--out", dir}, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), `"tls"`)
	for _, f := range []string{"ca.pem", "ca.key", "replica-0.pem", "replica-2.key", "client-0.pem", "client-0.key"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	// A second run does not overwrite them.
	assert.Equal(t, exitFail, run([]string{"certs", "--config", plain, "--out", dir}, &stdout, &stderr))

	raw, err := os.ReadFile(plain)
	require.NoError(t, err)
	var c node.Cluster
	require.NoError(t, json.Unmarshal(raw, &c))
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	c.TLS = &node.TLSFiles{CA: filepath.Join(abs, "ca.pem"), Cert: filepath.Join(abs, "replica-{id}.pem"), Key: filepath.Join(abs, "replica-{id}.key"),
		ClientCert: filepath.Join(abs, "client-0.pem"), ClientKey: filepath.Join(abs, "client-0.key")}
	b, err := json.Marshal(&c)
	require.NoError(t, err)
	config := filepath.Join(t.TempDir(), "tls.json")
	require.NoError(t, os.WriteFile(config, b, 0o644))

	cp := startClusterCmd(t, bin, "--config", config, "--data", t.TempDir())
	cp.waitLine("ready: client ports")
	stdout.Reset()
	require.Equal(t, exitOK, run([]string{"put", "--config", config, "k", "over-tls"}, &stdout, &stderr), stderr.String())
	stdout.Reset()
	require.Equal(t, exitOK, run([]string{"get", "--config", config, "k"}, &stdout, &stderr), stderr.String())
	assert.Equal(t, "over-tls\n", stdout.String())
	require.NoError(t, cp.stop())
}
