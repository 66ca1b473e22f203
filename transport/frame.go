package transport

import (
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
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], uint32(len(payload)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// ReadFrame reads one frame of at most max payload bytes, reusing buf when it
// is large enough. It returns io.EOF at a clean end of stream,
// io.ErrUnexpectedEOF for a frame cut short, and an error wrapping
// ErrFrameTooLarge or ErrEmptyFrame for a bad length; it reads nothing past
// the declared length, and never allocates more than max bytes.
func ReadFrame(r io.Reader, buf []byte, max int) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n == 0 {
		return nil, ErrEmptyFrame
	}
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes declared, at most %d accepted", ErrFrameTooLarge, n, max)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// DecodeFrame decodes a frame's payload into a message, as the TCP transport
// does for every frame it reads. Malformed input yields an error, never a
// panic.
func DecodeFrame(payload []byte) (paxos.Message, error) { return decodeMessage(payload) }
