package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// Every planted bug runs under `paxos check --mutant` at each of its sizes,
// with the flags it needs.
func TestCheckMutantRunsEveryPlantedBug(t *testing.T) {
	for _, m := range paxos.Mutants() {
		for _, n := range mutantSizes(m) {
			code, out, stderr := runCLI("check", "--mutant", m.Name, "--replicas", strconv.Itoa(n), "--seeds", "1", "--ops", "20")
			require.Contains(t, []int{exitOK, exitFail}, code, "%s n=%d: %s", m.Name, n, stderr)
			assert.Contains(t, out, "passed,", m.Name)
			if code == exitFail {
				assert.Contains(t, out, "--mutant "+m.Name, "the replay command names the mutant")
			}
		}
	}
}

func TestCheckMutantListAndErrors(t *testing.T) {
	code, out, _ := runCLI("check", "--mutant", "list")
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "multi/lease-never-expires")
	assert.Contains(t, out, "--lease 6")

	code, _, stderr := runCLI("check", "--mutant", "multi/no-such-bug")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "unknown mutant")

	code, _, stderr = runCLI("check", "--protocol", "basic", "--mutant", "multi/promise-not-persisted")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "breaks protocol multi")
}

// The catalog run prints a kill table and exits 0 when every selected bug
// is caught, 1 when one survives (without crashes, a missing persist
// cannot show), and 2 on a usage error.
func TestMutantsKillTable(t *testing.T) {
	code, out, stderr := runCLI("mutants", "--only", "multi/phase2-quorum-minus-one", "--replicas", "3", "--seeds", "50")
	require.Equal(t, exitOK, code, out+stderr)
	assert.Contains(t, out, "bug")
	assert.Contains(t, out, "seeds needed")
	assert.Regexp(t, `multi/phase2-quorum-minus-one\s+multi\s+3\s+\d+\s`, out)
	assert.Contains(t, out, "1 of 1 caught")

	code, out, _ = runCLI("mutants", "--only", "multi/promise-not-persisted", "--replicas", "3", "--seeds", "3", "--faults", "none")
	assert.Equal(t, exitFail, code, out)
	assert.Regexp(t, `multi/promise-not-persisted\s+multi\s+3\s+SURVIVED`, out)

	code, _, stderr = runCLI("mutants", "--only", "nothing/here")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "names no planted bug")

	code, out, _ = runCLI("mutants", "--only", "multi/", "--skip", "multi/", "--seeds", "1")
	assert.Equal(t, exitUsage, code, out)
}

// paxos mutants reports on stderr how many runs finished, how many were
// caught, and which bug is running at which seed.
func TestMutantsProgress(t *testing.T) {
	defer func(p time.Duration) { progressPeriod = p }(progressPeriod)
	progressPeriod = 0 // a line at every step
	code, out, stderr := runCLI("mutants", "--only", "multi/promise-not-persisted", "--replicas", "3", "--seeds", "2", "--faults", "none")
	assert.Equal(t, exitFail, code, out)
	assert.Contains(t, stderr, "1/1 runs, 0 caught, 1 survived (")
	assert.NotContains(t, out, "1/1 runs", "progress goes to stderr only")
}
