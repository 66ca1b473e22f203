package paxos_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// Capabilities registered next to the constructor come back by name, order
// default comparisons, and say which sizes a protocol refuses; the old
// RegisterProtocol still works and means "no capability".
func TestProtocolInfo(t *testing.T) {
	build := func(c paxos.Config) (paxos.Replica, error) { return fixedID{c.ID}, nil }
	paxos.RegisterProtocolInfo("infotest-odd", paxos.ProtocolInfo{New: build, OddN: true, Leader: true, Rank: 1000})
	paxos.RegisterProtocol("infotest-plain", build)

	odd, err := paxos.LookupProtocol("infotest-odd")
	require.NoError(t, err)
	assert.Equal(t, "infotest-odd", odd.Name)
	assert.True(t, odd.OddN && odd.Leader && !odd.Quorums)
	assert.NoError(t, odd.Fits(5))
	err = odd.Fits(4)
	require.ErrorIs(t, err, paxos.ErrConfig)
	assert.Contains(t, err.Error(), "infotest-odd: needs an odd number of replicas, not 4")
	assert.ErrorIs(t, odd.Fits(0), paxos.ErrConfig)

	plain, err := paxos.LookupProtocol("infotest-plain")
	require.NoError(t, err)
	assert.NoError(t, plain.Fits(4))
	r, err := paxos.New("infotest-plain", paxos.Config{ID: 2, N: 3})
	require.NoError(t, err)
	assert.Equal(t, paxos.NodeID(2), r.ID())

	_, err = paxos.LookupProtocol("infotest-none")
	assert.ErrorContains(t, err, "unknown protocol")

	var order []string
	for _, p := range paxos.ProtocolInfos() {
		order = append(order, p.Name)
	}
	iOdd, iPlain := -1, -1
	for i, n := range order {
		switch n {
		case "infotest-odd":
			iOdd = i
		case "infotest-plain":
			iPlain = i
		}
	}
	assert.Less(t, iOdd, iPlain, "ranked protocols come before unranked ones: %v", order)

	assert.Panics(t, func() { paxos.RegisterProtocolInfo("infotest-nil", paxos.ProtocolInfo{}) })
	assert.Panics(t, func() { paxos.RegisterProtocolInfo("infotest-odd", paxos.ProtocolInfo{New: build}) })
}
