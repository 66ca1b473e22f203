package paxos

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// Hand-written msgpack methods for the types on the hot path.
//
// msgpack v5 encodes a struct by reflection: it looks up the type's fields,
// boxes every value it visits and allocates a string for every key it
// decodes. The hot message types (a command, a ballot, an instance, and the
// protocols' phase-2 messages and records) implement msgpack.CustomEncoder
// and msgpack.CustomDecoder instead, writing exactly the bytes reflection
// writes for their struct tags: a map of their fields in declaration order,
// omitempty fields left out when empty, fixed-width integers (uint64 as
// 0xcf, int32 as 0xd2, uint8 as 0xcc), nil slices as nil. Decoding accepts
// what reflection accepts: nil for the whole value, keys in any order,
// unknown keys skipped. codec_test.go checks the bytes against reflection.
//
// The helpers below are exported for the protocol packages' methods; they
// are not needed to use the library.

// EncodeMsgpack implements msgpack.CustomEncoder. Unlike Command's other
// methods it has a value receiver: msgpack uses a pointer receiver's
// encoder only for addressable values and fails on a Command held in an
// interface or a map. The hot paths encode commands with appendCommand,
// which takes a pointer.
func (c Command) EncodeMsgpack(e *msgpack.Encoder) error {
	if w := appendTarget(e); w != nil {
		w.b = appendCommand(w.b, &c)
		return nil
	}
	_ = EncodeMapHeader(e, 8, len(c.Payload) == 0, len(c.Keys) == 0, !c.ReadOnly)
	_ = e.EncodeString("c")
	_ = e.EncodeUint64(c.Client)
	_ = e.EncodeString("s")
	_ = e.EncodeUint64(c.Seq)
	_ = e.EncodeString("o")
	_ = e.EncodeUint8(uint8(c.Op))
	_ = e.EncodeString("k")
	_ = e.EncodeString(c.Key)
	_ = e.EncodeString("v")
	err := e.EncodeString(c.Value)
	if len(c.Payload) > 0 {
		_ = e.EncodeString("p")
		err = e.EncodeBytes(c.Payload)
	}
	if len(c.Keys) > 0 {
		_ = e.EncodeString("ks")
		_ = e.EncodeArrayLen(len(c.Keys))
		for _, k := range c.Keys {
			err = e.EncodeString(k)
		}
	}
	if c.ReadOnly {
		_ = e.EncodeString("ro")
		err = e.EncodeBool(true)
	}
	return err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
// The key and the value of a command share one allocation of exactly their
// size: they are read into a pooled scratch block, then copied out
// together (see settle).
func (c *Command) DecodeMsgpack(d *msgpack.Decoder) error {
	scratch := scratchBlocks.Get().(*[arenaMax]byte)
	spare := scratch[:0]
	// A command in the short shape, read straight from a pooled decoder's
	// input (see parseCommand), into a command without the fields that
	// shape leaves out: parseCommand sets every other field, as the
	// decoder path would.
	if src := sourceOf(d); src != nil && c.Payload == nil && c.Keys == nil && !c.ReadOnly {
		if k, ok := parseCommand(src.rest(), c, &spare); ok {
			src.skip(k)
			settle(unsafe.Slice(c, 1), scratch)
			scratchBlocks.Put(scratch)
			return nil
		}
	}
	if err := c.decode(d, &spare, 0, 0); err != nil {
		return err // scratch is dropped: c may still point into it
	}
	settle(unsafe.Slice(c, 1), scratch)
	scratchBlocks.Put(scratch)
	return nil
}

// scratchBlocks holds the blocks into which commands' keys and values are
// decoded before settle copies them out.
var scratchBlocks = sync.Pool{New: func() any { return new([arenaMax]byte) }}

// inBlock reports whether s's bytes lie in b.
func inBlock(s string, b *[arenaMax]byte) bool {
	if len(s) == 0 {
		return false
	}
	p, base := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(b))
	return p >= base && p < base+arenaMax
}

// settle copies the keys and values of cmds that lie in scratch into one
// new allocation of exactly their total size, so that scratch can be
// reused. Committed commands live as long as the state holds their keys,
// so a decoded string must keep no more memory alive than its own bytes:
// blocks carved with room to spare kept up to twice that.
func settle(cmds []Command, scratch *[arenaMax]byte) {
	total := 0
	for i := range cmds {
		if inBlock(cmds[i].Key, scratch) {
			total += len(cmds[i].Key)
		}
		if inBlock(cmds[i].Value, scratch) {
			total += len(cmds[i].Value)
		}
	}
	if total == 0 {
		return
	}
	block := make([]byte, 0, total) // never grows: the strings stay valid
	move := func(s *string) {
		if inBlock(*s, scratch) {
			start := len(block)
			block = append(block, *s...)
			*s = unsafe.String(&block[start], len(*s))
		}
	}
	for i := range cmds {
		move(&cmds[i].Key)
		move(&cmds[i].Value)
	}
}

// decode decodes a command whose key and value are carved from *spare
// when they fit; a key that does not fit is allocated with room for
// keyRoom more bytes, a value with room for valueRoom more, and that room
// becomes *spare.
func (c *Command) decode(d *msgpack.Decoder, arena *[]byte, keyRoom, valueRoom int) error {
	return DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		var err error
		switch key {
		case "c":
			c.Client, err = d.DecodeUint64()
		case "s":
			c.Seq, err = d.DecodeUint64()
		case "o":
			var o uint8
			o, err = d.DecodeUint8()
			c.Op = Op(o)
		case "k":
			c.Key, *arena, err = decodeString(d, *arena, keyRoom)
		case "v":
			c.Value, *arena, err = decodeString(d, *arena, valueRoom)
		case "p":
			c.Payload, err = d.DecodeBytes()
		case "ks":
			c.Keys, err = decodeStrings(d)
		case "ro":
			c.ReadOnly, err = d.DecodeBool()
		default:
			return false, nil
		}
		return true, err
	})
}

// decodeStrings decodes an array of strings (nil for a nil array). It
// grows the slice as elements arrive, so a claimed length costs nothing
// until the input backs it.
func decodeStrings(d *msgpack.Decoder) ([]string, error) {
	n, err := d.DecodeArrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	out := make([]string, 0, min(n, 16))
	for i := 0; i < n; i++ {
		v, err := d.DecodeString()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// cmdSpare is the least room left in a scratch block for the next command.
const cmdSpare = 48

// arenaMax is the size of a scratch block for decoding keys and values.
const arenaMax = 4 << 10

// maxChunk bounds a single allocation made for a string whose length the
// input claims, so truncated input cannot make the decoder allocate much.
const maxChunk = 64 << 10

// decodeString decodes a string (or nil, as "") as msgpack's DecodeString
// does. It uses spare's room when the string fits; otherwise it allocates
// the string with extra bytes of room after it. It returns the room left.
// Strings share their bytes' allocation, so one that lives on keeps the
// block alive: the blocks are small (see arenaMax).
func decodeString(d *msgpack.Decoder, spare []byte, extra int) (string, []byte, error) {
	n, err := d.DecodeBytesLen()
	if err != nil || n <= 0 {
		return "", spare, err
	}
	var b []byte
	switch {
	case n <= cap(spare):
		b, spare = spare[:n], spare[n:n]
	case n <= maxChunk:
		buf := make([]byte, n, n+max(extra, 0))
		b, spare = buf, buf[n:n]
	default:
		for len(b) < n {
			k := min(n-len(b), maxChunk)
			b = append(b, make([]byte, k)...)
			if err := d.ReadFull(b[len(b)-k:]); err != nil {
				return "", nil, err
			}
		}
		return unsafe.String(unsafe.SliceData(b), n), nil, nil
	}
	if err := d.ReadFull(b); err != nil {
		return "", nil, err
	}
	return unsafe.String(unsafe.SliceData(b), n), spare, nil
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (b Ballot) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = e.EncodeMapLen(2)
	_ = e.EncodeString("r")
	_ = e.EncodeUint64(b.Round)
	_ = e.EncodeString("n")
	return e.EncodeInt32(int32(b.Node))
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (b *Ballot) DecodeMsgpack(d *msgpack.Decoder) error {
	return DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		var err error
		switch key {
		case "r":
			b.Round, err = d.DecodeUint64()
		case "n":
			b.Node, err = DecodeNodeID(d)
		default:
			return false, nil
		}
		return true, err
	})
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (in Instance) EncodeMsgpack(e *msgpack.Encoder) error {
	_ = e.EncodeMapLen(2)
	_ = e.EncodeString("r")
	_ = e.EncodeInt32(int32(in.Replica))
	_ = e.EncodeString("s")
	return e.EncodeUint64(in.Slot)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (in *Instance) DecodeMsgpack(d *msgpack.Decoder) error {
	return DecodeFields(d, func(d *msgpack.Decoder, key string) (bool, error) {
		var err error
		switch key {
		case "r":
			in.Replica, err = DecodeNodeID(d)
		case "s":
			in.Slot, err = d.DecodeUint64()
		default:
			return false, nil
		}
		return true, err
	})
}

// DecodeNodeID decodes a NodeID as reflection does (any integer).
func DecodeNodeID(d *msgpack.Decoder) (NodeID, error) {
	v, err := d.DecodeInt32()
	return NodeID(v), err
}

// DecodeFields decodes a msgpack map with string keys into a struct as
// reflection does: nil leaves the struct as it is; for each key, field is
// called with the decoder positioned on the value and reports whether it
// knew the key (an unknown key's value is skipped).
func DecodeFields(d *msgpack.Decoder, field func(d *msgpack.Decoder, key string) (bool, error)) error {
	n, err := d.DecodeMapLen()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		key, err := d.DecodeString() // one-byte keys do not allocate
		if err != nil {
			return err
		}
		known, err := field(d, key)
		if err != nil {
			return fmt.Errorf("field %q: %w", key, err)
		}
		if !known {
			if err := d.Skip(); err != nil {
				return err
			}
		}
	}
	return nil
}

// EncodeCommands encodes cmds as reflection encodes a []Command (nil as
// nil).
func EncodeCommands(e *msgpack.Encoder, cmds []Command) error {
	if w := appendTarget(e); w != nil {
		w.b = appendCommands(w.b, cmds)
		return nil
	}
	if cmds == nil {
		return e.EncodeNil()
	}
	if err := e.EncodeArrayLen(len(cmds)); err != nil {
		return err
	}
	for i := range cmds {
		if err := cmds[i].EncodeMsgpack(e); err != nil {
			return err
		}
	}
	return nil
}

// DecodeCommands decodes what EncodeCommands encodes (nil as nil, an empty
// array as an empty slice).
func DecodeCommands(d *msgpack.Decoder) ([]Command, error) {
	n, err := d.DecodeArrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	src := sourceOf(d)
	if src != nil && n > 0 {
		// The encoder's shape throughout: one pass to size the block, one
		// to fill it.
		if cmds, k, ok := parseCommands(src.rest(), n); ok {
			src.skip(k)
			return cmds, nil
		}
	}
	cmds := make([]Command, 0, min(n, 1024))
	// The keys and values of the commands are decoded into a pooled
	// scratch block and copied out together, exactly sized (settle), each
	// time the block is nearly full and at the end: a batch of small
	// commands costs one allocation.
	scratch := scratchBlocks.Get().(*[arenaMax]byte)
	arena, from := scratch[:0], 0
	for i := 0; i < n; i++ {
		if cap(arena) < cmdSpare {
			settle(cmds[from:], scratch)
			arena, from = scratch[:0], len(cmds)
		}
		var c Command
		if src != nil {
			if k, ok := parseCommand(src.rest(), &c, &arena); ok {
				src.skip(k)
				cmds = append(cmds, c)
				continue
			}
		}
		if err := c.decode(d, &arena, 0, 0); err != nil {
			return nil, err // scratch is dropped: cmds may still point into it
		}
		cmds = append(cmds, c)
	}
	settle(cmds[from:], scratch)
	scratchBlocks.Put(scratch)
	return cmds, nil
}

// EncodeUint64s encodes s as reflection encodes a []uint64 (nil as nil,
// every element as a fixed-width uint64).
func EncodeUint64s(e *msgpack.Encoder, s []uint64) error {
	if w := appendTarget(e); w != nil {
		w.b = appendUint64s(w.b, s)
		return nil
	}
	if s == nil {
		return e.EncodeNil()
	}
	if err := e.EncodeArrayLen(len(s)); err != nil {
		return err
	}
	for _, v := range s {
		if err := e.EncodeUint64(v); err != nil {
			return err
		}
	}
	return nil
}

// DecodeUint64s decodes what EncodeUint64s encodes.
func DecodeUint64s(d *msgpack.Decoder) ([]uint64, error) {
	if src := sourceOf(d); src != nil {
		if s, k, ok := parseUint64s(src.rest()); ok {
			src.skip(k)
			return s, nil
		}
	}
	n, err := d.DecodeArrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	s := make([]uint64, 0, min(n, 1024))
	for i := 0; i < n; i++ {
		v, err := d.DecodeUint64()
		if err != nil {
			return nil, err
		}
		s = append(s, v)
	}
	return s, nil
}

// EncodeMapHeader writes the map header of a struct with fields fields of
// which omitted are left out (omitempty and empty).
func EncodeMapHeader(e *msgpack.Encoder, fields int, omitted ...bool) error {
	for _, o := range omitted {
		if o {
			fields--
		}
	}
	return e.EncodeMapLen(fields)
}
