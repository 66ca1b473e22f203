package replicatest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/paxos-lab/paxos"
)

var rewrite = flag.Bool("rewrite", false, "replicatest: rewrite the expected output blocks of the scripts run")

// A script is a text file of commands, one a line, run in order against a
// Cluster. A command followed by a line "----" has its output compared
// with the lines after it, up to the next blank line; other commands'
// output is not checked (a command that fails still fails the script).
// Lines starting with '#' are comments. The first command builds the
// cluster:
//
//	cluster protocol=epaxos n=5 [mutant=NAME] [seed=7] [retry=5] [batch=1] [window=N] [leader=0|-1] [election=10] [thrifty]
//
// Then, with i a replica id, F a message filter "[TYPE] [FROM->TO]" (TYPE
// a codec name with or without the protocol prefix, or !TYPE for every
// other type; FROM and TO an id, ids joined by commas, or '*'; both parts
// may be left out: every message):
//
//	propose i put KEY VALUE [id=C.S]   propose a command (client C, seq S;
//	propose i get KEY [id=C.S]         by default a new client, seq 1)
//	deliver F                          deliver matching messages, and those sent meanwhile that match
//	drop F                             lose the matching queued messages
//	duplicate F                        queue a second copy of each matching queued message
//	lose F                             lose every matching message, queued or sent until heal
//	heal                               stop losing messages
//	tick i|* [xK]                      tick (K times); sent messages are queued
//	settle [xK]                        K rounds (default 50) of: deliver all, tick all
//	crash i / restart i                stop a replica / rebuild it from what it persisted
//	queue                              print the queued messages
//	decided [(R,S)]                    print decisions and who learned them
//	executed [i]                       print what replicas executed, in order
//	committed                          print commit reports (with their path)
//	check                              print the checker's invariant violations, or ok
//	coverage i                         print the replica's coverage counters (paxos.CoverageReporter)
//
// and the commands of Options.Commands.
//
// Every script ends with the invariants checked: a violation fails it
// unless its last command is a check whose expected output shows it.
//
// Scripts runs every file that glob matches as a subtest.
func Scripts(t *testing.T, glob string, o Options) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("replicatest: no scripts match %q (%v)", glob, err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)), func(t *testing.T) {
			Script(t, f, o)
		})
	}
}

// Options adapt scripts to one protocol's tests.
type Options struct {
	// New, when set, builds the replicas instead of the protocol (or
	// mutant) the script's cluster line names.
	New paxos.Constructor
	// Commands adds commands of the test's own, such as one that reaches
	// into a replica's internals. Each gets the cluster and the words
	// after its name and returns its output.
	Commands map[string]func(c *Cluster, args []string) (string, error)
}

// Script runs one script file; with -rewrite it writes the actual output
// into the file's expected blocks instead of comparing.
func Script(t *testing.T, path string, o Options) {
	t.Helper()
	res, err := Replay(path, o)
	if err != nil {
		t.Fatal(err)
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(res.Rewritten), 0o644); err != nil {
			t.Fatal(err)
		}
		if res.Failed != "" {
			t.Error(res.Failed)
		}
		return
	}
	for _, d := range res.Diffs {
		t.Error(d)
	}
	if res.Failed != "" {
		t.Error(res.Failed)
	}
}

// Result is what a replay found.
type Result struct {
	// Diffs describe each output block that differs from the expected text.
	Diffs []string
	// Failed says why the script failed apart from its output: a command
	// that failed without an expected block, or invariants violated at the
	// end. Empty when none.
	Failed string
	// Rewritten is the script with every expected block replaced by the
	// actual output.
	Rewritten string
}

// OK reports whether the script passed.
func (r Result) OK() bool { return len(r.Diffs) == 0 && r.Failed == "" }

type step struct {
	line       int // 0-based index of the command line
	text       string
	hasBlock   bool
	blockStart int // index of the first expected line
	blockEnd   int // index past the last expected line
}

func parse(lines []string) ([]step, error) {
	var out []step
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		s := step{line: i, text: l}
		if i+1 < len(lines) && strings.TrimSpace(lines[i+1]) == "----" {
			s.hasBlock = true
			s.blockStart = i + 2
			j := s.blockStart
			for j < len(lines) && strings.TrimSpace(lines[j]) != "" {
				if strings.TrimSpace(lines[j]) == "----" {
					return nil, fmt.Errorf("line %d: \"----\" inside the expected output of line %d: end each output block with a blank line", j+1, i+1)
				}
				j++
			}
			s.blockEnd = j
			i = j
		}
		out = append(out, s)
	}
	return out, nil
}

// Replay runs the script at path and returns what it found; err is for a
// file that cannot be read or has no cluster line first.
func Replay(path string, o Options) (Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Result{}, fmt.Errorf("replicatest: read the script: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	steps, err := parse(lines)
	if err != nil {
		return Result{}, fmt.Errorf("replicatest: %s: %w", path, err)
	}
	if len(steps) == 0 || !strings.HasPrefix(steps[0].text, "cluster") {
		return Result{}, fmt.Errorf("replicatest: %s: the first command must be \"cluster protocol=NAME n=N\"", path)
	}
	r := &runner{o: o}
	var res Result
	actual := make([][]string, len(steps))
	lastCheck := false
	for k, s := range steps {
		out, err := r.exec(s.text)
		if err != nil {
			out = "error: " + err.Error()
			if !s.hasBlock {
				res.Failed = fmt.Sprintf("%s:%d: %s: %v", path, s.line+1, s.text, err)
			}
		}
		if out == "" {
			out = "ok"
		}
		out = strings.Join(trimAll(strings.Split(out, "\n")), "\n")
		actual[k] = strings.Split(out, "\n")
		if s.hasBlock {
			want := strings.Join(trimAll(lines[s.blockStart:s.blockEnd]), "\n")
			if want != out {
				res.Diffs = append(res.Diffs, fmt.Sprintf("%s:%d: %s\nwant:\n%s\ngot:\n%s", path, s.line+1, s.text, want, out))
			}
		}
		lastCheck = s.text == "check"
		if res.Failed != "" || r.c == nil && k == 0 {
			break
		}
	}
	if res.Failed == "" && r.c != nil && !lastCheck {
		if vs := r.c.Invariants(); len(vs) > 0 {
			res.Failed = fmt.Sprintf("%s: invariants violated at the end:\n%s", path, strings.Join(vs, "\n"))
		}
	}
	// Rewrite: replace each block (or add none where there was none).
	var b strings.Builder
	next := 0
	for k, s := range steps {
		if !s.hasBlock {
			continue
		}
		for _, l := range lines[next:s.blockStart] {
			b.WriteString(l + "\n")
		}
		if actual[k] != nil {
			for _, l := range actual[k] {
				b.WriteString(l + "\n")
			}
		} else {
			for _, l := range lines[s.blockStart:s.blockEnd] {
				b.WriteString(l + "\n")
			}
		}
		next = s.blockEnd
	}
	for _, l := range lines[next:] {
		b.WriteString(l + "\n")
	}
	res.Rewritten = b.String()
	return res, nil
}

func trimAll(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = strings.TrimRight(l, " \t")
	}
	return out
}

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
	case "crash", "restart":
		if len(args) != 1 {
			return "", fmt.Errorf("usage: %s REPLICA", cmd)
		}
		i, err := r.replica(args[0])
		if err != nil {
			return "", err
		}
		if cmd == "crash" {
			r.c.Crash(i)
		} else {
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
		case "n", "seed", "retry", "batch", "window", "leader", "election":
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

func (r *runner) list(ms []paxos.Message) string {
	if len(ms) == 0 {
		return "none"
	}
	lines := make([]string, len(ms))
	for k, m := range ms {
		lines[k] = fmt.Sprintf("%d->%d %s", m.From, m.To, r.types.Name(m))
	}
	return strings.Join(lines, "\n")
}

// Cmd renders a command in scripts' output: "1.1 put k=v", "2.1 get k",
// "nop".
func Cmd(c paxos.Command) string {
	switch c.Op {
	case paxos.OpNop:
		return "nop"
	case paxos.OpPut:
		return fmt.Sprintf("%d.%d put %s=%s", c.Client, c.Seq, c.Key, c.Value)
	case paxos.OpGet:
		return fmt.Sprintf("%d.%d get %s", c.Client, c.Seq, c.Key)
	}
	return fmt.Sprintf("%d.%d %s", c.Client, c.Seq, c.Op)
}

func decisionText(d paxos.Decision) string {
	cmds := make([]string, len(d.Commands))
	for k, c := range d.Commands {
		cmds[k] = Cmd(c)
	}
	s := strings.Join(cmds, ", ")
	if d.Seq != 0 || d.Deps != nil {
		s += fmt.Sprintf(" seq=%d deps=%v", d.Seq, d.Deps)
	}
	return s
}

func parseInstance(s string) (paxos.Instance, error) {
	in := strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
	a, b, ok := strings.Cut(in, ",")
	rep, err1 := strconv.Atoi(a)
	slot, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return paxos.Instance{}, fmt.Errorf("bad instance %q: want (REPLICA,SLOT)", s)
	}
	return paxos.Instance{Replica: paxos.NodeID(rep), Slot: slot}, nil
}

// decided prints, per instance, each value learned and by which replica
// (incarnation order: a restarted replica that learned it again counts
// once).
func (r *runner) decided(args []string) (string, error) {
	var only *paxos.Instance
	if len(args) == 1 {
		in, err := parseInstance(args[0])
		if err != nil {
			return "", err
		}
		only = &in
	} else if len(args) > 1 {
		return "", errors.New("usage: decided [(REPLICA,SLOT)]")
	}
	type value struct {
		text string
		who  map[paxos.NodeID]bool
	}
	byInst := map[paxos.Instance][]*value{}
	for _, l := range r.c.Learned {
		in := l.Decision.Instance
		if only != nil && in != *only {
			continue
		}
		text := decisionText(l.Decision)
		var v *value
		for _, x := range byInst[in] {
			if x.text == text {
				v = x
			}
		}
		if v == nil {
			v = &value{text: text, who: map[paxos.NodeID]bool{}}
			byInst[in] = append(byInst[in], v)
		}
		v.who[l.Replica] = true
	}
	insts := make([]paxos.Instance, 0, len(byInst))
	for in := range byInst {
		insts = append(insts, in)
	}
	sort.Slice(insts, func(i, j int) bool {
		a, b := insts[i], insts[j]
		return a.Replica < b.Replica || a.Replica == b.Replica && a.Slot < b.Slot
	})
	var lines []string
	for _, in := range insts {
		for _, v := range byInst[in] {
			ids := make([]int, 0, len(v.who))
			for id := range v.who {
				ids = append(ids, int(id))
			}
			sort.Ints(ids)
			lines = append(lines, fmt.Sprintf("(%d,%d) %s at %s", in.Replica, in.Slot, v.text, strings.Trim(fmt.Sprint(ids), "[]")))
		}
	}
	if len(lines) == 0 {
		return "none", nil
	}
	return strings.Join(lines, "\n"), nil
}

func (r *runner) executed(args []string) (string, error) {
	ids := make([]int, 0, r.c.N())
	if len(args) == 1 {
		i, err := r.replica(args[0])
		if err != nil {
			return "", err
		}
		ids = append(ids, i)
	} else {
		for i := 0; i < r.c.N(); i++ {
			ids = append(ids, i)
		}
	}
	var lines []string
	for _, i := range ids {
		var cmds []string
		for _, e := range r.c.Executed[i] {
			if e.Command.IsNop() {
				continue
			}
			s := Cmd(e.Command)
			if e.Command.Op == paxos.OpGet {
				s += fmt.Sprintf("=%q", e.Output)
			}
			if e.Duplicate {
				s += " (duplicate)"
			}
			cmds = append(cmds, s)
		}
		state := ""
		if !r.c.Up[i] {
			state = " (down)"
		}
		if len(cmds) == 0 {
			cmds = []string{"none"}
		}
		lines = append(lines, fmt.Sprintf("%d%s: %s", i, state, strings.Join(cmds, ", ")))
	}
	return strings.Join(lines, "\n"), nil
}

func (r *runner) committed() string {
	var lines []string
	for i, cs := range r.c.Committed {
		if len(cs) == 0 {
			continue
		}
		parts := make([]string, len(cs))
		for k, c := range cs {
			parts[k] = fmt.Sprintf("%d.%d %s", c.ID.Client, c.ID.Seq, c.Path)
		}
		lines = append(lines, fmt.Sprintf("%d: %s", i, strings.Join(parts, ", ")))
	}
	if len(lines) == 0 {
		return "none"
	}
	return strings.Join(lines, "\n")
}

func (r *runner) coverage(args []string) (string, error) {
	if len(args) != 1 {
		return "", errors.New("usage: coverage REPLICA")
	}
	i, err := r.replica(args[0])
	if err != nil {
		return "", err
	}
	cr, ok := r.c.Replica(i).(paxos.CoverageReporter)
	if !ok {
		return "", fmt.Errorf("replica %d counts no coverage events", i)
	}
	var lines []string
	for k, v := range cr.Coverage() {
		lines = append(lines, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		return "none", nil
	}
	return strings.Join(lines, " "), nil
}

// Instance parses "(R,S)" for commands of a test's own.
func Instance(s string) (paxos.Instance, error) { return parseInstance(s) }
