package client

import (
	"errors"
	"io"

	"github.com/paxos-lab/paxos"
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
	// Missing: a Get found no value under its key.
	Missing bool `msgpack:"m,omitempty"`
}

// MaxFrame is the largest client-protocol frame (4 MiB).
const MaxFrame = 4 << 20

// The client protocol uses the same length-prefixed framing as the peer
// transport (transport.WriteFrame and transport.ReadFrame), with its own
// size limit.

func writeFrame(w io.Writer, payload []byte) error { return transport.WriteFrame(w, payload) }

func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	return transport.ReadFrame(r, buf, MaxFrame)
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
