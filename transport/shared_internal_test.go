package transport

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/epaxos"
)

// bulky is a registered body large enough to be kept by sharedFrames.
type bulky struct {
	Cmds []paxos.Command
	Seq  uint64
}

// onePointer is a registered body an interface holds in its data word
// (a struct of one pointer), which sharedFrames must never share: what it
// points to can change in place.
type onePointer struct{ Cmds *[]paxos.Command }

func init() {
	paxos.Register("transport_internal_test.bulky", bulky{})
	paxos.Register("transport_internal_test.onePointer", onePointer{})
}

func bulkyCmds(n int, v string) []paxos.Command {
	cmds := make([]paxos.Command, n)
	for i := range cmds {
		cmds[i] = paxos.Command{Client: uint64(i + 1), Seq: 7, Op: paxos.OpPut, Key: strings.Repeat("k", i%9+1), Value: v}
	}
	return cmds
}

// TestSharedFramesMatchEncoding: one boxed body sent to several peers is
// encoded once, and every peer's bytes are exactly what
// paxos.AppendMessage writes for its Message; a different box of an equal
// value, a pointer body changed in place, a small body and another sender
// are encoded afresh, and an entry is dropped once sharedFramesLen later
// bodies were kept.
func TestSharedFramesMatchEncoding(t *testing.T) {
	var s sharedFrames
	check := func(m paxos.Message) []byte {
		t.Helper()
		want, err := paxos.AppendMessage([]byte{9, 9}, m)
		require.NoError(t, err)
		got, err := s.appendMessage([]byte{9, 9}, m)
		require.NoError(t, err)
		require.Equal(t, want, got)
		return got
	}
	kept := func() int {
		n := 0
		for i := range s.ents {
			if s.ents[i].body != nil {
				n++
			}
		}
		return n
	}
	var body any = bulky{Cmds: bulkyCmds(20, "0123456789abcdef"), Seq: 3}
	for to := paxos.NodeID(1); to < 5; to++ {
		check(paxos.Message{From: 0, To: to, Body: body})
	}
	assert.Equal(t, 1, kept(), "one body, encoded once")
	check(paxos.Message{From: 2, To: 1, Body: body}) // another sender: its own entry
	assert.Equal(t, 2, kept())
	check(paxos.Message{From: 0, To: 1, Body: bulky{Cmds: bulkyCmds(20, "0123456789abcdef"), Seq: 3}})
	assert.Equal(t, 3, kept(), "an equal value in another box is encoded afresh")

	cmds := bulkyCmds(20, "before")
	var p any = onePointer{Cmds: &cmds}
	check(paxos.Message{From: 0, To: 1, Body: p})
	cmds = bulkyCmds(20, "after, changed in place")
	check(paxos.Message{From: 0, To: 2, Body: p})
	check(paxos.Message{From: 0, To: 1, Body: bulky{Seq: 1}}) // below sharedMin
	assert.Equal(t, 3, kept(), "neither a pointer body nor a small one is kept")

	for i := 0; i < sharedFramesLen; i++ {
		check(paxos.Message{From: 0, To: 1, Body: bulky{Cmds: bulkyCmds(20, "x"), Seq: uint64(i)}})
	}
	for i := range s.ents {
		assert.NotEqual(t, s.ents[i].body, body, "the oldest entries make room")
	}
	check(paxos.Message{From: 0, To: 3, Body: body})
	assert.False(t, paxos.Readdress([]byte{0x94, 0xd2}, 1), "too short")
}

// BenchmarkBroadcastEncoding encodes an EPaxos PreAccept of 64 puts for
// four peers, as a command leader's writers do at N = 5: each encoding
// it (paxos.AppendMessage) or sharing one encoding (sharedFrames).
func BenchmarkBroadcastEncoding(b *testing.B) {
	var body any = epaxos.PreAccept{Ballot: epaxos.MakeBallot(0, 0), Inst: paxos.Instance{Replica: 0, Slot: 12345},
		Cmds: bulkyCmds(64, "0123456789abcdef"), Seq: 3, Deps: []uint64{12344, 9000, 9001, 9002, 9003}}
	for _, shared := range []bool{false, true} {
		name := "each"
		if shared {
			name = "shared"
		}
		b.Run(name, func(b *testing.B) {
			var s sharedFrames
			var frame []byte
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				for to := paxos.NodeID(1); to < 5; to++ {
					m := paxos.Message{From: 0, To: to, Body: body}
					var err error
					if shared {
						frame, err = s.appendMessage(frame[:0], m)
					} else {
						frame, err = paxos.AppendMessage(frame[:0], m)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if shared {
					s.ents[(s.next+sharedFramesLen-1)%sharedFramesLen].data = nil // the next round is a new body
				}
			}
		})
	}
}
