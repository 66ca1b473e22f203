package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/paxos-lab/paxos"
)

// Frames on a TCP connection are a 4-byte big-endian payload length followed
// by the payload: a paxos.EncodeMessage encoding, or a handshake record.

// DefaultMaxFrame is the default largest frame payload (16 MiB).
const DefaultMaxFrame = 16 << 20

// ErrFrameTooLarge is wrapped by ReadFrame's error for a frame whose declared
// length exceeds the maximum.
var ErrFrameTooLarge = errors.New("frame larger than the maximum")

// ErrEmptyFrame is returned for a frame of length zero, which no sender
// produces.
var ErrEmptyFrame = errors.New("empty frame")

// WriteFrame writes one frame holding payload.
func WriteFrame(w io.Writer, payload []byte) error {
	if bw, ok := w.(*bufio.Writer); ok {
		// Byte by byte into the buffer: a header array passed to an
		// io.Writer would escape and cost an allocation per frame.
		n := uint32(len(payload))
		for _, b := range [4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} {
			if err := bw.WriteByte(b); err != nil {
				return err
			}
		}
		_, err := bw.Write(payload)
		return err
	}
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], uint32(len(payload)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// frameChunk is the most ReadFrame allocates for a frame ahead of the bytes
// that actually arrived: it starts with at most this much and doubles the
// buffer only when the bytes read fill it.
const frameChunk = 4 << 10

// ReadFrame reads one frame of at most max payload bytes, reusing buf when it
// is large enough. It returns io.EOF at a clean end of stream,
// io.ErrUnexpectedEOF for a frame cut short, and an error wrapping
// ErrFrameTooLarge or ErrEmptyFrame for a bad length; it reads nothing past
// the declared length. The declared length is checked against max before
// anything is allocated, and the buffer grows only as the payload arrives
// (at most twice the bytes received plus a small chunk), so a peer that
// declares a large frame and sends little costs little memory.
func ReadFrame(r io.Reader, buf []byte, max int) ([]byte, error) {
	// The header goes into buf when it has room (an array would escape
	// through the io.Reader call and cost an allocation per frame).
	var h []byte
	if cap(buf) >= 4 {
		h = buf[:4]
	} else {
		h = make([]byte, 4)
	}
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h)
	if n == 0 {
		return nil, ErrEmptyFrame
	}
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes declared, at most %d accepted", ErrFrameTooLarge, n, max)
	}
	size := int(n)
	if cap(buf) >= size {
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, unexpectedEOF(err)
		}
		return buf, nil
	}
	buf = make([]byte, 0, min(size, frameChunk))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(size, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil && len(buf) < size {
			return nil, unexpectedEOF(err)
		}
	}
	return buf, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// DecodeFrame decodes a frame's payload into a message, as the TCP transport
// does for every frame it reads. Malformed input yields an error, never a
// panic.
func DecodeFrame(payload []byte) (paxos.Message, error) { return decodeMessage(payload) }

// CheckFrame reports whether payload is exactly one well-formed msgpack
// value whose declared lengths fit in it and whose nesting is at most
// MaxDepth; the TCP transport refuses other frames before decoding them.
func CheckFrame(payload []byte) error { return checkMsgpack(payload) }

// MaxDepth is the deepest nesting of arrays and maps a frame may hold.
// Protocol messages nest a few levels; the limit keeps a hostile frame from
// driving the recursive decoder into a stack overflow.
const MaxDepth = 64

// ErrMalformed is wrapped by the error for a frame that is not exactly one
// well-formed msgpack value within the limits.
var ErrMalformed = errors.New("malformed msgpack frame")

// checkMsgpack verifies, in one pass and without allocating per element,
// that b is exactly one msgpack value whose declared lengths fit in b and
// whose nesting is at most MaxDepth. It is run before decoding so that a
// few hostile bytes declaring a huge string or a deep nest cannot make the
// decoder allocate or recurse out of proportion to the frame.
func checkMsgpack(b []byte) error {
	// stack[i] counts the values still expected in the i-th open container.
	var stackBuf [MaxDepth + 1]int
	stack := append(stackBuf[:0], 1)
	off := 0
	need := func(n uint64) error {
		if n > uint64(len(b)-off) {
			return fmt.Errorf("%w: value at offset %d declares %d bytes, %d remain", ErrMalformed, off, n, len(b)-off)
		}
		off += int(n)
		return nil
	}
	be := func(n int) (uint64, error) {
		if n > len(b)-off {
			return 0, fmt.Errorf("%w: truncated length at offset %d", ErrMalformed, off)
		}
		var v uint64
		for i := 0; i < n; i++ {
			v = v<<8 | uint64(b[off+i])
		}
		off += n
		return v, nil
	}
	for len(stack) > 0 {
		if stack[len(stack)-1] == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		stack[len(stack)-1]--
		if off >= len(b) {
			return fmt.Errorf("%w: truncated at offset %d", ErrMalformed, off)
		}
		c := b[off]
		off++
		var items uint64 // values in a container opened here
		container := false
		var err error
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
			// fixint, nil, bool
		case c >= 0x80 && c <= 0x8f:
			items, container = 2*uint64(c&0x0f), true
		case c >= 0x90 && c <= 0x9f:
			items, container = uint64(c&0x0f), true
		case c >= 0xa0 && c <= 0xbf:
			err = need(uint64(c & 0x1f))
		case c == 0xc1:
			return fmt.Errorf("%w: reserved byte 0xc1 at offset %d", ErrMalformed, off-1)
		case c == 0xc4 || c == 0xd9:
			var n uint64
			if n, err = be(1); err == nil {
				err = need(n)
			}
		case c == 0xc5 || c == 0xda:
			var n uint64
			if n, err = be(2); err == nil {
				err = need(n)
			}
		case c == 0xc6 || c == 0xdb:
			var n uint64
			if n, err = be(4); err == nil {
				err = need(n)
			}
		case c == 0xc7 || c == 0xc8 || c == 0xc9: // ext 8/16/32: length, type, data
			var n uint64
			if n, err = be(1 << (c - 0xc7)); err == nil {
				err = need(n + 1)
			}
		case c == 0xca || c == 0xce || c == 0xd2:
			err = need(4)
		case c == 0xcb || c == 0xcf || c == 0xd3:
			err = need(8)
		case c == 0xcc || c == 0xd0:
			err = need(1)
		case c == 0xcd || c == 0xd1:
			err = need(2)
		case c >= 0xd4 && c <= 0xd8: // fixext 1,2,4,8,16 plus the type byte
			err = need(1 + (1 << (c - 0xd4)))
		case c == 0xdc || c == 0xde:
			items, err, container = 0, nil, true
			if items, err = be(2); err == nil && c == 0xde {
				items *= 2
			}
		case c == 0xdd || c == 0xdf:
			items, err, container = 0, nil, true
			if items, err = be(4); err == nil && c == 0xdf {
				items *= 2
			}
		}
		if err != nil {
			return err
		}
		if container && items > 0 {
			if items > uint64(len(b)-off) {
				return fmt.Errorf("%w: container at offset %d declares %d values, %d bytes remain", ErrMalformed, off, items, len(b)-off)
			}
			if len(stack) > MaxDepth {
				return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
			}
			stack = append(stack, int(items))
		}
	}
	if off != len(b) {
		return fmt.Errorf("%w: %d bytes after the value", ErrMalformed, len(b)-off)
	}
	return nil
}
