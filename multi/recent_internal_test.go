package multi

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

func roundTrip(t *testing.T, body any) any {
	t.Helper()
	b, err := paxos.AppendMessage(nil, paxos.Message{From: 0, To: 1, Body: body})
	require.NoError(t, err)
	m, err := paxos.DecodeMessage(b)
	require.NoError(t, err)
	return m.Body
}

func batch(value string, n int) []paxos.Command {
	cmds := make([]paxos.Command, n)
	for i := range cmds {
		cmds[i] = paxos.Command{Client: uint64(i + 1), Seq: 3, Op: paxos.OpPut, Key: "k" + string(rune('a'+i)), Value: value}
	}
	return cmds
}

// TestCommitTakesTheAcceptsDecodedCommands: a Commit whose commands are
// byte for byte those of the Accept decoded for its slot shares that
// Accept's decoded commands; any other Commit (other commands, another
// slot on the same entry, a value too large to remember) decodes its own,
// and every decoded value equals what was encoded.
func TestCommitTakesTheAcceptsDecodedCommands(t *testing.T) {
	b := Ballot{Round: 4, Node: 0}
	const slot = 1_000_003
	a := roundTrip(t, Accept{Ballot: b, Slot: slot, Cmds: batch("v", 20)}).(Accept)
	require.Equal(t, batch("v", 20), a.Cmds)

	c := roundTrip(t, Commit{Ballot: b, Slot: slot, Cmds: batch("v", 20)}).(Commit)
	require.Equal(t, batch("v", 20), c.Cmds)
	require.Same(t, &a.Cmds[0], &c.Cmds[0], "the Accept's decoded commands are taken")
	require.Equal(t, b, c.Ballot)
	require.Equal(t, uint64(slot), c.Slot)

	other := roundTrip(t, Commit{Ballot: b, Slot: slot, Cmds: batch("w", 20)}).(Commit)
	require.Equal(t, batch("w", 20), other.Cmds)
	require.NotSame(t, &a.Cmds[0], &other.Cmds[0])

	fewer := roundTrip(t, Commit{Ballot: b, Slot: slot, Cmds: batch("v", 19)}).(Commit)
	require.Equal(t, batch("v", 19), fewer.Cmds)
	require.NotSame(t, &a.Cmds[0], &fewer.Cmds[0])

	alias := roundTrip(t, Commit{Ballot: b, Slot: slot + recentSlots, Cmds: batch("v", 20)}).(Commit)
	require.Equal(t, batch("v", 20), alias.Cmds)
	require.NotSame(t, &a.Cmds[0], &alias.Cmds[0], "another slot on the same entry decodes its own")

	empty := roundTrip(t, Commit{Ballot: b, Slot: slot}).(Commit)
	require.Nil(t, empty.Cmds)

	big := batch(string(make([]byte, 200)), 100) // over recentMax encoded
	ab := roundTrip(t, Accept{Ballot: b, Slot: slot + 1, Cmds: big}).(Accept)
	cb := roundTrip(t, Commit{Ballot: b, Slot: slot + 1, Cmds: big}).(Commit)
	require.Equal(t, big, cb.Cmds)
	require.NotSame(t, &ab.Cmds[0], &cb.Cmds[0])
}
