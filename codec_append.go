package paxos

import (
	"bytes"
	"encoding/binary"
	"io"

	"unsafe"

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

// Decoding has a fast path too: a pooled coder reads its input through a
// srcReader, which knows the whole input, so DecodeCommands and
// DecodeUint64s can read a command or a list in the exact shape the
// encoder writes straight from the bytes. Anything else (another field
// order, unknown fields, other integer widths, long strings, a payload,
// keys) is left to the decoder path, one command at a time, so the fast
// path decodes exactly what the decoder path would.

// srcReader is a bytes.Reader that keeps its input.
type srcReader struct {
	bytes.Reader
	src []byte
}

func (r *srcReader) reset(b []byte) {
	r.Reader.Reset(b)
	r.src = b
}

// rest returns the input not read yet.
func (r *srcReader) rest() []byte { return r.src[len(r.src)-r.Len():] }

// skip moves past n bytes of rest.
func (r *srcReader) skip(n int) { _, _ = r.Seek(int64(n), io.SeekCurrent) }

// sourceOf returns the reader of d when it is a pooled coder's.
func sourceOf(d *msgpack.Decoder) *srcReader {
	r, _ := d.Buffered().(*srcReader)
	return r
}

// appendTarget returns the writer of e when it is a pooled coder's, which
// the append path may extend directly.
func appendTarget(e *msgpack.Encoder) *appendWriter {
	w, _ := e.Writer().(*appendWriter)
	return w
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
	if len(c.Payload) > 0 {
		b = msgpackappend.Bytes(append(b, 0xa1, 'p'), c.Payload)
	}
	if len(c.Keys) > 0 {
		b = append(b, 0xa2, 'k', 's')
		b = msgpackappend.ArrayLen(b, len(c.Keys))
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
	b = msgpackappend.ArrayLen(b, len(cmds))
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
	b = msgpackappend.ArrayLen(b, len(s))
	for _, v := range s {
		b = appendUint64(b, v)
	}
	return b
}

// parseShortString reads a string of fewer than 256 bytes (fixstr or str8)
// at the start of b, returning its bytes and the length of its encoding.
func parseShortString(b []byte) ([]byte, int, bool) { return msgpackappend.ShortString(b) }

// cmdHead is the start of a command without payload, keys or ReadOnly as
// appendCommand writes it, up to the first byte of its key: a map of five
// fields, "c" and "s" fixed-width, "o" as a uint8. The zero bytes are the
// client, the seq and the op.
var cmdHead = [...]byte{0x85, 0xa1, 'c', 0xcf, 0, 0, 0, 0, 0, 0, 0, 0, 0xa1, 's', 0xcf, 0, 0, 0, 0, 0, 0, 0, 0, 0xa1, 'o', 0xcc, 0, 0xa1, 'k'}

// parseCommand reads a command in the shape cmdHead starts, with key and
// value of fewer than 256 bytes, into c, carving the key and the value
// from *arena (as decodeString does). It returns the length of its
// encoding, or false (and leaves c and *arena alone) for anything else,
// which the decoder path then reads.
func parseCommand(b []byte, c *Command, arena *[]byte) (int, bool) {
	const h = len(cmdHead)
	if len(b) < h || b[0] != cmdHead[0] || [3]byte(b[1:4]) != [3]byte(cmdHead[1:4]) ||
		[3]byte(b[12:15]) != [3]byte(cmdHead[12:15]) || [3]byte(b[23:26]) != [3]byte(cmdHead[23:26]) ||
		b[27] != 0xa1 || b[28] != 'k' {
		return 0, false
	}
	key, kn, ok := parseShortString(b[h:])
	if !ok || len(b) < h+kn+2 || b[h+kn] != 0xa1 || b[h+kn+1] != 'v' {
		return 0, false
	}
	value, vn, ok := parseShortString(b[h+kn+2:])
	if !ok || len(key)+len(value) > cap(*arena) {
		return 0, false
	}
	*c = Command{Client: binary.BigEndian.Uint64(b[4:12]), Seq: binary.BigEndian.Uint64(b[15:23]), Op: Op(b[26])}
	c.Key, *arena = carve(*arena, key)
	c.Value, *arena = carve(*arena, value)
	return h + kn + 2 + vn, true
}

// parseCommands reads n commands from the start of b when every one of
// them has the shape parseCommand reads, and returns the length of their
// encoding; otherwise false, and the decoder path reads them. Their keys
// and values are copied into one block of exactly their size, as the
// decoder path leaves them (see settle), but once: a first pass reads
// every command, its strings still in b, and sums their lengths, a second
// copies them out.
func parseCommands(b []byte, n int) ([]Command, int, bool) {
	if n > len(b)/minCommandLen {
		return nil, 0, false // b ends first: allocate nothing
	}
	cmds := make([]Command, n)
	total, off := 0, 0
	for i := range cmds {
		k, ok := peekCommand(b[off:], &cmds[i])
		if !ok {
			return nil, 0, false // cmds, which points into b, is dropped
		}
		total += len(cmds[i].Key) + len(cmds[i].Value)
		off += k
	}
	block := make([]byte, 0, total) // never grows: the strings stay valid
	own := func(s *string) {
		if len(*s) > 0 {
			start := len(block)
			block = append(block, *s...)
			*s = unsafe.String(&block[start], len(*s))
		}
	}
	for i := range cmds {
		own(&cmds[i].Key)
		own(&cmds[i].Value)
	}
	return cmds, off, true
}

// minCommandLen is the fewest bytes a command in parseCommand's shape
// takes: cmdHead, an empty key, "v" and an empty value.
const minCommandLen = len(cmdHead) + 4

// The words of cmdHead that peekCommand compares, little-endian: bytes
// 0-3, 12-14, 23-25 and 27-28 (the others are the client, seq and op).
var (
	cmdHeadStart = binary.LittleEndian.Uint32(cmdHead[0:4])
	cmdHeadSeq   = binary.LittleEndian.Uint32(cmdHead[12:16]) & 0xffffff
	cmdHeadOp    = binary.LittleEndian.Uint32(cmdHead[23:27]) & 0xffffff
	cmdHeadKey   = binary.LittleEndian.Uint16(cmdHead[27:29])
)

// peekCommand reads what parseCommand reads (the same shape, accepted and
// refused alike), but leaves c's key and value pointing into b.
func peekCommand(b []byte, c *Command) (int, bool) {
	const h = len(cmdHead)
	if len(b) < minCommandLen || binary.LittleEndian.Uint32(b[0:4]) != cmdHeadStart ||
		binary.LittleEndian.Uint32(b[12:16])&0xffffff != cmdHeadSeq ||
		binary.LittleEndian.Uint32(b[23:27])&0xffffff != cmdHeadOp ||
		binary.LittleEndian.Uint16(b[27:29]) != cmdHeadKey {
		return 0, false
	}
	ks, ke, ok := shortStringAt(b, h)
	if !ok || ke+2 > len(b) || b[ke] != 0xa1 || b[ke+1] != 'v' {
		return 0, false
	}
	vs, ve, ok := shortStringAt(b, ke+2)
	if !ok {
		return 0, false
	}
	*c = Command{Client: binary.BigEndian.Uint64(b[4:12]), Seq: binary.BigEndian.Uint64(b[15:23]), Op: Op(b[26])}
	if ke > ks {
		c.Key = unsafe.String(&b[ks], ke-ks)
	}
	if ve > vs {
		c.Value = unsafe.String(&b[vs], ve-vs)
	}
	return ve, true
}

// shortStringAt is parseShortString at b[at:], returning where the
// string's bytes start and end.
func shortStringAt(b []byte, at int) (int, int, bool) {
	if at >= len(b) {
		return 0, 0, false
	}
	n, s := 0, at+1
	switch c := b[at]; {
	case c >= 0xa0 && c <= 0xbf:
		n = int(c & 0x1f)
	case c == 0xd9 && at+1 < len(b):
		n, s = int(b[at+1]), at+2
	default:
		return 0, 0, false
	}
	if n > len(b)-s {
		return 0, 0, false
	}
	return s, s + n, true
}

// carve copies s into spare's room and returns it as a string, with the
// room left ("" for an empty s, as decodeString).
func carve(spare, s []byte) (string, []byte) {
	if len(s) == 0 {
		return "", spare
	}
	b := append(spare[:0], s...)
	return unsafe.String(unsafe.SliceData(b), len(b)), spare[len(s):len(s)]
}

// parseUint64s reads a list of fixed-width uint64s (fewer than 16: a
// fixarray) as EncodeUint64s writes it, returning the length of its
// encoding, or false for anything else.
func parseUint64s(b []byte) ([]uint64, int, bool) {
	if len(b) == 0 || b[0]&0xf0 != 0x90 {
		return nil, 0, false
	}
	n := int(b[0] & 0x0f)
	if len(b) < 1+9*n {
		return nil, 0, false
	}
	s := make([]uint64, n)
	for i := range s {
		e := b[1+9*i:]
		if e[0] != 0xcf {
			return nil, 0, false
		}
		s[i] = binary.BigEndian.Uint64(e[1:9])
	}
	return s, 1 + 9*n, true
}

// ballotSlotLen is the length of {"b": Ballot, "s": uint64} as the
// encoders write it: a two-field map, the ballot a two-field map of a
// fixed-width uint64 round and int32 node, the slot a fixed-width uint64.
const ballotSlotLen = 33

// DecodeBallotSlot decodes a map holding a Ballot under "b" and a uint64
// under "s" into b and slot (Multi-Paxos's Accepted and Chosen), when d
// reads one of this package's pooled coders' input and the map is in the
// exact shape the encoders write, "b" first: the bytes are read directly,
// without the decoder's calls per key. It reports false, having read
// nothing, otherwise; the caller then decodes the map with DecodeFields,
// which sets the same fields from the same bytes.
func DecodeBallotSlot(d *msgpack.Decoder, b *Ballot, slot *uint64) bool {
	src := sourceOf(d)
	if src == nil {
		return false
	}
	p := src.rest()
	if len(p) < ballotSlotLen ||
		p[0] != 0x82 || p[1] != 0xa1 || p[2] != 'b' ||
		p[3] != 0x82 || p[4] != 0xa1 || p[5] != 'r' || p[6] != 0xcf ||
		p[15] != 0xa1 || p[16] != 'n' || p[17] != 0xd2 ||
		p[22] != 0xa1 || p[23] != 's' || p[24] != 0xcf {
		return false
	}
	b.Round = binary.BigEndian.Uint64(p[7:15])
	b.Node = NodeID(int32(binary.BigEndian.Uint32(p[18:22])))
	*slot = binary.BigEndian.Uint64(p[25:33])
	src.skip(ballotSlotLen)
	return true
}

// AppendCommand appends c encoded as Command.EncodeMsgpack encodes it (the
// wire shape of a client's request), without an encoder.
func AppendCommand(b []byte, c *Command) []byte { return appendCommand(b, c) }
