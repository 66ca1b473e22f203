package replicatest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
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
//	cluster protocol=epaxos n=5 [mutant=NAME] [seed=7] [retry=5] [batch=1] [window=N] [leader=0|-1] [election=10] [snapshot=K] [thrifty]
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
//	wipe i                             lose its disk: restart it empty with Config.Rebuild
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
