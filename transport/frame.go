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
// decoder allocate or recurse out of proportion to the frame. It runs on
// every frame a replica reads, so the common codes (positive and negative
// fixints, fixmap, fixarray, fixstr, uint 64) are tested first and the
// others read from a table (codeShape) instead of a chain of comparisons
// (the same answers and errors: TestCheckMsgpackMatchesCases).
func checkMsgpack(b []byte) error {
	// stack[i] counts the values still expected in the i-th open container.
	var stackBuf [MaxDepth + 1]int
	stack := append(stackBuf[:0], 1)
	off, end := 0, len(b)
	for len(stack) > 0 {
		top := len(stack) - 1
		if stack[top] == 0 {
			stack = stack[:top]
			continue
		}
		stack[top]--
		if off >= end {
			return fmt.Errorf("%w: truncated at offset %d", ErrMalformed, off)
		}
		c := b[off]
		off++
		var items uint64 // values in a container opened here
		switch {
		case c <= 0x7f || c >= 0xe0: // fixint
			continue
		case c <= 0x8f: // fixmap
			items = 2 * uint64(c&0x0f)
		case c <= 0x9f: // fixarray
			items = uint64(c & 0x0f)
		case c <= 0xbf: // fixstr
			n := int(c & 0x1f)
			if n > end-off {
				return fmt.Errorf("%w: value at offset %d declares %d bytes, %d remain", ErrMalformed, off, n, end-off)
			}
			off += n
			continue
		case c == 0xcf: // uint 64, how the encoder writes every integer field
			if 8 > end-off {
				return fmt.Errorf("%w: value at offset %d declares %d bytes, %d remain", ErrMalformed, off, 8, end-off)
			}
			off += 8
			continue
		default: // 0xc0-0xdf
			sh := codeShape[c-0xc0]
			if sh.bad {
				return fmt.Errorf("%w: reserved byte 0xc1 at offset %d", ErrMalformed, off-1)
			}
			var n uint64 // the length read after the code, if any
			if k := int(sh.lenBytes); k > 0 {
				if k > end-off {
					return fmt.Errorf("%w: truncated length at offset %d", ErrMalformed, off)
				}
				for _, x := range b[off : off+k] {
					n = n<<8 | uint64(x)
				}
				off += k
			}
			switch sh.kind {
			case shapeArray:
				items = n
			case shapeMap:
				items = 2 * n
			default: // sized: skip the fixed bytes, or the declared ones
				n += uint64(sh.skip)
				if n > uint64(end-off) {
					return fmt.Errorf("%w: value at offset %d declares %d bytes, %d remain", ErrMalformed, off, n, end-off)
				}
				off += int(n)
				continue
			}
		}
		if items > 0 {
			if items > uint64(end-off) {
				return fmt.Errorf("%w: container at offset %d declares %d values, %d bytes remain", ErrMalformed, off, items, end-off)
			}
			if len(stack) > MaxDepth {
				return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
			}
			stack = append(stack, int(items))
		}
	}
	if off != end {
		return fmt.Errorf("%w: %d bytes after the value", ErrMalformed, end-off)
	}
	return nil
}

// The kinds of codeShape: a value of known size (skip bytes after the
// code, plus the declared length when lenBytes > 0), an array or a map of
// the declared length.
const (
	shapeSized = iota
	shapeArray
	shapeMap
)

// codeShape describes the msgpack codes 0xc0-0xdf: how many big-endian
// length bytes follow the code (lenBytes), how many more bytes the value
// takes after them (skip, added to the declared length), what it is, and
// whether the code is the reserved 0xc1.
var codeShape = func() (t [32]struct {
	lenBytes, skip, kind uint8
	bad                  bool
}) {
	set := func(c byte, lenBytes, skip, kind uint8) {
		t[c-0xc0].lenBytes, t[c-0xc0].skip, t[c-0xc0].kind = lenBytes, skip, kind
	}
	t[0xc1-0xc0].bad = true
	// 0xc0 nil, 0xc2 false, 0xc3 true: nothing follows (the zero entry).
	set(0xc4, 1, 0, shapeSized)    // bin 8
	set(0xc5, 2, 0, shapeSized)    // bin 16
	set(0xc6, 4, 0, shapeSized)    // bin 32
	set(0xc7, 1, 1, shapeSized)    // ext 8: length, type, data
	set(0xc8, 2, 1, shapeSized)    // ext 16
	set(0xc9, 4, 1, shapeSized)    // ext 32
	set(0xca, 0, 4, shapeSized)    // float 32
	set(0xcb, 0, 8, shapeSized)    // float 64
	set(0xcc, 0, 1, shapeSized)    // uint 8
	set(0xcd, 0, 2, shapeSized)    // uint 16
	set(0xce, 0, 4, shapeSized)    // uint 32
	set(0xcf, 0, 8, shapeSized)    // uint 64
	set(0xd0, 0, 1, shapeSized)    // int 8
	set(0xd1, 0, 2, shapeSized)    // int 16
	set(0xd2, 0, 4, shapeSized)    // int 32
	set(0xd3, 0, 8, shapeSized)    // int 64
	for i := byte(0); i < 5; i++ { // fixext 1, 2, 4, 8, 16 plus the type byte
		set(0xd4+i, 0, 1+1<<i, shapeSized)
	}
	set(0xd9, 1, 0, shapeSized) // str 8
	set(0xda, 2, 0, shapeSized) // str 16
	set(0xdb, 4, 0, shapeSized) // str 32
	set(0xdc, 2, 0, shapeArray) // array 16
	set(0xdd, 4, 0, shapeArray) // array 32
	set(0xde, 2, 0, shapeMap)   // map 16
	set(0xdf, 4, 0, shapeMap)   // map 32
	return t
}()
