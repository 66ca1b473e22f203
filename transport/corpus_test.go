package transport_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/transport"
)

// TestWriteFuzzCorpus regenerates the committed seed corpus of FuzzReadFrame
// under testdata/fuzz when PAXOS_WRITE_CORPUS=1; otherwise it checks that
// the corpus is present.
func TestWriteFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReadFrame")
	if os.Getenv("PAXOS_WRITE_CORPUS") != "1" {
		m, err := filepath.Glob(filepath.Join(dir, "*"))
		require.NoError(t, err)
		require.NotEmpty(t, m, "seed corpus missing; run with PAXOS_WRITE_CORPUS=1")
		return
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	frame := func(ps ...[]byte) []byte {
		var b bytes.Buffer
		for _, p := range ps {
			require.NoError(t, transport.WriteFrame(&b, p))
		}
		return b.Bytes()
	}
	msg := func(m paxos.Message) []byte {
		b, err := paxos.EncodeMessage(m)
		require.NoError(t, err)
		return b
	}
	good := msg(paxos.Message{From: 1, To: 0, Body: ping{N: 42, Text: "hello"}})
	seeds := map[string][]byte{
		"valid-one":        frame(good),
		"valid-two":        frame(good, msg(paxos.Message{From: 2, To: 0, Body: ping{N: -1}})),
		"truncated":        frame(good)[:len(good)-3],
		"empty-frame":      {0, 0, 0, 0},
		"huge-length":      {0x7f, 0xff, 0xff, 0xff, 0x93},
		"unknown-type":     frame([]byte{0x94, 0x01, 0x00, 0xa3, 'x', 'y', 'z', 0xc0}),
		"wrong-shape":      frame([]byte{0x81, 0xa1, 'a', 0x01}),
		"nested-array":     frame([]byte{0x94, 0x01, 0x00, 0xb3, 't', 'r', 'a', 'n', 's', 'p', 'o', 'r', 't', '_', 't', 'e', 's', 't', '.', 'p', 'i', 'n', 'g', 0xdd, 0xff, 0xff, 0xff, 0xff}),
		"http-request":     []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"bad-body-element": frame(append(good[:len(good)-2:len(good)-2], 0xc1, 0xc1)),
	}
	for name, data := range seeds {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
}
