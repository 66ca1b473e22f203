package multi

import (
	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
)

// Hand-written msgpack methods for the messages and records on the hot path
// (see the root package's codec_wire.go): the same bytes as reflection
// writes for the struct tags, without reflection.

func decodeBallot(d *msgpack.Decoder, b *Ballot) error { return b.DecodeMsgpack(d) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m Accept) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = e.EncodeMapLen(3)
	_ = e.EncodeString("b")
	_ = m.Ballot.EncodeMsgpack(e)
	_ = e.EncodeString("s")
	_ = e.EncodeUint64(m.Slot)
	_ = e.EncodeString("c")
	return paxos.EncodeCommands(e, m.Cmds)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *Accept) DecodeMsgpack(d *msgpack.Decoder) error {
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		return decodeSlotValue(d, key, &m.Ballot, &m.Slot, &m.Cmds)
	})
}

// decodeSlotValue decodes the fields "b", "s" and "c" that Accept, Commit
// and AcceptRecord share.
func decodeSlotValue(d *msgpack.Decoder, key string, b *Ballot, slot *uint64, cmds *[]paxos.Command) (bool, error) {
	var err error
	switch key {
	case "b":
		err = decodeBallot(d, b)
	case "s":
		*slot, err = d.DecodeUint64()
	case "c":
		*cmds, err = paxos.DecodeCommands(d)
	default:
		return false, nil
	}
	return true, err
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m Commit) EncodeMsgpack(e *msgpack.Encoder) error { return Accept(m).EncodeMsgpack(e) }

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *Commit) DecodeMsgpack(d *msgpack.Decoder) error { return (*Accept)(m).DecodeMsgpack(d) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m AcceptRecord) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = e.EncodeMapLen(3)
	_ = e.EncodeString("s")
	_ = e.EncodeUint64(m.Slot)
	_ = e.EncodeString("b")
	_ = m.Ballot.EncodeMsgpack(e)
	_ = e.EncodeString("c")
	return paxos.EncodeCommands(e, m.Cmds)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *AcceptRecord) DecodeMsgpack(d *msgpack.Decoder) error {
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		return decodeSlotValue(d, key, &m.Ballot, &m.Slot, &m.Cmds)
	})
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m Accepted) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = e.EncodeMapLen(2)
	_ = e.EncodeString("b")
	_ = m.Ballot.EncodeMsgpack(e)
	_ = e.EncodeString("s")
	return e.EncodeUint64(m.Slot)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *Accepted) DecodeMsgpack(d *msgpack.Decoder) error {
	if paxos.DecodeBallotSlot(d, &m.Ballot, &m.Slot) {
		return nil
	}
	var cmds []paxos.Command
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		if key == "c" {
			return false, nil
		}
		return decodeSlotValue(d, key, &m.Ballot, &m.Slot, &cmds)
	})
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m Chosen) EncodeMsgpack(e *msgpack.Encoder) error { return Accepted(m).EncodeMsgpack(e) }

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *Chosen) DecodeMsgpack(d *msgpack.Decoder) error { return (*Accepted)(m).DecodeMsgpack(d) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m Forward) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = e.EncodeMapLen(1)
	_ = e.EncodeString("c")
	return paxos.EncodeCommands(e, m.Cmds)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *Forward) DecodeMsgpack(d *msgpack.Decoder) error {
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		if key != "c" {
			return false, nil
		}
		var err error
		m.Cmds, err = paxos.DecodeCommands(d)
		return true, err
	})
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m Heartbeat) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = e.EncodeMapLen(3)
	_ = e.EncodeString("b")
	_ = m.Ballot.EncodeMsgpack(e)
	_ = e.EncodeString("c")
	_ = e.EncodeUint64(m.Commit)
	_ = e.EncodeString("t")
	return e.EncodeUint64(m.Tick)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *Heartbeat) DecodeMsgpack(d *msgpack.Decoder) error {
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		return decodeBeat(d, key, &m.Ballot, &m.Commit, &m.Tick)
	})
}

// decodeBeat decodes the fields "b", "c" and "t" that Heartbeat and
// HeartbeatReply share.
func decodeBeat(d *msgpack.Decoder, key string, b *Ballot, commit, tick *uint64) (bool, error) {
	var err error
	switch key {
	case "b":
		err = decodeBallot(d, b)
	case "c":
		*commit, err = d.DecodeUint64()
	case "t":
		*tick, err = d.DecodeUint64()
	default:
		return false, nil
	}
	return true, err
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m HeartbeatReply) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = e.EncodeMapLen(4)
	_ = e.EncodeString("b")
	_ = m.Ballot.EncodeMsgpack(e)
	_ = e.EncodeString("e")
	_ = e.EncodeUint64(m.Executed)
	_ = e.EncodeString("c")
	_ = e.EncodeUint64(m.Commit)
	_ = e.EncodeString("t")
	return e.EncodeUint64(m.Tick)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *HeartbeatReply) DecodeMsgpack(d *msgpack.Decoder) error {
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		if key == "e" {
			var err error
			m.Executed, err = d.DecodeUint64()
			return true, err
		}
		return decodeBeat(d, key, &m.Ballot, &m.Commit, &m.Tick)
	})
}

// DecodeBody implements paxos.BodyDecoder.
func (Accept) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m Accept
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
func (Accepted) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m Accepted
	err := m.DecodeMsgpack(d)
	return m, err
}

// DecodeBody implements paxos.BodyDecoder.
func (Chosen) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m Chosen
	err := m.DecodeMsgpack(d)
	return m, err
}

// DecodeBody implements paxos.BodyDecoder.
func (Forward) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m Forward
	err := m.DecodeMsgpack(d)
	return m, err
}

// DecodeBody implements paxos.BodyDecoder.
func (Heartbeat) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m Heartbeat
	err := m.DecodeMsgpack(d)
	return m, err
}

// DecodeBody implements paxos.BodyDecoder.
func (HeartbeatReply) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m HeartbeatReply
	err := m.DecodeMsgpack(d)
	return m, err
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m Entry) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = paxos.EncodeMapHeader(e, 4, !m.Committed)
	_ = e.EncodeString("s")
	_ = e.EncodeUint64(m.Slot)
	_ = e.EncodeString("b")
	_ = m.Ballot.EncodeMsgpack(e)
	_ = e.EncodeString("c")
	err := paxos.EncodeCommands(e, m.Cmds)
	if m.Committed {
		_ = e.EncodeString("k")
		err = e.EncodeBool(true)
	}
	return err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *Entry) DecodeMsgpack(d *msgpack.Decoder) error {
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		if key == "k" {
			var err error
			m.Committed, err = d.DecodeBool()
			return true, err
		}
		return decodeSlotValue(d, key, &m.Ballot, &m.Slot, &m.Cmds)
	})
}

// EncodeMsgpack implements msgpack.CustomEncoder. A catch-up carries up to
// maxCatchUp slots' commands; by reflection, every command of it was boxed
// on its way out.
func (m CatchUp) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = e.EncodeMapLen(2)
	_ = e.EncodeString("b")
	_ = m.Ballot.EncodeMsgpack(e)
	_ = e.EncodeString("e")
	if m.Entries == nil {
		return e.EncodeNil()
	}
	_ = e.EncodeArrayLen(len(m.Entries))
	for i := range m.Entries {
		if err := m.Entries[i].EncodeMsgpack(e); err != nil {
			return err
		}
	}
	return nil
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *CatchUp) DecodeMsgpack(d *msgpack.Decoder) error {
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		var err error
		switch key {
		case "b":
			err = decodeBallot(d, &m.Ballot)
		case "e":
			m.Entries, err = decodeEntries(d)
		default:
			return false, nil
		}
		return true, err
	})
}

// decodeEntries decodes a []Entry as reflection does (nil as nil, an empty
// array as an empty slice).
func decodeEntries(d *msgpack.Decoder) ([]Entry, error) {
	n, err := d.DecodeArrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	es := make([]Entry, 0, min(n, 1024)) // n is what the input claims
	for range n {
		var e Entry
		if err := e.DecodeMsgpack(d); err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return es, nil
}

// DecodeBody implements paxos.BodyDecoder.
func (CatchUp) DecodeBody(d *msgpack.Decoder) (any, error) {
	var m CatchUp
	err := m.DecodeMsgpack(d)
	return m, err
}
