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
		// Own process group: a terminal's Ctrl-C reaches only us, and we
		// stop the replicas in order.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		pipe, err := cmd.StderrPipe()
		if err == nil {
			cmd.Stdout = cmd.Stderr
			err = cmd.Start()
		}
		if err != nil {
			fmt.Fprintf(stderr, "paxos cluster: start replica %d: %v\n", i, err)
			stopAll(procs, stderr)
			return exitFail
		}
		procs[i] = cmd
		go func(i int, r io.Reader) {
			// The replica has exited once its output ends; Wait must
			// follow the pipe's last read.
			defer func() { exited <- i }()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				outMu.Lock()
				fmt.Fprintf(stderr, "[r%d] %s\n", i, sc.Text())
				outMu.Unlock()
			}
		}(i, pipe)
	}
	outMu.Lock()
	fmt.Fprintf(stdout, "paxos cluster: started %d replicas of %s (pids %s); data under %s\n", c.N(), protoName(c, *protocol), pids(procs), root)
	outMu.Unlock()

	ready := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), *readyTimeout)
	defer cancel()
	go func() { ready <- waitPorts(ctx, c.ClientAddrs()) }()

	running := c.N()
	code := exitOK
	for running > 0 {
		select {
		case err := <-ready:
			outMu.Lock()
			if err != nil {
				fmt.Fprintf(stdout, "paxos cluster: NOT ready: %v\n", err)
				outMu.Unlock()
				stopAll(procs, stderr)
				code = exitFail
				continue
			}
			fmt.Fprintf(stdout, "paxos cluster: ready: client ports %s\n", strings.Join(c.ClientAddrs(), " "))
			fmt.Fprintf(stdout, "paxos cluster: try: paxos put --config %s hello world && paxos get --config %s hello\n", *config, *config)
			fmt.Fprintln(stdout, "paxos cluster: press Ctrl-C to stop")
			outMu.Unlock()
		case sig := <-sigs:
			outMu.Lock()
			fmt.Fprintf(stdout, "paxos cluster: %v: stopping the replicas\n", sig)
			outMu.Unlock()
			stopAll(procs, stderr)
		case i := <-exited:
			running--
			err := procs[i].Wait()
			outMu.Lock()
			if err != nil {
				fmt.Fprintf(stdout, "paxos cluster: replica %d exited: %v\n", i, err)
			} else {
				fmt.Fprintf(stdout, "paxos cluster: replica %d stopped\n", i)
			}
			outMu.Unlock()
		}
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
