package epaxos

import (
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
)

// Hand-written msgpack methods for the messages and records on the hot path
// (see the root package's codec_wire.go): the same bytes as reflection
// writes for the struct tags, without reflection.

// attrs points at the fields most messages share: ballot, instance,
// commands, seq and deps, under the keys "b", "i", "c", "q" and "d".
type attrs struct {
	ballot *Ballot
	inst   *paxos.Instance
	cmds   *[]paxos.Command
	seq    *uint64
	deps   *[]uint64
}

// decode decodes key's value into the field it names, if any.
func (a attrs) decode(d *msgpack.Decoder, key string) (bool, error) {
	var err error
	switch {
	case key == "b" && a.ballot != nil:
		var b uint64
		b, err = d.DecodeUint64()
		*a.ballot = Ballot(b)
	case key == "i" && a.inst != nil:
		err = a.inst.DecodeMsgpack(d)
	case key == "c" && a.cmds != nil:
		*a.cmds, err = paxos.DecodeCommands(d)
	case key == "q" && a.seq != nil:
		*a.seq, err = d.DecodeUint64()
	case key == "d" && a.deps != nil:
		*a.deps, err = paxos.DecodeUint64s(d)
	default:
		return false, nil
	}
	return true, err
}

// encodeProposal writes the shape of PreAccept, Accept and TryPreAccept.
func encodeProposal(e *msgpack.Encoder, b Ballot, inst paxos.Instance, cmds []paxos.Command, seq uint64, deps []uint64) error {
	_ = e.EncodeMapLen(5)
	_ = e.EncodeString("b")
	_ = e.EncodeUint64(uint64(b))
	_ = e.EncodeString("i")
	_ = inst.EncodeMsgpack(e)
	_ = e.EncodeString("c")
	_ = paxos.EncodeCommands(e, cmds)
	_ = e.EncodeString("q")
	_ = e.EncodeUint64(seq)
	_ = e.EncodeString("d")
	return paxos.EncodeUint64s(e, deps)
}

func decodeAttrs(d *msgpack.Decoder, a attrs) error {
	return paxos.DecodeFields(d, a.decode)
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m PreAccept) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeProposal(e, m.Ballot, m.Inst, m.Cmds, m.Seq, m.Deps)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *PreAccept) DecodeMsgpack(d *msgpack.Decoder) error {
	return decodeAttrs(d, attrs{&m.Ballot, &m.Inst, &m.Cmds, &m.Seq, &m.Deps})
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m Accept) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeProposal(e, m.Ballot, m.Inst, m.Cmds, m.Seq, m.Deps)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *Accept) DecodeMsgpack(d *msgpack.Decoder) error {
	return decodeAttrs(d, attrs{&m.Ballot, &m.Inst, &m.Cmds, &m.Seq, &m.Deps})
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m TryPreAccept) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeProposal(e, m.Ballot, m.Inst, m.Cmds, m.Seq, m.Deps)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *TryPreAccept) DecodeMsgpack(d *msgpack.Decoder) error {
	return decodeAttrs(d, attrs{&m.Ballot, &m.Inst, &m.Cmds, &m.Seq, &m.Deps})
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m Commit) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = e.EncodeMapLen(4)
	_ = e.EncodeString("i")
	_ = m.Inst.EncodeMsgpack(e)
	_ = e.EncodeString("c")
	_ = paxos.EncodeCommands(e, m.Cmds)
	_ = e.EncodeString("q")
	_ = e.EncodeUint64(m.Seq)
	_ = e.EncodeString("d")
	return paxos.EncodeUint64s(e, m.Deps)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *Commit) DecodeMsgpack(d *msgpack.Decoder) error {
	return decodeAttrs(d, attrs{nil, &m.Inst, &m.Cmds, &m.Seq, &m.Deps})
}

// encodeValue writes the fields that end the replies and the record:
// commands (left out when empty), seq and deps (left out when empty if
// omitDeps).
func encodeValue(e *msgpack.Encoder, cmds []paxos.Command, seq uint64, deps []uint64, omitDeps bool) error {
	if len(cmds) > 0 {
		_ = e.EncodeString("c")
		_ = paxos.EncodeCommands(e, cmds)
	}
	_ = e.EncodeString("q")
	if err := e.EncodeUint64(seq); err != nil || (omitDeps && len(deps) == 0) {
		return err
	}
	_ = e.EncodeString("d")
	return paxos.EncodeUint64s(e, deps)
}

// encodeBool writes key and v.
func encodeBool(e *msgpack.Encoder, key string, v bool) {
	_ = e.EncodeString(key)
	_ = e.EncodeBool(v)
}

// decodeFlag decodes a bool field named key into *v when the key matches.
func decodeFlag(d *msgpack.Decoder, key string, name string, v *bool) (bool, error) {
	if key != name {
		return false, nil
	}
	var err error
	*v, err = d.DecodeBool()
	return true, err
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m PreAcceptReply) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = paxos.EncodeMapHeader(e, 8, len(m.Cmds) == 0)
	_ = e.EncodeString("b")
	_ = e.EncodeUint64(uint64(m.Ballot))
	_ = e.EncodeString("i")
	_ = m.Inst.EncodeMsgpack(e)
	encodeBool(e, "o", m.OK)
	encodeBool(e, "x", m.Changed)
	encodeBool(e, "k", m.Committed)
	return encodeValue(e, m.Cmds, m.Seq, m.Deps, false)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *PreAcceptReply) DecodeMsgpack(d *msgpack.Decoder) error {
	a := attrs{&m.Ballot, &m.Inst, &m.Cmds, &m.Seq, &m.Deps}
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		for _, f := range [...]struct {
			name string
			v    *bool
		}{{"o", &m.OK}, {"x", &m.Changed}, {"k", &m.Committed}} {
			if ok, err := decodeFlag(d, key, f.name, f.v); ok {
				return ok, err
			}
		}
		return a.decode(d, key)
	})
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m AcceptReply) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = paxos.EncodeMapHeader(e, 7, len(m.Cmds) == 0, len(m.Deps) == 0)
	_ = e.EncodeString("b")
	_ = e.EncodeUint64(uint64(m.Ballot))
	_ = e.EncodeString("i")
	_ = m.Inst.EncodeMsgpack(e)
	encodeBool(e, "o", m.OK)
	encodeBool(e, "k", m.Committed)
	return encodeValue(e, m.Cmds, m.Seq, m.Deps, true)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *AcceptReply) DecodeMsgpack(d *msgpack.Decoder) error {
	a := attrs{&m.Ballot, &m.Inst, &m.Cmds, &m.Seq, &m.Deps}
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		if ok, err := decodeFlag(d, key, "o", &m.OK); ok {
			return ok, err
		}
		if ok, err := decodeFlag(d, key, "k", &m.Committed); ok {
			return ok, err
		}
		return a.decode(d, key)
	})
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (r InstanceRecord) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = paxos.EncodeMapHeader(e, 9, len(r.Cmds) == 0, len(r.Deps) == 0, !r.Same)
	_ = e.EncodeString("i")
	_ = r.Inst.EncodeMsgpack(e)
	_ = e.EncodeString("s")
	_ = e.EncodeUint8(uint8(r.Status))
	_ = e.EncodeString("b")
	_ = e.EncodeUint64(uint64(r.Ballot))
	_ = e.EncodeString("v")
	_ = e.EncodeUint64(uint64(r.VBallot))
	encodeBool(e, "g", r.Orig)
	if err := encodeValue(e, r.Cmds, r.Seq, r.Deps, true); err != nil || !r.Same {
		return err
	}
	encodeBool(e, "sm", true)
	return nil
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (r *InstanceRecord) DecodeMsgpack(d *msgpack.Decoder) error {
	a := attrs{&r.Ballot, &r.Inst, &r.Cmds, &r.Seq, &r.Deps}
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		var err error
		switch key {
		case "s":
			var s uint8
			s, err = d.DecodeUint8()
			r.Status = Status(s)
		case "v":
			var b uint64
			b, err = d.DecodeUint64()
			r.VBallot = Ballot(b)
		case "g":
			r.Orig, err = d.DecodeBool()
		case "sm":
			r.Same, err = d.DecodeBool()
		default:
			return a.decode(d, key)
		}
		return true, err
	})
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m Watermark) EncodeMsgpack(e *msgpack.Encoder) error {
	if len(m.Seen) == 0 {
		_ = e.EncodeMapLen(1)
	} else {
		_ = e.EncodeMapLen(2)
	}
	_ = e.EncodeString("e")
	if err := paxos.EncodeUint64s(e, m.Executed); err != nil || len(m.Seen) == 0 {
		return err
	}
	_ = e.EncodeString("s")
	return paxos.EncodeUint64s(e, m.Seen)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *Watermark) DecodeMsgpack(d *msgpack.Decoder) error {
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		var err error
		switch key {
		case "e":
			m.Executed, err = paxos.DecodeUint64s(d)
		case "s":
			m.Seen, err = paxos.DecodeUint64s(d)
		default:
			return false, nil
		}
		return true, err
	})
}

// DecodeBody implements paxos.BodyDecoder for the messages of every
// instance: decoded in place, boxed once.

// DecodeBody implements paxos.BodyDecoder.
func (PreAccept) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m PreAccept
	err := m.DecodeMsgpack(d)
	return m, err
}

// DecodeBody implements paxos.BodyDecoder.
func (PreAcceptReply) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m PreAcceptReply
	err := m.DecodeMsgpack(d)
	return m, err
}

// DecodeBody implements paxos.BodyDecoder.
func (Accept) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m Accept
	err := m.DecodeMsgpack(d)
	return m, err
}

// DecodeBody implements paxos.BodyDecoder.
func (AcceptReply) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m AcceptReply
	err := m.DecodeMsgpack(d)
	return m, err
}

// DecodeBody implements paxos.BodyDecoder.
func (TryPreAccept) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m TryPreAccept
	err := m.DecodeMsgpack(d)
	return m, err
}

// DecodeBody implements paxos.BodyDecoder.
func (Commit) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m Commit
	err := m.DecodeMsgpack(d)
	return m, err
}

// DecodeBody implements paxos.BodyDecoder.
func (Watermark) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m Watermark
	err := m.DecodeMsgpack(d)
	return m, err
}
