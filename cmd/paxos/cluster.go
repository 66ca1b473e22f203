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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/paxos-lab/paxos/node"
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
	protocol := fs.String("protocol", "", "override the cluster file's protocol")
	noSync := fs.Bool("no-sync", false, "pass --no-sync to the replicas (benchmarks only)")
	logLevel := fs.String("log-level", "info", "the replicas' log level")
	readyTimeout := fs.Duration("ready-timeout", 30*time.Second, "how long to wait for every client port to accept connections")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: paxos cluster --config cluster.json [--data DIR] [--fresh]")
		fmt.Fprintln(stderr, "Starts every replica as `paxos serve` child processes, prints \"ready\" when all client ports accept, and stops them all on Ctrl-C or SIGTERM.")
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
	exited := make(chan int, c.N())
	started := make(chan int, c.N()) // replicas that said they listen
	for i := range c.Replicas {
		dir := filepath.Join(root, "replica-"+strconv.Itoa(i))
		argv := []string{"serve", "--config", cfgPath, "--id", strconv.Itoa(i), "--data", dir, "--log-level", *logLevel}
		if *protocol != "" {
			argv = append(argv, "--protocol", *protocol)
		}
		if *noSync {
			argv = append(argv, "--no-sync")
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
		var pipes sync.WaitGroup
		pipes.Add(2)
		copyLines := func(r io.Reader) {
			defer pipes.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, serveReadyLine) {
					started <- i
				}
				outMu.Lock()
				fmt.Fprintf(stderr, "[r%d] %s\n", i, line)
				outMu.Unlock()
			}
		}
		go copyLines(outPipe)
		go copyLines(errPipe)
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

	ready := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), *readyTimeout)
	defer cancel()
	go func() { ready <- waitStarted(ctx, started, c.N(), c.ClientAddrs()) }()

	running := c.N()
	code := exitOK
	isReady, stopping := false, false
	for running > 0 {
		select {
		case err := <-ready:
			if stopping {
				continue
			}
			outMu.Lock()
			if err == nil && running < c.N() {
				err = fmt.Errorf("a replica exited during start-up (see its log above)")
			}
			if err != nil {
				fmt.Fprintf(stdout, "paxos cluster: NOT ready: %v\n", err)
				outMu.Unlock()
				stopping = true
				stopAll(procs, stderr)
				code = exitFail
				continue
			}
			isReady = true
			fmt.Fprintf(stdout, "paxos cluster: ready: client ports %s\n", strings.Join(c.ClientAddrs(), " "))
			fmt.Fprintf(stdout, "paxos cluster: try: paxos put --config %s hello world && paxos get --config %s hello\n", *config, *config)
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
			if !isReady && !stopping {
				outMu.Lock()
				fmt.Fprintf(stdout, "paxos cluster: NOT ready: replica %d exited during start-up (see its log above; are the ports in use?)\n", i)
				outMu.Unlock()
				stopping = true
				stopAll(procs, stderr)
				code = exitFail
			}
			err := procs[i].Wait()
			outMu.Lock()
			if err != nil {
				fmt.Fprintf(stdout, "paxos cluster: replica %d exited: %v\n", i, err)
				if isReady && !stopping {
					code = exitFail
				}
			} else {
				fmt.Fprintf(stdout, "paxos cluster: replica %d stopped\n", i)
			}
			outMu.Unlock()
		}
	}
	if !isReady {
		code = exitFail
	}
	fmt.Fprintln(stdout, "paxos cluster: all replicas stopped")
	return code
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

// waitStarted waits until n replicas said they listen and every address
// accepts a TCP connection.
func waitStarted(ctx context.Context, started <-chan int, n int, addrs []string) error {
	for seen := map[int]bool{}; len(seen) < n; {
		select {
		case i := <-started:
			seen[i] = true
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d replicas started: %w", len(seen), n, ctx.Err())
		}
	}
	return waitPorts(ctx, addrs)
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
