package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/paxos-lab/paxos/internal/freeport"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/transport"
)

// procCluster is a cluster of replicas this process started as separate
// `paxos serve` processes (Spec.Serve) on loopback ports, each with its own
// data directory, as `paxos cluster` does.
type procCluster struct {
	cluster node.Cluster // what the cluster file says
	dir     string
	file    string // the cluster file
	addrs   []string
	cmds    []*exec.Cmd
	logs    []string
}

// startProcCluster writes a cluster file for the spec's replicas and starts
// them; it returns once every client port accepts connections.
func startProcCluster(ctx context.Context, s *Spec, proto string, seed uint64) (pc *procCluster, err error) {
	n := s.Replicas
	dir, err := os.MkdirTemp("", "paxos-bench-*")
	if err != nil {
		return nil, fmt.Errorf("bench: live mode needs a temporary directory for the replicas' data: %w", err)
	}
	pc = &procCluster{dir: dir}
	started := pc // the error returns below set pc to nil
	defer func() {
		if err != nil {
			started.stop()
		}
	}()
	ports, err := freeport.Loopback(2 * n)
	if err != nil {
		return nil, err
	}
	hb, el, rt := s.LiveTimeouts()
	leader := s.Leader
	cl := node.Cluster{Name: "bench", Protocol: proto, TickMS: int(s.Tick / time.Millisecond),
		Options: node.Options{Batch: s.Batch, Thrifty: s.Thrifty, HeartbeatTicks: hb, ElectionTicks: el, RetryTicks: rt,
			Leader: &leader, Seed: seed}}
	if takesQuorums(proto) && (s.Q1 > 0 || s.Q2 > 0) {
		cl.Options.Q1, cl.Options.Q2 = s.quorumQ1(), s.quorumQ2()
	}
	if name := s.RTTName; name != "" && name != "lan" && !strings.HasPrefix(name, "lan:") {
		if _, err := os.Stat(name); err == nil {
			name, _ = filepath.Abs(name)
		}
		cl.RTT = name
	}
	for i := 0; i < n; i++ {
		cl.Replicas = append(cl.Replicas, node.ReplicaAddrs{ID: i, Peer: ports[i], Client: ports[n+i]})
		pc.addrs = append(pc.addrs, ports[n+i])
	}
	// Refuse here what every replica would refuse (an RTT matrix of another
	// size, say) instead of waiting for them to come up.
	if _, err := cl.Matrix(); err != nil {
		return nil, fmt.Errorf("bench: %w; give --rtt a matrix with one site per replica, or --rtt lan", err)
	}
	// The replicas authenticate one another and the load generator with a
	// fresh cluster secret, as every cluster does by default.
	secret, err := transport.NewSecret()
	if err != nil {
		return nil, fmt.Errorf("bench: cluster secret: %w", err)
	}
	cl.SecretFile = filepath.Join(dir, "cluster.secret")
	if err := transport.WriteSecret(cl.SecretFile, secret); err != nil {
		return nil, fmt.Errorf("bench: cluster secret: %w", err)
	}
	pc.cluster = cl
	b, err := json.MarshalIndent(cl, "", "  ")
	if err != nil {
		return nil, err
	}
	pc.file = filepath.Join(dir, "cluster.json")
	if err := os.WriteFile(pc.file, b, 0o644); err != nil {
		return nil, fmt.Errorf("bench: write the cluster file: %w", err)
	}
	for i := 0; i < n; i++ {
		argv := append(append([]string(nil), s.Serve[1:]...), "--config", pc.file, "--id", strconv.Itoa(i),
			"--data", filepath.Join(dir, "replica-"+strconv.Itoa(i)), "--new", "--log-level", "warn")
		if s.LiveNoSync {
			argv = append(argv, "--no-sync")
		}
		if s.App == AppLockService {
			argv = append(argv, "--app", AppLockService)
		}
		cmd := exec.Command(s.Serve[0], argv...)
		logPath := filepath.Join(dir, fmt.Sprintf("replica-%d.log", i))
		lf, err := os.Create(logPath)
		if err != nil {
			return nil, fmt.Errorf("bench: replica %d's log: %w", i, err)
		}
		cmd.Stdout, cmd.Stderr = lf, lf
		err = cmd.Start()
		lf.Close()
		if err != nil {
			return nil, fmt.Errorf("bench: start replica %d (%s): %w", i, s.Serve[0], err)
		}
		pc.cmds = append(pc.cmds, cmd)
		pc.logs = append(pc.logs, logPath)
	}
	deadline := time.Now().Add(30 * time.Second)
	for i, a := range pc.addrs {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if time.Now().After(deadline) || exited(pc.cmds[i]) {
				return nil, fmt.Errorf("bench: replica %d did not accept clients on %s (its log: %s)", i, a, pc.tail(i))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return pc, nil
}

// exited reports whether cmd's process is gone.
func exited(cmd *exec.Cmd) bool {
	return cmd.Process.Signal(syscall.Signal(0)) != nil
}

// tail returns the last lines of replica i's log.
func (pc *procCluster) tail(i int) string {
	b, _ := os.ReadFile(pc.logs[i])
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], " | ")
}

// stop terminates the replicas (SIGTERM, then SIGKILL after 5 s) and
// removes their data.
func (pc *procCluster) stop() {
	for _, c := range pc.cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range pc.cmds {
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(pc.dir)
}

// cpu returns the CPU time (user + system) the replicas used so far, from
// /proc/<pid>/stat.
func (pc *procCluster) cpu() (time.Duration, error) {
	var total time.Duration
	for _, c := range pc.cmds {
		d, err := procCPU(c.Process.Pid)
		if err != nil {
			return 0, err
		}
		total += d
	}
	return total, nil
}

// peakRSS returns the largest peak resident set (VmHWM) of the replicas,
// in bytes.
func (pc *procCluster) peakRSS() (int64, error) {
	var peak int64
	for _, c := range pc.cmds {
		v, err := procHWM(c.Process.Pid)
		if err != nil {
			return 0, err
		}
		peak = max(peak, v)
	}
	return peak, nil
}

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// procCPU reads utime + stime of a process.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: CPU time of replica process %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; fields after it start
	// past the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: malformed /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("bench: malformed /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// procHWM reads VmHWM (peak resident set) of a process, in bytes.
func procHWM(pid int) (int64, error) {
	_, hwm, err := procMemory(pid)
	return hwm, err
}

// procMemory reads VmRSS (resident set now) and VmHWM (its peak) of a
// process, in bytes.
func procMemory(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("bench: memory of replica process %d: %w", pid, err)
	}
	defer f.Close()
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() && found < 2 {
		for _, field := range []struct {
			name string
			v    *int64
		}{{"VmRSS:", &rss}, {"VmHWM:", &hwm}} {
			rest, ok := strings.CutPrefix(sc.Text(), field.name)
			if !ok {
				continue
			}
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("bench: malformed %s of process %d: %w", field.name, pid, err)
			}
			*field.v = kb << 10
			found++
		}
	}
	if found < 2 {
		return 0, 0, fmt.Errorf("bench: no VmRSS or VmHWM for process %d", pid)
	}
	return rss, hwm, nil
}
