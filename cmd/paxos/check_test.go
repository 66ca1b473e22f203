package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckPassesAndEndsWithSummary(t *testing.T) {
	code, out, _ := runCLI("check", "--protocol", "basic", "--replicas", "3", "--seeds", "5", "--ops", "60")
	require.Equal(t, exitOK, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Equal(t, "5 passed, 0 failed", lines[len(lines)-1])
}

func TestCheckPrintsCoverage(t *testing.T) {
	code, out, _ := runCLI("check", "--protocol", "multi", "--replicas", "3", "--seeds", "2", "--ops", "40", "--faults", "recovery", "-v")
	require.Equal(t, exitOK, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Contains(t, lines[0], "coverage: catchups=")
	assert.Contains(t, lines[0], "elections=")
	assert.True(t, strings.HasPrefix(lines[2], "coverage multi n=3, 2 runs: "), lines[2])
	assert.Equal(t, "2 passed, 0 failed", lines[3])
}

func TestCheckUsageErrors(t *testing.T) {
	cases := map[string][]string{
		"unknown protocol": {"check", "--protocol", "zab"},
		"bad faults":       {"check", "--faults", "crash,meteor"},
		"zero replicas":    {"check", "--replicas", "0"},
		"zero seeds":       {"check", "--seeds", "0"},
		"unsafe quorums":   {"check", "--protocol", "basic", "--replicas", "5", "--q1", "2", "--q2", "2"},
		"q1 without q2":    {"check", "--q1", "3"},
		"bad grid":         {"check", "--grid", "2by3"},
		"grid size":        {"check", "--grid", "2x2", "--replicas", "5"},
		"conflict range":   {"check", "--conflict", "150"},
		"unknown flag":     {"check", "--no-such-flag"},
		"stray argument":   {"check", "extra"},
		"unknown command":  {"frobnicate"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runCLI(args...)
			assert.Equal(t, exitUsage, code)
			assert.NotEmpty(t, stderr, "a usage error must say what is wrong")
		})
	}
}

func TestCheckUnsafeQuorumErrorNamesSizes(t *testing.T) {
	_, _, stderr := runCLI("check", "--protocol", "basic", "--replicas", "5", "--q1", "2", "--q2", "2")
	assert.Contains(t, stderr, "q1=2")
	assert.Contains(t, stderr, "q2=2")
}

func TestCheckHistoryFilesAreDeterministic(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	for _, d := range dirs {
		code, out, _ := runCLI("check", "--protocol", "basic", "--replicas", "3", "--seeds", "2", "--seed-start", "11", "--ops", "40", "--history-dir", d)
		require.Equal(t, exitOK, code, out)
	}
	for _, name := range []string{"basic-n3-s11.jsonl", "basic-n3-s12.jsonl"} {
		a, err := os.ReadFile(filepath.Join(dirs[0], name))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(dirs[1], name))
		require.NoError(t, err)
		assert.NotEmpty(t, a)
		assert.Equal(t, a, b, name)
	}
	code, out, _ := runCLI(append([]string{"lincheck"}, filepath.Join(dirs[0], "basic-n3-s11.jsonl"), filepath.Join(dirs[0], "basic-n3-s12.jsonl"))...)
	assert.Equal(t, exitOK, code, out)
}

func TestLincheckRejectsStaleRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(`{"client":1,"op":"put","key":"x","value":"a","output":"","call":0,"return":10}
{"client":1,"op":"put","key":"x","value":"b","output":"","call":20,"return":30}
{"client":2,"op":"get","key":"x","value":"","output":"a","call":40,"return":50}
`), 0o644))
	code, out, _ := runCLI("lincheck", path)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, out, "0 passed, 1 failed")
}

// A size one protocol cannot run: named alone, refused at once; with
// --protocol all, skipped and said so on stderr and in the summary.
func TestCheckSkipsWhatCannotRun(t *testing.T) {
	code, _, stderr := runCmd("check", "--protocol", "epaxos", "--replicas", "4", "--seeds", "1")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "epaxos: needs an odd number of replicas, not 4")

	code, stdout, stderr := runCmd("check", "--protocol", "all", "--replicas", "2", "--seeds", "1", "--ops", "10", "--faults", "none")
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "skipping epaxos: needs an odd number of replicas")
	assert.Contains(t, stdout, "skipped epaxos (cannot run with 2 replicas)")
}

// Progress on a non-terminal: a plain line at most every period, none for a
// short run.
func TestCounterPrintsPlainLinesNowAndThen(t *testing.T) {
	var b bytes.Buffer
	c := newCounter(&b, "seeds", 4)
	now := c.start
	c.nowFunc = func() time.Time { return now }
	c.step("multi seed 1")
	assert.Empty(t, b.String(), "nothing in the first period")
	now = now.Add(6 * time.Second)
	c.step("multi seed 2")
	now = now.Add(time.Second)
	c.step("multi seed 3")
	c.finish()
	assert.Equal(t, "2/4 seeds, multi seed 2 (6s)\n", b.String())
}

// --codec: every protocol's messages, records and snapshots survive the
// codec, and the replay command keeps the flag.
func TestCheckCodecRoundTrip(t *testing.T) {
	code, stdout, stderr := runCmd("check", "--protocol", "all", "--replicas", "3", "--seeds", "2", "--ops", "40", "--codec")
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, fmt.Sprintf("%d passed, 0 failed", 2*len(paxos.Protocols())), "two seeds of every protocol")
	assert.Contains(t, replayCommand(checkFlags{codec: true}, "multi", 1), "--codec")
}

func TestCheckTraceWritesEventLogWithMessageContents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.log")
	code, out, _ := runCLI("check", "--protocol", "basic", "--replicas", "3", "--seeds", "1", "--seed-start", "11", "--ops", "20", "--trace", path)
	require.Equal(t, exitOK, code, out)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(b)
	assert.True(t, strings.HasPrefix(text, "# basic n=3 seed=11\n"), text[:min(len(text), 80)])
	assert.Contains(t, text, " deliver ")            // the simulator's event log
	assert.Contains(t, text, "\tsend ")              // each step's messages, with contents
	assert.Contains(t, text, "basic.Prepare {Slot:") // message contents
	code, _, stderr := runCLI("check", "--protocol", "basic", "--seeds", "1", "--trace", filepath.Join(path, "no", "such"))
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--trace")
}
