package replicatest

// What the view commands of a script print: messages, decisions,
// executions, commits and coverage counters.

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/paxos-lab/paxos"
)

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
