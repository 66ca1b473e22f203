// Package longtest decides whether the tests' long sweeps run. `go test
// ./...` runs every test, the long ones at a size that keeps the suite
// under a minute on two cores; CI (.ci/run) sets PAXOS_LONG_TESTS=1 and runs
// them at full size, so nothing is lost, only moved.
package longtest

import (
	"os"
	"testing"
)

// Env is the environment variable that turns the long sweeps on.
const Env = "PAXOS_LONG_TESTS"

// Enabled reports whether the long sweeps run: Env is 1 and -short is not
// given.
func Enabled() bool { return os.Getenv(Env) == "1" && !testing.Short() }

// Skip skips t unless the long sweeps run, saying what it skips and how
// to run it.
func Skip(t testing.TB, what string) {
	t.Helper()
	if !Enabled() {
		t.Skipf("%s; set %s=1 to run it (CI does)", what, Env)
	}
}

// Pick returns long when the long sweeps run and short otherwise.
func Pick[T any](short, long T) T {
	if Enabled() {
		return long
	}
	return short
}
