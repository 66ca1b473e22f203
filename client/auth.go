package client

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos/transport"
)

// Client authentication. When a replica's client port requires a token,
// each connection starts with a challenge-response in which both ends prove
// they hold the token without sending it:
//
//	client → replica: hello     {magic, client nonce}
//	replica → client: challenge {replica nonce, replica proof}
//	client → replica: proof     {client proof}
//	replica → client: welcome   {error text, empty when accepted}
//
// A proof is transport.Proof(token, label, client nonce, replica nonce),
// with a different label for each end. The client checks the replica's
// proof, so it does not send requests to a process that lacks the token.
// Without a token (a cluster run insecure, or one that authenticates
// clients by certificate only) requests are sent at once.

const clientMagic = "paxos-client/1"

const (
	clientProofLabel = "paxos-client/1 client"
	serverProofLabel = "paxos-client/1 server"
)

type clientHello struct {
	Magic string `msgpack:"m"`
	Nonce []byte `msgpack:"n"`
}

type clientChallenge struct {
	Nonce []byte `msgpack:"n"`
	Proof []byte `msgpack:"a"`
	Err   string `msgpack:"e,omitempty"`
}

type clientProof struct {
	Proof []byte `msgpack:"a"`
}

type clientWelcome struct {
	Err string `msgpack:"e,omitempty"`
}

// maxHandshake bounds a handshake frame.
const maxHandshake = 4096

// ErrAuth is wrapped by the error of a connection whose authentication
// failed (a wrong or missing token, or a replica that cannot prove it
// holds the token).
var ErrAuth = errors.New("client authentication failed")

func writeMsg(w io.Writer, v any) error {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	return writeFrame(w, b)
}

func readMsg(r io.Reader, v any) error {
	b, err := transport.ReadFrame(r, nil, maxHandshake)
	if err != nil {
		return err
	}
	if err := transport.CheckFrame(b); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, v)
}

// clientHandshake proves token to the replica on nc and checks the
// replica's proof.
func clientHandshake(nc net.Conn, token string) error {
	nC, err := transport.NewNonce()
	if err != nil {
		return err
	}
	if err := writeMsg(nc, &clientHello{Magic: clientMagic, Nonce: nC}); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	var ch clientChallenge
	if err := readMsg(nc, &ch); err != nil {
		return fmt.Errorf("read challenge: %w", err)
	}
	if ch.Err != "" {
		return fmt.Errorf("%w: replica: %s", ErrAuth, ch.Err)
	}
	key := []byte(token)
	if !transport.ProofOK(ch.Proof, key, serverProofLabel, nC, ch.Nonce) {
		return fmt.Errorf("%w: the replica at %s cannot prove it holds the cluster's client token", ErrAuth, nc.RemoteAddr())
	}
	if err := writeMsg(nc, &clientProof{Proof: transport.Proof(key, clientProofLabel, nC, ch.Nonce)}); err != nil {
		return fmt.Errorf("send proof: %w", err)
	}
	var w clientWelcome
	if err := readMsg(nc, &w); err != nil {
		return fmt.Errorf("read welcome: %w", err)
	}
	if w.Err != "" {
		return fmt.Errorf("%w: replica: %s", ErrAuth, w.Err)
	}
	return nil
}

// isHello reports whether frame is a client's authentication hello.
func isHello(frame []byte) bool {
	var h clientHello
	return transport.CheckFrame(frame) == nil && msgpack.Unmarshal(frame, &h) == nil && h.Magic == clientMagic
}

// serverHandshake runs the replica's side on nc, reading from r (nc's
// buffered reader); first is the connection's first frame. It returns a
// reason to refuse the client, or "".
func (s *Server) serverHandshake(nc net.Conn, r io.Reader, first []byte) string {
	var h clientHello
	if transport.CheckFrame(first) != nil || msgpack.Unmarshal(first, &h) != nil || h.Magic != clientMagic {
		return "no authentication handshake"
	}
	if s.cfg.Token == "" {
		_ = writeMsg(nc, &clientChallenge{Err: "this replica does not authenticate clients with a token; connect without one"})
		return "client sent a token handshake to a port without tokens"
	}
	if len(h.Nonce) != transport.NonceBytes {
		_ = writeMsg(nc, &clientChallenge{Err: "handshake without a nonce"})
		return "handshake without a nonce"
	}
	nS, err := transport.NewNonce()
	if err != nil {
		return err.Error()
	}
	key := []byte(s.cfg.Token)
	if err := writeMsg(nc, &clientChallenge{Nonce: nS, Proof: transport.Proof(key, serverProofLabel, h.Nonce, nS)}); err != nil {
		return "write challenge: " + err.Error()
	}
	var p clientProof
	if err := readMsg(r, &p); err != nil {
		return "read proof: " + err.Error()
	}
	if !transport.ProofOK(p.Proof, key, clientProofLabel, h.Nonce, nS) {
		_ = writeMsg(nc, &clientWelcome{Err: "wrong client token"})
		return "wrong client token"
	}
	if err := writeMsg(nc, &clientWelcome{}); err != nil {
		return "write welcome: " + err.Error()
	}
	return ""
}

// answerUnauthenticated answers the requests of a client that sent no
// handshake (most likely one without a token), starting with first, with
// an error it can show: a few of them, within the handshake deadline.
func (s *Server) answerUnauthenticated(nc net.Conn, r io.Reader, first []byte) {
	frame := first
	for i := 0; i < 16; i++ {
		var req Request
		if transport.CheckFrame(frame) != nil || msgpack.Unmarshal(frame, &req) != nil || req.Seq == 0 {
			return
		}
		if writeMsg(nc, &Reply{Client: req.Client, Seq: req.Seq, Replica: int32(s.cfg.Replica), Err: noTokenErr}) != nil {
			return
		}
		var err error
		if frame, err = transport.ReadFrame(r, nil, maxHandshake); err != nil {
			return
		}
	}
}

const noTokenErr = "authentication required: this cluster's client port needs the client token (paxos put/get --token-file, client.Options.Token)"
