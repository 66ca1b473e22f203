package replicatest

// The commands a script runs (see Scripts).

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/paxos-lab/paxos"
)

// runner holds a script's state between commands.
type runner struct {
	o      Options
	c      *Cluster
	types  *Types
	client uint64
	loses  []Filter
}

// exec runs one command and returns its output.
func (r *runner) exec(line string) (out string, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, ok := p.(*Failure)
			if !ok {
				panic(p)
			}
			err = errors.New(f.Msg)
		}
	}()
	words := strings.Fields(line)
	cmd, args := words[0], words[1:]
	if cmd == "cluster" {
		return "", r.cluster(args)
	}
	if r.c == nil {
		return "", errors.New("no cluster yet: start with \"cluster protocol=NAME n=N\"")
	}
	switch cmd {
	case "propose":
		return "", r.propose(args)
	case "deliver":
		f, err := r.filter(args)
		if err != nil {
			return "", err
		}
		var seen []paxos.Message
		r.c.deliver(f, func(m paxos.Message) { seen = append(seen, m) })
		return r.list(seen), nil
	case "drop", "duplicate":
		f, err := r.filter(args)
		if err != nil {
			return "", err
		}
		if cmd == "drop" {
			return r.list(r.c.Drop(f)), nil
		}
		return r.list(r.c.Duplicate(f)), nil
	case "lose":
		f, err := r.filter(args)
		if err != nil {
			return "", err
		}
		r.loses = append(r.loses, f)
		r.c.Lose = Or(r.loses...)
		return r.list(r.c.Drop(f)), nil
	case "heal":
		r.loses, r.c.Lose = nil, nil
		return "", nil
	case "tick":
		return "", r.tick(args)
	case "settle":
		k, rest, err := times(args, 50)
		if err != nil || len(rest) > 0 {
			return "", fmt.Errorf("usage: settle [xK] (%v)", err)
		}
		r.c.Settle(nil, k)
		return "", nil
	case "crash", "restart", "wipe":
		if len(args) != 1 {
			return "", fmt.Errorf("usage: %s REPLICA", cmd)
		}
		i, err := r.replica(args[0])
		if err != nil {
			return "", err
		}
		switch cmd {
		case "crash":
			r.c.Crash(i)
		case "wipe":
			r.c.Wipe(i)
		default:
			r.c.Restart(i)
		}
		return "", nil
	case "queue":
		return r.list(r.c.Queue), nil
	case "decided":
		return r.decided(args)
	case "executed":
		return r.executed(args)
	case "committed":
		return r.committed(), nil
	case "check":
		return strings.Join(r.c.Invariants(), "\n"), nil
	case "coverage":
		return r.coverage(args)
	}
	if f, ok := r.o.Commands[cmd]; ok {
		return f(r.c, args)
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

func (r *runner) cluster(args []string) error {
	if r.c != nil {
		return errors.New("the cluster is already built")
	}
	cfg := paxos.Config{Seed: 7, RetryTicks: 5, InitialLeader: 0}
	var protocol, mutant string
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "protocol":
			protocol = v
		case "mutant":
			mutant = v
		case "thrifty":
			cfg.Thrifty = true
		case "n", "seed", "retry", "batch", "window", "leader", "election", "snapshot":
			var x int
			x, err = strconv.Atoi(v)
			switch k {
			case "n":
				cfg.N = x
			case "seed":
				cfg.Seed = uint64(x)
			case "retry":
				cfg.RetryTicks = x
			case "batch":
				cfg.Batch = x
			case "window":
				cfg.Window = x
			case "leader":
				cfg.InitialLeader = paxos.NodeID(x)
			case "election":
				cfg.ElectionTicks = x
			case "snapshot":
				cfg.SnapshotEvery = x
			}
		default:
			err = errors.New("unknown setting")
		}
		if err != nil {
			return fmt.Errorf("cluster: %s: %w", a, err)
		}
	}
	if cfg.N < 1 {
		return errors.New("cluster: give the number of replicas, n=N")
	}
	newReplica := r.o.New
	switch {
	case newReplica != nil:
	case mutant != "":
		m, err := paxos.LookupMutant(mutant)
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		newReplica = m.New
	case protocol != "":
		if _, err := paxos.LookupProtocol(protocol); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		p := protocol
		newReplica = func(cfg paxos.Config) (paxos.Replica, error) { return paxos.New(p, cfg) }
	default:
		return errors.New("cluster: name the protocol=NAME (or mutant=NAME)")
	}
	r.c = New(nil, newReplica, cfg)
	r.c.Tolerate = true // the invariants report conflicts
	r.types = NewTypes(PrefixOf(r.c.Replica(0)))
	return nil
}

func (r *runner) replica(s string) (int, error) {
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i >= r.c.N() {
		return 0, fmt.Errorf("no replica %q (0..%d)", s, r.c.N()-1)
	}
	return i, nil
}

func (r *runner) propose(args []string) error {
	if len(args) < 3 {
		return errors.New("usage: propose REPLICA put KEY VALUE | get KEY [id=C.S]")
	}
	i, err := r.replica(args[0])
	if err != nil {
		return err
	}
	var cmd paxos.Command
	rest := args[3:]
	switch args[1] {
	case "put":
		if len(args) < 4 {
			return errors.New("usage: propose REPLICA put KEY VALUE")
		}
		cmd = paxos.Command{Op: paxos.OpPut, Key: args[2], Value: args[3]}
		rest = args[4:]
	case "get":
		cmd = paxos.Command{Op: paxos.OpGet, Key: args[2]}
	default:
		return fmt.Errorf("propose: unknown operation %q (put or get)", args[1])
	}
	r.client++
	cmd.Client, cmd.Seq = r.client, 1
	for _, a := range rest {
		v, ok := strings.CutPrefix(a, "id=")
		cs, ss, ok2 := strings.Cut(v, ".")
		c, err1 := strconv.ParseUint(cs, 10, 64)
		s, err2 := strconv.ParseUint(ss, 10, 64)
		if !ok || !ok2 || err1 != nil || err2 != nil {
			return fmt.Errorf("propose: %q: want id=CLIENT.SEQ", a)
		}
		cmd.Client, cmd.Seq = c, s
		r.client = max(r.client, c)
	}
	r.c.Propose(i, cmd)
	return nil
}

// filter parses "[TYPE] [FROM->TO]".
func (r *runner) filter(args []string) (Filter, error) {
	fs := []Filter{}
	for _, a := range args {
		if from, to, ok := strings.Cut(a, "->"); ok {
			for _, e := range []struct {
				s    string
				make func(...int) Filter
			}{{from, From}, {to, To}} {
				if e.s == "*" || e.s == "" {
					continue
				}
				var ids []int
				for _, x := range strings.Split(e.s, ",") {
					i, err := r.replica(x)
					if err != nil {
						return nil, err
					}
					ids = append(ids, i)
				}
				fs = append(fs, e.make(ids...))
			}
			continue
		}
		name, neg := strings.CutPrefix(a, "!")
		f, err := r.types.Named(name)
		if err != nil {
			return nil, err
		}
		if neg {
			f = Not(f)
		}
		fs = append(fs, f)
	}
	return And(fs...), nil
}

// times splits a trailing "xK" off args.
func times(args []string, def int) (int, []string, error) {
	if n := len(args); n > 0 && strings.HasPrefix(args[n-1], "x") {
		k, err := strconv.Atoi(args[n-1][1:])
		if err != nil || k < 0 {
			return 0, nil, fmt.Errorf("bad count %q", args[n-1])
		}
		return k, args[:n-1], nil
	}
	return def, args, nil
}

func (r *runner) tick(args []string) error {
	k, rest, err := times(args, 1)
	if err != nil || len(rest) != 1 {
		return fmt.Errorf("usage: tick REPLICA|* [xK] (%v)", err)
	}
	if rest[0] == "*" {
		r.c.TickAll(k)
		return nil
	}
	i, err := r.replica(rest[0])
	if err != nil {
		return err
	}
	r.c.Tick(i, k)
	return nil
}
