package paxos

import (
	"encoding/binary"

	"github.com/paxos-lab/paxos/internal/msgpackappend"
	"github.com/vmihailenco/msgpack/v5"
)

// Commands appended by hand. Encoding a batch of commands through
// msgpack.Encoder costs about a dozen calls per command, each through the
// encoder's writer interface; when the encoder writes to one of this
// package's pooled coders (a transport frame, a WAL batch, Encode), the
// bytes are appended to its slice directly instead. They are the bytes of
// the encoder path (Command.EncodeMsgpack), which stays for every other
// encoder; TestAppendCommandsMatchesEncoder compares the two.

// appendTarget returns the writer of e when it is a pooled coder's, which
// the append path may extend directly.
func appendTarget(e *msgpack.Encoder) *appendWriter {
	w, _ := e.Writer().(*appendWriter)
	return w
}

// appendArrayLen appends an array header as msgpack.Encoder.EncodeArrayLen
// writes it.
func appendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= 0xffff:
		return append(b, 0xdc, byte(n>>8), byte(n))
	}
	return append(b, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendUint64 appends v as msgpack.Encoder.EncodeUint64 writes it: fixed
// width.
func appendUint64(b []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

// appendCommand appends c as Command.EncodeMsgpack encodes it.
func appendCommand(b []byte, c *Command) []byte {
	fields := byte(8)
	if len(c.Payload) == 0 {
		fields--
	}
	if len(c.Keys) == 0 {
		fields--
	}
	if !c.ReadOnly {
		fields--
	}
	b = append(b, 0x80|fields, 0xa1, 'c')
	b = appendUint64(b, c.Client)
	b = append(b, 0xa1, 's')
	b = appendUint64(b, c.Seq)
	b = append(b, 0xa1, 'o', 0xcc, byte(c.Op), 0xa1, 'k')
	b = msgpackappend.String(b, c.Key)
	b = append(b, 0xa1, 'v')
	b = msgpackappend.String(b, c.Value)
	if n := len(c.Payload); n > 0 {
		b = append(b, 0xa1, 'p')
		switch {
		case n < 256:
			b = append(b, 0xc4, byte(n))
		case n <= 0xffff:
			b = append(b, 0xc5, byte(n>>8), byte(n))
		default:
			b = append(b, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		}
		b = append(b, c.Payload...)
	}
	if len(c.Keys) > 0 {
		b = append(b, 0xa2, 'k', 's')
		b = appendArrayLen(b, len(c.Keys))
		for _, k := range c.Keys {
			b = msgpackappend.String(b, k)
		}
	}
	if c.ReadOnly {
		b = append(b, 0xa2, 'r', 'o', 0xc3)
	}
	return b
}

// appendCommands appends cmds as EncodeCommands encodes them.
func appendCommands(b []byte, cmds []Command) []byte {
	if cmds == nil {
		return append(b, 0xc0)
	}
	b = appendArrayLen(b, len(cmds))
	for i := range cmds {
		b = appendCommand(b, &cmds[i])
	}
	return b
}

// appendUint64s appends s as EncodeUint64s encodes it.
func appendUint64s(b []byte, s []uint64) []byte {
	if s == nil {
		return append(b, 0xc0)
	}
	b = appendArrayLen(b, len(s))
	for _, v := range s {
		b = appendUint64(b, v)
	}
	return b
}
