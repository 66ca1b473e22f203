package client

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/msgpackappend"
	"github.com/paxos-lab/paxos/transport"
)

// The client protocol runs over one TCP connection to a replica's client
// port. Each direction carries frames: a 4-byte big-endian length and a
// msgpack payload. The client sends Requests; the replica answers each with
// a Reply carrying the same (Client, Seq), in any order, so a connection can
// carry many requests at once.

// Request is one command sent to a replica.
type Request struct {
	Client uint64   `msgpack:"c"`
	Seq    uint64   `msgpack:"s"`
	Op     paxos.Op `msgpack:"o"`
	// Payload, Keys and ReadOnly carry an application command (Op ==
	// paxos.OpApp); see paxos.Command, whose field order (ReadOnly after
	// Op) Request keeps so that one converts to the other.
	ReadOnly bool     `msgpack:"ro,omitempty"`
	Key      string   `msgpack:"k"`
	Value    string   `msgpack:"v"`
	Payload  []byte   `msgpack:"p,omitempty"`
	Keys     []string `msgpack:"ks,omitempty"`
}

// Reply answers a Request. Err is empty on success; otherwise the command
// may or may not have executed and the client should retry it, with the same
// (Client, Seq), at this or another replica.
type Reply struct {
	Client    uint64 `msgpack:"c"`
	Seq       uint64 `msgpack:"s"`
	Output    string `msgpack:"o"`
	Err       string `msgpack:"e,omitempty"`
	Duplicate bool   `msgpack:"d,omitempty"`
	LocalRead bool   `msgpack:"l,omitempty"`
	Replica   int32  `msgpack:"r"`
	// CmdErr is the command's own result: the state machine's error, or
	// why every replica refuses it (paxos.Execution.Err). The command is
	// settled: retrying it returns the same error.
	CmdErr string `msgpack:"x,omitempty"`
	// Missing: a Get found no value under its key.
	Missing bool `msgpack:"m,omitempty"`
}

// MaxFrame is the largest client-protocol frame (4 MiB).
const MaxFrame = 4 << 20

// The client protocol uses the same length-prefixed framing as the peer
// transport (transport.WriteFrame and transport.ReadFrame), with its own
// size limit.

func writeFrame(w io.Writer, payload []byte) error { return transport.WriteFrame(w, payload) }

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// EncodeMsgpack implements msgpack.CustomEncoder: a Request has the wire
// shape of a paxos.Command (same keys and types).
func (r Request) EncodeMsgpack(e *msgpack.Encoder) error { return paxos.Command(r).EncodeMsgpack(e) }

// DecodeMsgpack implements msgpack.CustomDecoder.
func (r *Request) DecodeMsgpack(d *msgpack.Decoder) error {
	return (*paxos.Command)(r).DecodeMsgpack(d)
}

// EncodeMsgpack implements msgpack.CustomEncoder, writing the bytes
// reflection writes for Reply's tags.
func (r Reply) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = paxos.EncodeMapHeader(e, 9, r.Err == "", !r.Duplicate, !r.LocalRead, r.CmdErr == "", !r.Missing)
	_ = e.EncodeString("c")
	_ = e.EncodeUint64(r.Client)
	_ = e.EncodeString("s")
	_ = e.EncodeUint64(r.Seq)
	_ = e.EncodeString("o")
	_ = e.EncodeString(r.Output)
	if r.Err != "" {
		_ = e.EncodeString("e")
		_ = e.EncodeString(r.Err)
	}
	if r.Duplicate {
		_ = e.EncodeString("d")
		_ = e.EncodeBool(true)
	}
	if r.LocalRead {
		_ = e.EncodeString("l")
		_ = e.EncodeBool(true)
	}
	_ = e.EncodeString("r")
	err := e.EncodeInt32(r.Replica)
	if r.CmdErr != "" {
		_ = e.EncodeString("x")
		err = e.EncodeString(r.CmdErr)
	}
	if r.Missing {
		_ = e.EncodeString("m")
		err = e.EncodeBool(true)
	}
	return err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (r *Reply) DecodeMsgpack(d *msgpack.Decoder) error {
	return paxos.DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		var err error
		switch key {
		case "c":
			r.Client, err = d.DecodeUint64()
		case "s":
			r.Seq, err = d.DecodeUint64()
		case "o":
			r.Output, err = d.DecodeString()
		case "e":
			r.Err, err = d.DecodeString()
		case "d":
			r.Duplicate, err = d.DecodeBool()
		case "l":
			r.LocalRead, err = d.DecodeBool()
		case "r":
			r.Replica, err = d.DecodeInt32()
		case "x":
			r.CmdErr, err = d.DecodeString()
		case "m":
			r.Missing, err = d.DecodeBool()
		default:
			return false, nil
		}
		return true, err
	})
}

// frameDecoder decodes frames with the codec's pooled decoders, whose
// fast paths read a request's command straight from the frame
// (paxos.DecodeInto).
type frameDecoder struct{}

func newFrameDecoder() *frameDecoder { return &frameDecoder{} }

// decode decodes frame into v.
func (*frameDecoder) decode(frame []byte, v msgpack.CustomDecoder) error {
	return paxos.DecodeInto(frame, v)
}

// parseReply reads a reply in the shape Reply.EncodeMsgpack writes (a map
// of one-letter keys; Client and Seq as 64-bit, Replica as 32-bit
// integers; strings of fewer than 256 bytes) straight from frame into
// *r, which must be zero. It reports false, leaving *r in an unspecified
// state, for anything else (another encoding, an unknown key, a longer
// string), which Reply.DecodeMsgpack then decodes: what it accepts, it
// decodes as DecodeMsgpack would.
func parseReply(frame []byte, r *Reply) bool {
	if len(frame) == 0 || frame[0]&0xf0 != 0x80 {
		return false
	}
	n, b := int(frame[0]&0x0f), frame[1:]
	for ; n > 0; n-- {
		if len(b) < 3 || b[0] != 0xa1 {
			return false
		}
		key, v := b[1], b[2:]
		var k int // bytes of the value
		switch key {
		case 'c', 's':
			if len(v) < 9 || v[0] != 0xcf {
				return false
			}
			x := binary.BigEndian.Uint64(v[1:])
			if key == 'c' {
				r.Client = x
			} else {
				r.Seq = x
			}
			k = 9
		case 'r':
			if len(v) < 5 || v[0] != 0xd2 {
				return false
			}
			r.Replica, k = int32(binary.BigEndian.Uint32(v[1:])), 5
		case 'o', 'e', 'x':
			var s []byte
			var ok bool
			if s, k, ok = msgpackappend.ShortString(v); !ok {
				return false
			}
			str := ""
			if len(s) > 0 {
				str = string(s)
			}
			switch key {
			case 'o':
				r.Output = str
			case 'e':
				r.Err = str
			default:
				r.CmdErr = str
			}
		case 'd', 'l', 'm':
			if len(v) < 1 || v[0]&0xfe != 0xc2 {
				return false
			}
			set := v[0] == 0xc3
			switch key {
			case 'd':
				r.Duplicate = set
			case 'l':
				r.LocalRead = set
			default:
				r.Missing = set
			}
			b = v[1:]
			continue
		default:
			return false
		}
		b = v[k:]
	}
	return len(b) == 0
}
