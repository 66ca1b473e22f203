package paxos_test

import (
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/epaxos"
	"github.com/paxos-lab/paxos/multi"
)

// reflectEnvelope is the wire shape of a Message as the codec wrote it by
// reflection before the hand-written methods: the body marshalled on its
// own, then the envelope around it.
type reflectEnvelope struct {
	//lint:ignore U1000 msgpack reads the tag: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	From     paxos.NodeID
	To       paxos.NodeID
	Type     string
	Body     msgpack.RawMessage
}

func benchBodies() map[string]any {
	cmd := func(i int) paxos.Command {
		return paxos.Command{Client: 1<<40 + uint64(i), Seq: uint64(i), Op: paxos.OpPut, Key: "key-0000000001", Value: "0123456789abcdef"}
	}
	batch := make([]paxos.Command, 64)
	for i := range batch {
		batch[i] = cmd(i)
	}
	return map[string]any{
		"multi.Accept/1":        multi.Accept{Ballot: paxos.Ballot{Round: 3, Node: 1}, Slot: 1234567, Cmds: batch[:1]},
		"multi.Accept/64":       multi.Accept{Ballot: paxos.Ballot{Round: 3, Node: 1}, Slot: 1234567, Cmds: batch},
		"multi.Accepted":        multi.Accepted{Ballot: paxos.Ballot{Round: 3, Node: 1}, Slot: 1234567},
		"epaxos.PreAccept/1":    epaxos.PreAccept{Inst: paxos.Instance{Replica: 2, Slot: 99}, Cmds: batch[:1], Seq: 7, Deps: []uint64{3, 0, 98}},
		"epaxos.PreAcceptReply": epaxos.PreAcceptReply{Inst: paxos.Instance{Replica: 2, Slot: 99}, OK: true, Seq: 7, Deps: []uint64{3, 0, 98}},
	}
}

// BenchmarkCodec encodes and decodes one Message with the codec
// (hand-written methods) and, side by side, with msgpack's reflection on
// types of the same shape and tags (what the codec did before).
//
//	go test . -run '^$' -bench Codec -benchmem
func BenchmarkCodec(b *testing.B) {
	for name, body := range benchBodies() {
		m := paxos.Message{From: 1, To: 2, Body: body}
		b.Run("handwritten/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				data, err := paxos.EncodeMessage(m)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := paxos.DecodeMessage(data); err != nil {
					b.Fatal(err)
				}
			}
		})
		plain := toPlain(reflect.ValueOf(body))
		pt := plain.Type()
		tn := name
		b.Run("reflection/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				raw, err := msgpack.Marshal(plain.Interface())
				if err != nil {
					b.Fatal(err)
				}
				data, err := msgpack.Marshal(&reflectEnvelope{From: 1, To: 2, Type: tn, Body: raw})
				if err != nil {
					b.Fatal(err)
				}
				var env reflectEnvelope
				if err := msgpack.Unmarshal(data, &env); err != nil {
					b.Fatal(err)
				}
				p := reflect.New(pt)
				if err := msgpack.Unmarshal(env.Body, p.Interface()); err != nil {
					b.Fatal(err)
				}
				_ = p.Elem().Interface()
			}
		})
	}
}
