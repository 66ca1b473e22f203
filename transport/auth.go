package transport

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/paxos-lab/paxos"
)

// Authentication. A cluster authenticates its connections with a shared
// secret, with mutual TLS, or with both:
//
//   - Secret: every replica holds the cluster secret. Replica i's key is
//     HMAC-SHA256(secret, "paxos replica key" || i), and on every peer
//     connection both ends prove, over fresh random nonces from both sides,
//     that they hold the key of the id they claim (the dialer its own, the
//     acceptor the one the dialer addressed). A process without the secret
//     cannot complete a handshake; the proofs bind the cluster name, both
//     ids and both nonces, so a recorded handshake cannot be replayed.
//     Clients hold a client token, HMAC-SHA256(secret, "paxos client
//     token"), and prove it the same way on the client port; the token
//     does not yield any replica key.
//   - Mutual TLS: every certificate is signed by the cluster's CA, and a
//     replica's certificate names its id (URI SAN paxos://replica/<id>, or
//     common name replica-<id>); both ends check that the other's
//     certificate names the id it claims, so replica 1's certificate
//     cannot be used as replica 3.

// SecretBytes is the length of a generated cluster secret.
const SecretBytes = 32

// NewSecret returns a random cluster secret from crypto/rand.
func NewSecret() ([]byte, error) {
	b := make([]byte, SecretBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("transport: draw a cluster secret: %w", err)
	}
	return b, nil
}

// WriteSecret writes secret to path as hex, readable by its owner only.
func WriteSecret(path string, secret []byte) error {
	if err := os.WriteFile(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return fmt.Errorf("transport: write cluster secret %s: %w", path, err)
	}
	return nil
}

// LoadSecret reads a cluster secret written by WriteSecret (hex, at least
// 16 bytes).
func LoadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("transport: read cluster secret: %w", err)
	}
	s, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(s) < 16 {
		return nil, fmt.Errorf("transport: cluster secret %s must hold at least 16 bytes as hex (paxos cluster writes one); %w", path, paxos.ErrConfig)
	}
	return s, nil
}

// ReplicaKey returns the key with which replica id proves its identity,
// derived from the cluster secret.
func ReplicaKey(secret []byte, id paxos.NodeID) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("paxos replica key\x00"))
	m.Write([]byte(strconv.Itoa(int(id))))
	return m.Sum(nil)
}

// ClientToken returns the token clients prove on the client port, derived
// from the cluster secret (hex).
func ClientToken(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("paxos client token"))
	return hex.EncodeToString(m.Sum(nil))
}

// LoadToken reads a client token file (one line).
func LoadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read client token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("client token file %s is empty", path)
	}
	return t, nil
}

// NonceBytes is the length of a handshake nonce.
const NonceBytes = 16

// NewNonce returns a fresh random nonce from crypto/rand.
func NewNonce() ([]byte, error) {
	b := make([]byte, NonceBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("transport: draw a nonce: %w", err)
	}
	return b, nil
}

// Proof returns HMAC-SHA256(key, label || each part, length-prefixed): what
// one end of a handshake sends to show it holds key.
func Proof(key []byte, label string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	var l [4]byte
	for _, p := range append([][]byte{[]byte(label)}, parts...) {
		binary.BigEndian.PutUint32(l[:], uint32(len(p)))
		m.Write(l[:])
		m.Write(p)
	}
	return m.Sum(nil)
}

// ProofOK reports, in constant time, whether got is the proof of key over
// label and parts.
func ProofOK(got, key []byte, label string, parts ...[]byte) bool {
	return hmac.Equal(got, Proof(key, label, parts...))
}

// ReplicaURI is the URI SAN that names replica id in its certificate.
func ReplicaURI(id paxos.NodeID) string { return "paxos://replica/" + strconv.Itoa(int(id)) }

// ReplicaCommonName is the common name of replica id's certificate.
func ReplicaCommonName(id paxos.NodeID) string { return "replica-" + strconv.Itoa(int(id)) }

// ErrCertID is wrapped by the error for a certificate that does not name
// the replica id claimed with it.
var ErrCertID = errors.New("certificate does not name the claimed replica")

// CertNamesReplica checks that cert names replica id and no other replica:
// by its URI SANs paxos://replica/<id> when it has any, else by its common
// name replica-<id>.
func CertNamesReplica(cert *x509.Certificate, id paxos.NodeID) error {
	var named []string
	for _, u := range cert.URIs {
		if u.Scheme == "paxos" && u.Host == "replica" {
			named = append(named, strings.TrimPrefix(u.Path, "/"))
		}
	}
	if len(named) == 0 && strings.HasPrefix(cert.Subject.CommonName, "replica-") {
		named = append(named, strings.TrimPrefix(cert.Subject.CommonName, "replica-"))
	}
	want := strconv.Itoa(int(id))
	if len(named) != 1 || named[0] != want {
		return fmt.Errorf("%w: claimed replica %d, certificate %q names %v", ErrCertID, id, cert.Subject.CommonName, named)
	}
	return nil
}

// peerCertNames checks the verified leaf certificate of a TLS connection
// against replica id.
func peerCertNames(cs tls.ConnectionState, id paxos.NodeID) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: no certificate", ErrCertID)
	}
	return CertNamesReplica(cs.PeerCertificates[0], id)
}
