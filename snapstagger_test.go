package paxos_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/paxos-lab/paxos"
)

// Staggered replicas delay their first snapshot by distinct shares of the
// interval, the initial leader last; without StaggerSnapshots, or with no
// interval, nothing is delayed.
func TestSnapshotDelay(t *testing.T) {
	delays := func(n int, leader paxos.NodeID, every int, stagger bool) []int {
		var d []int
		for id := range n {
			d = append(d, paxos.Config{ID: paxos.NodeID(id), N: n, InitialLeader: leader, StaggerSnapshots: stagger}.SnapshotDelay(every))
		}
		return d
	}
	assert.Equal(t, []int{666, 0, 333}, delays(3, 0, 1000, true), "leader 0 last, then 1, 2 in id order after it")
	assert.Equal(t, []int{0, 2000, 4000, 6000, 8000}, delays(5, 4, 10000, true))
	assert.Equal(t, []int{6000, 8000, 0, 2000, 4000}, delays(5, 1, 10000, true))
	assert.Equal(t, []int{0, 333, 666}, delays(3, -1, 1000, true), "no initial leader: by id")
	assert.Equal(t, []int{0, 0, 0}, delays(3, 0, 1000, false), "off")
	assert.Equal(t, []int{0, 0, 0}, delays(3, 0, 0, true), "never snapshots")
	assert.Equal(t, []int{0}, delays(1, 0, 1000, true), "a single replica")
}
