package epaxos

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// flush leads a full batch in place, in the waiting list's own array: the
// instance's commands must stay what was proposed while later proposals
// fill the list (after a full drain, and with commands left waiting behind
// a full window), and an instance's array must end at its last command, so
// that nothing appended to the list or to the instance writes into the
// other.
func TestFlushInPlaceKeepsInstanceCommands(t *testing.T) {
	const batch, total = 4, 26
	nw := newNet(t, 3, func(c *paxos.Config) { c.Batch, c.Window = batch, 2 })
	r := nw.rep(0)
	var proposed []paxos.Command
	for s := uint64(1); s <= total; s++ {
		c := put(1, s, fmt.Sprintf("k%d", s), fmt.Sprintf("v%d", s))
		proposed = append(proposed, c)
		nw.Propose(0, c)
	}
	// Nothing in flight: the first command went alone; the next four
	// filled a batch; the window (two) holds the rest.
	require.Equal(t, 2, r.Stats().InFlight)
	require.Equal(t, total-1-batch, r.Stats().Waiting)
	in := r.inst[0][2]
	require.NotNil(t, in)
	assert.Equal(t, proposed[1:1+batch], in.cmds, "the batch led in place, after the proposals behind it")
	assert.Equal(t, len(in.cmds), cap(in.cmds), "the instance's array ends at its last command")

	nw.Deliver(nil)
	led := 0
	for _, in := range r.inst[0] {
		if in != nil && len(in.cmds) > 0 {
			led++
			assert.Equal(t, len(in.cmds), cap(in.cmds), "slot %d: the array ends at its last command", in.id.Slot)
		}
	}
	assert.Greater(t, led, 4, "the instances led from a longer waiting list are still here")
	assert.Len(t, nw.AllCommitted(), total)
	assert.Zero(t, r.Stats().Waiting)
	for id := paxos.NodeID(0); id < 3; id++ {
		var got []paxos.Command
		for _, e := range nw.Executed[id] {
			got = append(got, e.Command)
		}
		assert.ElementsMatch(t, proposed, got, "replica %d executed each command once, as proposed", id)
	}
}
