package protocols_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	_ "github.com/paxos-lab/paxos/protocols"
)

// Each protocol registers its capabilities next to its constructor; the
// drivers read them instead of naming protocols.
func TestProtocolCapabilities(t *testing.T) {
	want := map[string]paxos.ProtocolInfo{
		"basic":    {Rank: 1},
		"multi":    {Leader: true, Rank: 2},
		"flexible": {Quorums: true, Leader: true, Rank: 3},
		"epaxos":   {OddN: true, Rank: 4},
	}
	for name, w := range want {
		got, err := paxos.LookupProtocol(name)
		require.NoError(t, err)
		assert.NotNil(t, got.New, name)
		assert.Equal(t, [4]any{w.Quorums, w.OddN, w.Leader, w.Rank}, [4]any{got.Quorums, got.OddN, got.Leader, got.Rank}, name)
	}
	var order []string
	for _, p := range paxos.ProtocolInfos() {
		if _, ok := want[p.Name]; ok {
			order = append(order, p.Name)
		}
	}
	assert.Equal(t, []string{"basic", "multi", "flexible", "epaxos"}, order)
}
