package protocols_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	_ "github.com/paxos-lab/paxos/protocols"
	"github.com/paxos-lab/paxos/quorum"
)

// The catalog of planted bugs: at least fifteen, distinct names of the
// form protocol/short-name, each for a registered protocol, described, and
// each builds a replica at every size it lists (with the quorums its Needs
// name) and is refused, not a panic, on a configuration that cannot work.
func TestMutantCatalog(t *testing.T) {
	ms := paxos.Mutants()
	require.GreaterOrEqual(t, len(ms), 15)
	protocols := map[string]bool{}
	for _, p := range paxos.Protocols() {
		protocols[p] = true
	}
	seen := map[string]bool{}
	perProtocol := map[string]int{}
	for _, m := range ms {
		assert.False(t, seen[m.Name], "duplicate %s", m.Name)
		seen[m.Name] = true
		assert.True(t, protocols[m.Protocol], "%s: protocol %q is not registered", m.Name, m.Protocol)
		prefix := m.Protocol
		if m.App != "" {
			prefix = m.App
		}
		assert.True(t, strings.HasPrefix(m.Name, prefix+"/"), "%s: name must start with %s/", m.Name, prefix)
		assert.NotEmpty(t, m.Bug, m.Name)
		perProtocol[m.Protocol]++
		got, err := paxos.LookupMutant(m.Name)
		require.NoError(t, err)
		assert.Equal(t, m.Name, got.Name)

		sizes := m.Sizes
		if len(sizes) == 0 {
			sizes = []int{3, 5}
		}
		for _, n := range sizes {
			cfg := paxos.Config{N: n, InitialLeader: -1}
			if q1, q2, ok := needsQuorums(m.Needs); ok {
				qs, err := quorum.NewCounting(n, q1, q2)
				require.NoError(t, err, m.Name)
				cfg.Quorums = qs
			}
			if rows, cols, ok := needsGrid(m.Needs); ok {
				g, err := quorum.NewGrid(rows, cols)
				require.NoError(t, err, m.Name)
				cfg.Quorums = g
			}
			for id := 0; id < n; id++ {
				cfg.ID = paxos.NodeID(id)
				r, err := m.New(cfg)
				require.NoError(t, err, "%s n=%d", m.Name, n)
				assert.Equal(t, cfg.ID, r.ID())
			}
		}
		_, err = m.New(paxos.Config{N: 0})
		assert.Error(t, err, "%s: N=0 must be refused", m.Name)
	}
	for _, p := range []string{"basic", "multi", "flexible", "epaxos"} {
		assert.Positive(t, perProtocol[p], "no planted bug for %s", p)
	}
}

// needsQuorums reads the sizes of "--q1 A --q2 B" in a Needs string.
func needsQuorums(needs string) (q1, q2 int, ok bool) {
	f := strings.Fields(needs)
	for i := 0; i+3 < len(f); i++ {
		if f[i] == "--q1" && f[i+2] == "--q2" {
			a, err1 := strconv.Atoi(f[i+1])
			b, err2 := strconv.Atoi(f[i+3])
			return a, b, err1 == nil && err2 == nil
		}
	}
	return 0, 0, false
}

// needsGrid reads the sizes of "--grid RxC" in a Needs string.
func needsGrid(needs string) (rows, cols int, ok bool) {
	f := strings.Fields(needs)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "--grid" {
			_, err := fmt.Sscanf(f[i+1], "%dx%d", &rows, &cols)
			return rows, cols, err == nil
		}
	}
	return 0, 0, false
}
