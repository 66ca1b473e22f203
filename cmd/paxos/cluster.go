package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

func init() {
	register("cluster", "start every replica of a cluster file as child processes on this machine", runCluster)
}

func runCluster(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("paxos cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "cluster file (JSON; see examples/cluster-3.json)")
	data := fs.String("data", "", "root of the replicas' data directories: DIR/replica-<id> (default ./data/<cluster name>)")
	fresh := fs.Bool("fresh", false, "delete the replicas' data directories first (start an empty cluster)")
	rebuildIDs := fs.String("rebuild", "", "comma-separated ids of replicas whose storage was lost or damaged: start them with paxos serve --rebuild")
	protocol := fs.String("protocol", "", "override the cluster file's protocol")
	noSync := fs.Bool("no-sync", false, "pass --no-sync to the replicas (benchmarks only)")
	app := fs.String("app", "kv", "pass --app to the replicas: kv or lockservice")
	logLevel := fs.String("log-level", "info", "the replicas' log level")
	readyTimeout := fs.Duration("ready-timeout", 30*time.Second, "how long to wait for every client port to accept connections")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: paxos cluster --config cluster.json [--data DIR] [--fresh] [--rebuild IDS]")
		fmt.Fprintln(stderr, "Starts every replica as `paxos serve` child processes, prints \"ready\" when all client ports accept, and stops them all on Ctrl-C or SIGTERM.")
		fmt.Fprintln(stderr, "A replica that fails to start is named with its exit status and last log lines; the others keep running.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *config == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	c, err := node.LoadCluster(*config)
	if err != nil {
		fmt.Fprintf(stderr, "paxos cluster: %v\n", err)
		return exitUsage
	}
	rebuild := map[int]bool{}
	for _, f := range strings.Split(*rebuildIDs, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := strconv.Atoi(f)
		if err != nil || id < 0 || id >= c.N() {
			fmt.Fprintf(stderr, "paxos cluster: --rebuild: %q is not a replica id in 0..%d\n", f, c.N()-1)
			return exitUsage
		}
		rebuild[id] = true
	}
	cfgPath, err := filepath.Abs(*config)
	if err != nil {
		fmt.Fprintf(stderr, "paxos cluster: %v\n", err)
		return exitFail
	}
	root := *data
	if root == "" {
		root = filepath.Join("data", c.Name)
	}
	if *fresh {
		if err := os.RemoveAll(root); err != nil {
			fmt.Fprintf(stderr, "paxos cluster: remove %s: %v\n", root, err)
			return exitFail
		}
	}
	// Authenticated out of the box: a cluster file with neither a secret
	// nor TLS (nor "insecure": true) gets a secret kept in the data root,
	// and the client token derived from it beside it for paxos put/get.
	var secretFile string
	if !c.Authenticated() && !c.Insecure {
		var created bool
		secretFile, created, err = ensureSecret(root)
		if err != nil {
			fmt.Fprintf(stderr, "paxos cluster: %v\n", err)
			return exitFail
		}
		verb := "using"
		if created {
			verb = "generated"
		}
		fmt.Fprintf(stdout, "paxos cluster: %s the cluster secret %s; clients prove the token in %s\n", verb, secretFile, filepath.Join(root, clientTokenName))
	}
	dirs := make([]string, c.N())
	for i := range dirs {
		dirs[i] = filepath.Join(root, "replica-"+strconv.Itoa(i))
	}
	// A new cluster is one none of whose replicas ever stored anything:
	// only then may they start on empty directories (paxos serve --new). An
	// empty directory beside used ones is a replica that lost its storage;
	// paxos serve refuses it and we point to --rebuild.
	newCluster, err := isNewCluster(dirs)
	if err != nil {
		fmt.Fprintf(stderr, "paxos cluster: %v\n", err)
		return exitFail
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "paxos cluster: find this program to start replicas: %v\n", err)
		return exitFail
	}
	// Signals are caught from now on so that no child outlives us.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	var outMu sync.Mutex
	procs := make([]*exec.Cmd, c.N())
	tails := make([]*lineTail, c.N())
	exited := make(chan int, c.N())
	started := make(chan int, c.N()) // replicas that said they listen
	for i := range c.Replicas {
		argv := []string{"serve", "--config", cfgPath, "--id", strconv.Itoa(i), "--data", dirs[i], "--log-level", *logLevel}
		if *protocol != "" {
			argv = append(argv, "--protocol", *protocol)
		}
		if *noSync {
			argv = append(argv, "--no-sync")
		}
		if *app != "kv" {
			argv = append(argv, "--app", *app)
		}
		if secretFile != "" {
			argv = append(argv, "--secret-file", secretFile)
		}
		if rebuild[i] {
			argv = append(argv, "--rebuild")
		} else if newCluster {
			argv = append(argv, "--new")
		}
		cmd := exec.Command(exe, argv...)
		cmd.SysProcAttr = childAttr()
		errPipe, err := cmd.StderrPipe()
		var outPipe io.ReadCloser
		if err == nil {
			outPipe, err = cmd.StdoutPipe()
		}
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			fmt.Fprintf(stderr, "paxos cluster: start replica %d: %v\n", i, err)
			stopAll(procs, stderr)
			return exitFail
		}
		procs[i] = cmd
		tails[i] = &lineTail{max: 8}
		var pipes sync.WaitGroup
		pipes.Add(2)
		copyLines := func(r io.Reader, keep bool) {
			defer pipes.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, serveReadyLine) {
					started <- i
				}
				if keep {
					tails[i].add(line)
				}
				outMu.Lock()
				fmt.Fprintf(stderr, "[r%d] %s\n", i, line)
				outMu.Unlock()
			}
		}
		go copyLines(outPipe, false)
		go copyLines(errPipe, true)
		go func() {
			// The replica has exited once its output ends; Wait must
			// follow the pipes' last reads.
			pipes.Wait()
			exited <- i
		}()
	}
	outMu.Lock()
	fmt.Fprintf(stdout, "paxos cluster: started %d replicas of %s (pids %s); data under %s\n", c.N(), protoName(c, *protocol), pids(procs), root)
	outMu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), *readyTimeout)
	defer cancel()
	ready := make(chan error, 1)
	listening := map[int]bool{}
	failed := map[int]bool{} // exited before the cluster was ready
	checking := false
	// checkPorts runs once every replica either said it listens or
	// failed: the listening ones' client ports must accept connections.
	checkPorts := func() {
		if checking || len(listening)+len(failed) < c.N() || len(listening) == 0 {
			return
		}
		checking = true
		var addrs []string
		for i := range c.Replicas {
			if listening[i] {
				addrs = append(addrs, c.Replicas[i].Client)
			}
		}
		go func() { ready <- waitPorts(ctx, addrs) }()
	}
	timeout := ctx.Done()

	running := c.N()
	code := exitOK
	isReady, stopping := false, false
	notReady := func(format string, a ...any) {
		outMu.Lock()
		fmt.Fprintf(stdout, "paxos cluster: NOT ready: "+format+"\n", a...)
		outMu.Unlock()
		stopping = true
		stopAll(procs, stderr)
		code = exitFail
	}
	for running > 0 {
		select {
		case i := <-started:
			listening[i] = true
			checkPorts()
		case <-timeout:
			timeout = nil
			if !isReady && !stopping && !checking {
				notReady("only %d of %d replicas started within --ready-timeout %v", len(listening), c.N(), *readyTimeout)
			}
		case err := <-ready:
			if stopping {
				continue
			}
			if err != nil {
				notReady("%v", err)
				continue
			}
			isReady = true
			outMu.Lock()
			if len(failed) > 0 {
				fmt.Fprintf(stdout, "paxos cluster: ready without replica(s) %s (see above): client ports %s\n", idList(failed), strings.Join(c.ClientAddrs(), " "))
				code = exitFail
			} else {
				fmt.Fprintf(stdout, "paxos cluster: ready: client ports %s\n", strings.Join(c.ClientAddrs(), " "))
			}
			dataFlag := ""
			if *data != "" {
				dataFlag = " --data " + *data
			}
			fmt.Fprintf(stdout, "paxos cluster: try: paxos put --config %s%s hello world && paxos get --config %s%s hello\n", *config, dataFlag, *config, dataFlag)
			fmt.Fprintln(stdout, "paxos cluster: press Ctrl-C to stop")
			outMu.Unlock()
		case sig := <-sigs:
			outMu.Lock()
			fmt.Fprintf(stdout, "paxos cluster: %v: stopping the replicas\n", sig)
			outMu.Unlock()
			stopping = true
			stopAll(procs, stderr)
		case i := <-exited:
			running--
			err := procs[i].Wait()
			if stopping {
				outMu.Lock()
				if err != nil {
					fmt.Fprintf(stdout, "paxos cluster: replica %d exited: %v\n", i, err)
				} else {
					fmt.Fprintf(stdout, "paxos cluster: replica %d stopped\n", i)
				}
				outMu.Unlock()
				continue
			}
			// A replica ended on its own: name it, say why, keep the
			// others running.
			if !isReady {
				failed[i] = true
			}
			code = exitFail
			outMu.Lock()
			reportExit(stdout, i, err, tails[i].lines(), *config, dirs[i], isReady)
			outMu.Unlock()
			if !isReady {
				if len(failed) == c.N() {
					notReady("every replica exited during start-up (see above; are the ports in use?)")
					continue
				}
				checkPorts()
			}
		}
	}
	if !isReady {
		code = exitFail
	}
	fmt.Fprintln(stdout, "paxos cluster: all replicas stopped")
	return code
}

// Names of the files paxos cluster keeps in its data root for a cluster
// file without authentication of its own.
const (
	secretName      = "cluster.secret"
	clientTokenName = "client.token"
)

// ensureSecret returns root's cluster secret file, creating the secret and
// the client token file when there is none; created says it did.
func ensureSecret(root string) (path string, created bool, err error) {
	path, err = filepath.Abs(filepath.Join(root, secretName))
	if err != nil {
		return "", false, err
	}
	secret, err := transport.LoadSecret(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return "", false, err
		}
		if err := os.MkdirAll(root, 0o700); err != nil {
			return "", false, fmt.Errorf("create %s: %w", root, err)
		}
		if secret, err = transport.NewSecret(); err != nil {
			return "", false, err
		}
		if err := transport.WriteSecret(path, secret); err != nil {
			return "", false, err
		}
		created = true
	}
	token := filepath.Join(root, clientTokenName)
	if err := os.WriteFile(token, []byte(transport.ClientToken(secret)+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("write client token: %w", err)
	}
	return path, created, nil
}

// isNewCluster reports whether no replica directory holds an identity or
// any record (a cluster that never ran, or whose data was deleted whole).
func isNewCluster(dirs []string) (bool, error) {
	for _, d := range dirs {
		id, err := storage.ReadIdentity(d)
		if err != nil {
			return false, nil // damaged: not new; paxos serve says why
		}
		has, err := storage.HasState(d)
		if err != nil {
			return false, err
		}
		if id != nil || has {
			return false, nil
		}
	}
	return true, nil
}

// reportExit tells which replica exited on its own, with its exit status and
// the last lines of its log, and what to do when it refused lost storage.
func reportExit(w io.Writer, i int, err error, tail []string, config, dir string, ready bool) {
	status := "exit status 0"
	code := 0
	if err != nil {
		status = err.Error()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
	}
	when := "during start-up"
	if ready {
		when = "while serving"
	}
	fmt.Fprintf(w, "paxos cluster: replica %d exited %s (%s); the other replicas keep running\n", i, when, status)
	if len(tail) > 0 {
		fmt.Fprintf(w, "paxos cluster: last lines of replica %d's log:\n", i)
		for _, l := range tail {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	lost := code == exitLostStorage
	for _, l := range tail {
		lost = lost || strings.Contains(l, "--rebuild")
	}
	if lost {
		fmt.Fprintf(w, "paxos cluster: replica %d refused its data directory %s: its storage was lost or damaged, and it must not vote on it. Rebuild it from the other replicas (its old files are moved aside, not deleted): in another shell run\n", i, dir)
		fmt.Fprintf(w, "    paxos serve --config %s --id %d --data %s --rebuild\n", config, i, dir)
		fmt.Fprintf(w, "paxos cluster: or restart the whole cluster with: paxos cluster --config %s --rebuild %d\n", config, i)
	}
}

func idList(ids map[int]bool) string {
	var out []string
	for i := range ids {
		out = append(out, strconv.Itoa(i))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// lineTail keeps the last max lines written to it.
type lineTail struct {
	mu  sync.Mutex
	max int
	buf []string
}

func (t *lineTail) add(l string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, l)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
}

func (t *lineTail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.buf...)
}

func protoName(c *node.Cluster, override string) string {
	if override != "" {
		return override
	}
	return c.Protocol
}

func pids(procs []*exec.Cmd) string {
	var out []string
	for _, p := range procs {
		if p != nil && p.Process != nil {
			out = append(out, strconv.Itoa(p.Process.Pid))
		}
	}
	return strings.Join(out, ",")
}

// stopAll sends SIGTERM to every replica still running, and SIGKILL to any
// still running 15 seconds later.
func stopAll(procs []*exec.Cmd, stderr io.Writer) {
	for _, p := range procs {
		if p != nil && p.Process != nil {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
	}
	go func() {
		time.Sleep(15 * time.Second)
		for i, p := range procs {
			if p != nil && p.Process != nil && p.Process.Signal(syscall.Signal(0)) == nil {
				fmt.Fprintf(stderr, "paxos cluster: replica %d did not stop in 15s; killing it\n", i)
				_ = p.Process.Kill()
			}
		}
	}()
}

// waitPorts waits until every address accepts a TCP connection.
func waitPorts(ctx context.Context, addrs []string) error {
	for _, a := range addrs {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("client port %s does not accept connections: %w", a, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}
