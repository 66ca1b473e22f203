package paxos_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// TestBuildRefusesBadConstructors: a constructor that returns neither a
// replica nor an error, or a replica with another ID, is refused with an
// error wrapping ErrConfig; an unknown protocol name says so.
func TestBuildRefusesBadConstructors(t *testing.T) {
	cfg := paxos.Config{ID: 1, N: 3}
	_, err := paxos.Build("", func(paxos.Config) (paxos.Replica, error) { return nil, nil }, cfg)
	require.ErrorIs(t, err, paxos.ErrConfig)
	assert.Contains(t, err.Error(), "no replica")

	_, err = paxos.Build("", func(c paxos.Config) (paxos.Replica, error) {
		c.ID = 2
		return fixedID{c.ID}, nil
	}, cfg)
	require.ErrorIs(t, err, paxos.ErrConfig)
	assert.Contains(t, err.Error(), "reports ID 2")

	_, err = paxos.Build("no-such-protocol", nil, cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown protocol")

	r, err := paxos.Build("", func(c paxos.Config) (paxos.Replica, error) { return fixedID{c.ID}, nil }, cfg)
	require.NoError(t, err)
	assert.Equal(t, paxos.NodeID(1), r.ID())
}

// fixedID is a replica that does nothing but report its ID.
type fixedID struct{ id paxos.NodeID }

func (f fixedID) ID() paxos.NodeID       { return f.id }
func (fixedID) Propose(paxos.Command)    {}
func (fixedID) Step(paxos.Message) error { return nil }
func (fixedID) Tick()                    {}
func (fixedID) Ready() paxos.Ready       { return paxos.Ready{} }
