package archtest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/internal/archtest"
)

// goList runs `go list -json ./...` in dir and decodes its stream.
func goList(t *testing.T, dir string) (module string, pkgs []archtest.Package) {
	t.Helper()
	run := func(args ...string) []byte {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "go %s: %s", strings.Join(args, " "), stderr.String())
		return out
	}
	module = strings.TrimSpace(string(run("list", "-m")))
	dec := json.NewDecoder(bytes.NewReader(run("list", "-json", "./...")))
	for {
		var p archtest.Package
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pkgs = append(pkgs, p)
	}
	return module, pkgs
}

// The module keeps its shape: protocols are pure, drivers reach them only
// through the contract.
func TestModuleKeepsTheDependencyRule(t *testing.T) {
	module, pkgs := goList(t, "../..")
	protos, err := archtest.Protocols(module, pkgs)
	require.NoError(t, err)
	for _, p := range []string{"basic", "multi", "flexible", "epaxos"} {
		assert.Contains(t, protos, module+"/"+p, "discovered from protocols/protocols.go")
	}
	vs, err := archtest.Check(module, pkgs)
	require.NoError(t, err)
	for _, v := range vs {
		t.Error(v)
	}
}

// The checker fails on a module that breaks each rule: a protocol that
// imports time, starts a goroutine and draws from the global generator; a
// driver that imports a protocol; a library that registers the protocols.
// A well-behaved protocol and a command's registration import pass.
func TestCheckerCatchesABadModule(t *testing.T) {
	module, pkgs := goList(t, "testdata/badmod")
	require.Equal(t, "example.com/badmod", module)
	vs, err := archtest.Check(module, pkgs)
	require.NoError(t, err)
	var got []string
	for _, v := range vs {
		got = append(got, v.String())
	}
	all := strings.Join(got, "\n")
	assert.Contains(t, all, "example.com/badmod/fake: imports time")
	assert.Contains(t, all, "starts a goroutine")
	assert.Contains(t, all, "rand.Int64N draws from the global generator")
	assert.Contains(t, all, "example.com/badmod/sim: imports the protocol package example.com/badmod/good")
	assert.Contains(t, all, "example.com/badmod/lib: imports example.com/badmod/protocols")
	assert.NotContains(t, all, "example.com/badmod/good:", "a seeded generator and sort are fine")
	assert.NotContains(t, all, "cmd/tool", "a command may register the protocols")
	assert.Len(t, vs, 5, all)
}

// The same rule on a synthetic list: a protocol importing sync or net, and a
// raft protocol that may use etcd's raft library but not os.
func TestCheckerOnSyntheticLists(t *testing.T) {
	const m = "example.com/m"
	pkgs := []archtest.Package{
		{ImportPath: m + "/protocols", Imports: []string{m + "/a", m + "/raft"}},
		{ImportPath: m + "/a", Imports: []string{m, m + "/quorum", m + "/kv", "sync", "net"}},
		{ImportPath: m + "/raft", Imports: []string{m, "go.etcd.io/raft/v3", "go.etcd.io/raft/v3/raftpb", "os"}},
		{ImportPath: m + "/kv", Imports: []string{m, "sort", "time"}},
		{ImportPath: m + "/bench", Imports: []string{m, m + "/kv", "time"}},
	}
	vs, err := archtest.Check(m, pkgs)
	require.NoError(t, err)
	var got []string
	for _, v := range vs {
		got = append(got, v.Package+" "+strings.TrimSuffix(strings.Fields(v.Problem)[1], ";"))
	}
	assert.ElementsMatch(t, []string{
		m + "/a sync", m + "/a net", m + "/raft os", m + "/kv time",
	}, got)

	_, err = archtest.Check(m, pkgs[1:])
	assert.ErrorContains(t, err, "no package example.com/m/protocols")
}
