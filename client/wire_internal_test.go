package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
)

// encodeReply is a reply's bytes as a replica writes them.
func encodeReply(t *testing.T, r Reply) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.EncodeMsgpack(msgpack.NewEncoder(&b)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestParseReplyMatchesDecoder: parseReply reads every field a replica
// writes as Reply.DecodeMsgpack does, and gives up (for the decoder to
// take over) on what it does not know, never decoding it differently.
func TestParseReplyMatchesDecoder(t *testing.T) {
	long := strings.Repeat("x", 300) // longer than parseReply reads
	replies := []Reply{
		{Client: 1, Seq: 2},
		{Client: ^uint64(0), Seq: 1 << 40, Output: "value", Replica: 4},
		{Client: 7, Seq: 9, Err: "not the leader", Replica: -1},
		{Client: 7, Seq: 9, Output: strings.Repeat("o", 255), Duplicate: true, LocalRead: true, Missing: true, CmdErr: "held", Replica: 2},
		{Client: 3, Seq: 4, Output: strings.Repeat("o", 31), Err: "e", Duplicate: true},
		{Client: 3, Seq: 4, Output: long},
		{Client: 3, Seq: 4, CmdErr: long},
	}
	for _, want := range replies {
		frame := encodeReply(t, want)
		var dec Reply
		if err := paxos.DecodeInto(frame, &dec); err != nil {
			t.Fatal(err)
		}
		if dec != want {
			t.Fatalf("the decoder gives %+v for %+v", dec, want)
		}
		var got Reply
		if parseReply(frame, &got) {
			if got != want {
				t.Errorf("parseReply gives %+v, want %+v", got, want)
			}
		} else if len(want.Output) < 256 && len(want.CmdErr) < 256 {
			t.Errorf("parseReply refused %+v, which a replica writes", want)
		}
		// Every prefix is refused (the decoder reports it malformed).
		for n := 0; n < len(frame); n++ {
			var r Reply
			if parseReply(frame[:n], &r) {
				t.Fatalf("parseReply accepted %d of %d bytes of %+v", n, len(frame), want)
			}
		}
	}
	// Shapes the encoder does not write are left to the decoder.
	other := [][]byte{
		{0x82, 0xa1, 'c', 0x01, 0xa1, 's', 0x02},              // compact integers
		{0x81, 0xa2, 'c', 'c', 0xc0},                          // an unknown key
		{0x81, 0xa1, 'o', 0xc0},                               // nil for a string
		{0x91, 0x01},                                          // not a map
		{0x81, 0xa1, 'r', 0xd0, 0x01},                         // int8 replica
		{0x82, 0xa1, 'c', 0xcf, 0, 0, 0, 0, 0, 0, 0, 1, 0xc0}, // trailing bytes
	}
	for _, frame := range other {
		var r Reply
		if parseReply(frame, &r) {
			t.Errorf("parseReply accepted % x", frame)
		}
	}
}

// TestQueueWritesTheEncoderBytes: a queued request is a frame whose
// payload is the bytes Request.EncodeMsgpack writes, so replicas old and
// new read it as before; a request larger than a frame is refused and
// leaves the output as it was.
func TestQueueWritesTheEncoderBytes(t *testing.T) {
	cn := &conn{}
	reqs := []Request{
		{Client: 1, Seq: 2, Op: paxos.OpPut, Key: "k", Value: "v"},
		{Client: 1 << 62, Seq: 1 << 33, Op: paxos.OpGet, Key: strings.Repeat("k", 40)},
		{Client: 5, Seq: 6, Op: paxos.OpApp, Payload: []byte{1, 2, 3}, Keys: []string{"a", "b"}, ReadOnly: true},
	}
	var want bytes.Buffer
	for _, r := range reqs {
		var p bytes.Buffer
		if err := r.EncodeMsgpack(msgpack.NewEncoder(&p)); err != nil {
			t.Fatal(err)
		}
		want.Write(binary.BigEndian.AppendUint32(nil, uint32(p.Len())))
		want.Write(p.Bytes())
		if _, err := cn.queue(&r); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(cn.out, want.Bytes()) {
		t.Fatalf("queued % x\nwant   % x", cn.out, want.Bytes())
	}
	huge := Request{Client: 1, Seq: 3, Op: paxos.OpPut, Key: "k", Value: strings.Repeat("v", MaxFrame)}
	if _, err := cn.queue(&huge); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("a request larger than a frame: %v", err)
	}
	if !bytes.Equal(cn.out, want.Bytes()) {
		t.Fatal("a refused request changed the output")
	}
}

// TestReadLoopSplitAndLargeFrames: replies that arrive a byte at a time,
// several in one read, or larger than the read buffer all reach their
// calls.
func TestReadLoopSplitAndLargeFrames(t *testing.T) {
	client, server := net.Pipe()
	cn := newConn(client, asyncSweep)
	defer cn.close(ErrClosed)
	outputs := []string{"a", strings.Repeat("b", 3*readBuf), "c", strings.Repeat("d", 300)}
	got := make(chan Reply, len(outputs))
	for i := range outputs {
		req := Request{Client: 9, Seq: uint64(i + 1), Op: paxos.OpGet, Key: "k"}
		err := cn.callAsync(time.Now().Add(time.Minute), &req, &asyncEntry{call: asyncFunc(func(r Reply, err error) {
			if err != nil {
				t.Error(err)
			}
			got <- r
		})})
		if err != nil {
			t.Fatal(err)
		}
	}
	go func() { // drain the requests
		buf := make([]byte, 4096)
		for {
			if _, err := server.Read(buf); err != nil {
				return
			}
		}
	}()
	var stream []byte
	for i, o := range outputs {
		p := encodeReply(t, Reply{Client: 9, Seq: uint64(i + 1), Output: o})
		stream = binary.BigEndian.AppendUint32(stream, uint32(len(p)))
		stream = append(stream, p...)
	}
	// The first two replies byte by byte, the rest at once.
	split := 8 + len(encodeReply(t, Reply{Client: 9, Seq: 1, Output: outputs[0]})) + len(encodeReply(t, Reply{Client: 9, Seq: 2, Output: outputs[1]}))
	for i := 0; i < split; i += 1 + i/64 {
		if _, err := server.Write(stream[i:min(split, i+1+i/64)]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := server.Write(stream[split:]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range outputs {
		select {
		case r := <-got:
			if r.Output != outputs[r.Seq-1] {
				t.Errorf("reply %d: output of %d bytes, want %d", r.Seq, len(r.Output), len(outputs[r.Seq-1]))
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d replies arrived", i, len(outputs))
		}
	}
	// The buffer the large reply grew is given back once it is handled.
	for cn.readCap.Load() > readBuf {
		select {
		case <-ctx.Done():
			t.Fatalf("the read buffer kept %d bytes after the large reply", cn.readCap.Load())
		case <-time.After(time.Millisecond):
		}
	}
}
