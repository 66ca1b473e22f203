package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/paxos-lab/paxos"
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
	Key    string   `msgpack:"k"`
	Value  string   `msgpack:"v"`
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
}

// MaxFrame is the largest client-protocol frame (4 MiB).
const MaxFrame = 4 << 20

var errFrameSize = errors.New("client protocol frame too large or empty")

func writeFrame(w io.Writer, payload []byte) error {
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], uint32(len(payload)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n == 0 || n > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes", errFrameSize, n)
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

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
